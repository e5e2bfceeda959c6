"""Lake administration: maintenance (optimize, checkpoint, vacuum) and its weekly DAG,
migration of the pre-Delta Parquet lake, reads by other engines, and the registry-derived
Asset URIs and the lake table of docs/lake.md."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from src_clean import cli, tables
from src_clean.data_pipelines.bronze.market import ingest_market
from src_clean.errors import UserError
from src_clean.feature_set import FeatureSet
from src_clean.lake import Lake
from src_clean.lake_maintenance import maintain_table, present_tables
from src_clean.lake_migrate import migrate_lake
from src_clean.orchestration.stages import STAGES
from src_clean.run_full_pipeline import PipelineConfig, run_pipeline

REPO = Path(__file__).resolve().parents[2]
SPEC = tables.TableSpec("t/x", "t", ("id",), ("t", "id"), "upsert", "")
EIGHT_DAYS_AGO = time.time() - 8 * 86_400


def frame(ids: list[int], day: str) -> pd.DataFrame:
    stamps = pd.date_range(f"{day} 10:00", periods=len(ids), freq="min", tz="UTC")
    return pd.DataFrame({"id": ids, "t": stamps.as_unit("ns"), "v": [float(i) for i in ids]})


# -- maintenance --------------------------------------------------------------------------


def test_maintenance_compacts_checkpoints_and_vacuums_only_unreferenced_old_files(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path)
    for i in range(4):  # four commits: four small files in the one partition
        lake.upsert(SPEC, frame([i], "2024-01-02"))
    side_file = lake.local_path("t/x/_features.json")
    side_file.write_text("{}")
    partition = lake.local_path("t/x/date=2024-01-02")
    killed = partition / "part-00000-killed-writer.parquet"  # what a killed write leaves
    killed.write_bytes(next(partition.glob("*.parquet")).read_bytes())
    os.utime(killed, (EIGHT_DAYS_AGO, EIGHT_DAYS_AGO))
    before, version = lake.read(SPEC), lake.version(SPEC)
    assert len(before) == 4  # readers never see the unreferenced file

    report = maintain_table(lake, SPEC)
    assert (report.files_compacted, report.files_written) == (4, 1)
    assert report.files_vacuumed == 1 and not killed.exists()
    assert report.version > version  # optimize, then vacuum start and end
    pd.testing.assert_frame_equal(lake.read(SPEC), before)
    pd.testing.assert_frame_equal(lake.read(SPEC, version=version), before)  # 7 days kept
    assert list(lake.local_path("t/x/_delta_log").glob("*.checkpoint.parquet"))
    assert side_file.read_text() == "{}"

    forced = maintain_table(lake, SPEC, retention_hours=0, force=True)
    assert forced.files_vacuumed == 4  # the compacted small files
    assert len(list(partition.glob("*.parquet"))) == 1
    pd.testing.assert_frame_equal(lake.read(SPEC), before)
    assert side_file.read_text() == "{}"


def test_a_short_retention_needs_force(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.upsert(SPEC, frame([1], "2024-01-02"))
    with pytest.raises(UserError, match="shorter than the table's"):
        maintain_table(lake, SPEC, retention_hours=1)


def test_lake_maintain_cli_covers_every_table_and_gold_variants(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = Lake(tmp_path)
    gold = frame([1, 2], "2024-01-02").rename(columns={"t": "time"}).assign(instrument="X")
    variant = FeatureSet.from_name("market_only-w60-h30").training_table
    signals = FeatureSet(window_minutes=30).signals_table  # another news window's signals (#21)
    lake.replace_range(tables.GOLD_TRAINING, gold)
    lake.replace_range(variant, gold)
    lake.replace_range(signals, gold.drop(columns="instrument"))
    assert present_tables(lake) == [tables.GOLD_TRAINING, variant, signals]
    assert cli.main(["lake-maintain", "--lake", str(tmp_path), "--dry-run"]) == 0
    assert cli.main(["lake-maintain", "--lake", str(tmp_path), "--gold-variants"]) == 0
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "{" in line]
    assert [r["table"] for r in reports] == [tables.GOLD_TRAINING, variant, signals] + [
        variant,
        signals,
    ]


# -- migration ----------------------------------------------------------------------------


def write_legacy(root: Path, table: str, day: str, df: pd.DataFrame) -> None:
    """A partition as the pre-Delta lake wrote it: ``date=D/part-0.parquet``, plain pyarrow."""
    folder = root / table / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), folder / "part-0.parquet")


def legacy_candles(day: str, n: int) -> pd.DataFrame:
    times = pd.date_range(f"{day} 14:30", periods=n, freq="min", tz="UTC").as_unit("ns")
    prices = [4700.0 + i / 4 for i in range(n)]
    return pd.DataFrame(
        {
            "time": times,
            "instrument": "SPX500_USD",
            "granularity": "M1",
            "open": prices,
            "high": prices,
            "low": prices,
            "close": prices,
            "volume": pd.array(range(n), dtype="Int64"),
            "source_file": "old.ndjson",
        }
    )


def test_migration_converts_a_legacy_parquet_lake_in_place_idempotently(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    candles = [legacy_candles("2024-01-02", 5), legacy_candles("2024-01-03", 3)]
    for day, part in zip(("2024-01-02", "2024-01-03"), candles, strict=True):
        write_legacy(root, tables.BRONZE_CANDLES, day, part)
    quarantine = pd.DataFrame(
        {
            "source_file": ["bad.ndjson", "bad.ndjson"],
            "line_number": [3, 9],
            "reason": ["invalid_json", "not_a_candle"],
            "raw": ["{oops", "x" * 70_000],
            "quarantined_at": pd.Timestamp("2024-06-01", tz="UTC").as_unit("ns"),
        }
    )
    write_legacy(root, tables.quarantine(tables.BRONZE_CANDLES), "2024-06-01", quarantine)
    gold = legacy_candles("2024-01-02", 4)[["time", "instrument", "close"]]
    write_legacy(root, tables.GOLD_TRAINING, "2024-01-02", gold)
    (root / tables.GOLD_TRAINING / "_features.json").write_text("{}")
    stray = root / tables.BRONZE_CANDLES / "date=2024-01-03" / ".tmp-0123.parquet"
    stray.write_bytes(b"half a file")  # a killed legacy write
    (root / tables.BRONZE_CANDLES / "date=2024-01-04").mkdir()  # and an empty partition

    results = {r.table: r for r in migrate_lake(Lake(root))}
    assert results[tables.BRONZE_CANDLES].status == "converted"
    assert results[tables.BRONZE_CANDLES].stray_files_removed == 1 and not stray.exists()
    assert results[tables.quarantine(tables.BRONZE_CANDLES)].rebuilt
    assert results[tables.BRONZE_NEWS].status == "absent"

    lake = Lake(root)
    pd.testing.assert_frame_equal(
        lake.read(tables.BRONZE_CANDLES), pd.concat(candles, ignore_index=True)
    )
    pd.testing.assert_frame_equal(lake.read(tables.GOLD_TRAINING), gold)
    stored = lake.read(tables.quarantine(tables.BRONZE_CANDLES))
    assert list(stored.columns) == list(tables.QUARANTINE_SPEC.column_names)
    assert stored["record_number"].tolist() == [3, 9]
    assert stored["raw_bytes"].tolist() == [5, 70_000]
    assert len(stored["raw"].iloc[1]) == 64 * 1024
    assert (root / tables.GOLD_TRAINING / "_features.json").read_text() == "{}"

    versions = {t: lake.version(t) for t in results if lake.exists(t)}
    again = migrate_lake(lake)
    assert {r.status for r in again if r.table in versions} == {"already_delta"}
    assert {t: lake.version(t) for t in versions} == versions

    # the migrated table takes new writes under the enforced schema
    raw = tmp_path / "raw" / "day.ndjson"
    raw.parent.mkdir()
    candle = {"time": "2024-01-04T14:30:00Z", "open": 1.0, "high": 2.0, "low": 0.5}
    raw.write_text(json.dumps({**candle, "close": 1.5, "volume": 3}) + "\n")
    assert ingest_market(raw, lake).written == 1
    assert lake.partitions(tables.BRONZE_CANDLES)[-1] == dt.date(2024, 1, 4)


def test_migration_adds_record_index_to_a_delta_quarantine_table(tmp_path: Path) -> None:
    """A quarantine table from before ``record_index`` is refused with the fix, then
    upgraded in place by lake-migrate (every stored row kept, index 0)."""
    from deltalake import write_deltalake

    lake = Lake(tmp_path / "lake")
    table = tables.quarantine(tables.BRONZE_CANDLES)
    old = pd.DataFrame(
        {
            "source_file": ["a.ndjson", "b.ndjson"],
            "record_number": [3, 1],
            "reason": ["invalid_json", "not_a_candle"],
            "raw": ["{oops", "5"],
            "raw_bytes": [5, 1],
            "raw_sha256": ["h1", "h2"],
            "quarantined_at": pd.Timestamp("2024-06-01", tz="UTC").as_unit("us"),
        }
    )
    old["date"] = dt.date(2024, 6, 1)
    write_deltalake(lake.table_uri(table), old, partition_by=["date"])
    raw = tmp_path / "raw" / "bad.ndjson"
    raw.parent.mkdir()
    raw.write_text("{bad\n")
    with pytest.raises(UserError, match="lake-migrate"):
        ingest_market(raw, lake)

    results = {r.table: r.status for r in migrate_lake(lake)}
    assert results[table] == "upgraded"
    stored = lake.read(table).sort_values("source_file", ignore_index=True)
    assert list(stored.columns) == list(tables.QUARANTINE_SPEC.column_names)
    assert stored["record_index"].tolist() == [0, 0]
    expected = old.drop(columns="date").astype({"quarantined_at": "datetime64[ns, UTC]"})
    pd.testing.assert_frame_equal(stored.drop(columns="record_index"), expected, check_dtype=False)
    assert {r.table: r.status for r in migrate_lake(lake)}[table] == "already_delta"
    assert ingest_market(raw, lake).quarantined == 1
    assert len(lake.read(table)) == 3


def test_lake_migrate_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_legacy(tmp_path, tables.BRONZE_CANDLES, "2024-01-02", legacy_candles("2024-01-02", 2))
    assert cli.main(["lake-migrate", "--lake", str(tmp_path)]) == 0
    assert f"{tables.BRONZE_CANDLES}: converted (1 files" in capsys.readouterr().out
    assert len(Lake(tmp_path).read(tables.BRONZE_CANDLES)) == 2


# -- other engines ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pipeline_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    root = tmp_path_factory.mktemp("pipeline")
    config = PipelineConfig(
        lake=root, demo=True, demo_days=3, sentiment_model="lexicon", until="gold"
    )
    run_pipeline(config)
    return Lake(root)


def project_rows(lake: Lake, table: str, version: int | None = None) -> pd.DataFrame:
    return lake.read(table, version=version).reset_index(drop=True)


def engine_rows(frame: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Another engine's rows in the project's column order, sort order and dtypes."""
    frame = frame[list(reference.columns)].sort_values(["time", "instrument"], ignore_index=True)
    return frame.astype(reference.dtypes.to_dict())


def test_polars_reads_gold_training_like_the_project(pipeline_lake: Lake) -> None:
    reference = project_rows(pipeline_lake, tables.GOLD_TRAINING)
    assert len(reference) > 1000 and reference.filter(like="news_").notna().any().any()
    theirs = pl.read_delta(pipeline_lake.table_uri(tables.GOLD_TRAINING)).to_pandas()
    pd.testing.assert_frame_equal(engine_rows(theirs, reference), reference)


def test_polars_time_travels_to_the_version_the_project_read(
    pipeline_lake: Lake, tmp_path: Path
) -> None:
    """After a later write, both engines read the earlier version's very rows."""
    import shutil

    table = tables.GOLD_TRAINING
    shutil.copytree(pipeline_lake.local_path(table), tmp_path / table)
    lake = Lake(tmp_path)
    version = lake.version(table)
    earlier = project_rows(lake, table, version)
    first_day = lake.partitions(table)[0]
    changed = lake.read(table, first_day, first_day).iloc[:10]
    lake.replace_range(table, changed, first_day, first_day)  # a new version drops rows
    assert len(project_rows(lake, table)) == len(earlier) - (
        len(lake.read(table, first_day, first_day, version=version)) - 10
    )
    theirs = pl.read_delta(lake.table_uri(table), version=version).to_pandas()
    pd.testing.assert_frame_equal(engine_rows(theirs, earlier), earlier)
    pd.testing.assert_frame_equal(project_rows(lake, table, version), earlier)


def test_duckdb_queries_the_current_snapshot(pipeline_lake: Lake) -> None:
    """DuckDB reads the data files of the current version (the log's file list)."""
    reference = project_rows(pipeline_lake, tables.GOLD_TRAINING)
    files = pipeline_lake.delta_table(tables.GOLD_TRAINING).file_uris()
    theirs = duckdb.execute("select * from read_parquet(?, hive_partitioning = true)", [files]).df()
    assert set(theirs["date"].astype(str)) == {str(d) for d in reference["time"].dt.date}
    pd.testing.assert_frame_equal(engine_rows(theirs, reference), reference)


# -- one registry -------------------------------------------------------------------------


def test_stage_outputs_are_spec_tables_with_registry_asset_uris() -> None:
    for stage in STAGES.values():
        for output in stage.outputs:
            assert tables.asset_uri(output) == f"sp500://lake/{output}"
            if output != tables.TRAINING_SUMMARY:
                assert tables.spec(output).name == output


def test_docs_lake_table_is_the_registry() -> None:
    page = (REPO / "docs" / "lake.md").read_text()
    assert tables.markdown_table() in page


@pytest.mark.parametrize("before", ["availability", "gdelt_tone"])
def test_migration_upgrades_bronze_news_written_before_later_columns(
    tmp_path: Path, before: str
) -> None:
    """Bronze news from before point-in-time availability (no ``available_at``,
    ``available_from``, ``gdelt_tone``) or before GDELT's tone: refused with the fix, then
    upgraded in place; stored rows keep every value, the new columns are derived or empty,
    and the next ingest stores tones."""
    from deltalake import write_deltalake

    from src_clean.data_pipelines.bronze.news import ingest_news

    lake = Lake(tmp_path / "lake")
    published = pd.to_datetime(["2024-01-02 14:00", "2024-01-02 15:00"], utc=True).as_unit("us")
    old = pd.DataFrame(
        {
            "article_id": ["a", "b"],
            "published_at": published,
            "headline": ["Stocks rise", "Stocks fall"],
            "body": ["", ""],
            "source": ["wire", "wire"],
            "url": ["https://x.example/a", "https://x.example/b"],
            "language": ["en", "en"],
            "ingested_at": pd.Timestamp("2024-06-01", tz="UTC").as_unit("us"),
            "source_file": "old.jsonl",
        }
    )
    if before == "gdelt_tone":
        old.insert(2, "available_at", published + pd.Timedelta(minutes=5))
        old.insert(3, "available_from", "collected_at")
    old["date"] = dt.date(2024, 1, 2)
    write_deltalake(lake.table_uri(tables.BRONZE_NEWS), old, partition_by=["date"])
    raw = tmp_path / "raw" / "gkg_2024-01-02.jsonl"
    raw.parent.mkdir()
    row = {"url": "https://y.example/c", "title": "Fed holds", "published_at": "2024-01-02T16:00Z"}
    raw.write_text(json.dumps(row | {"gdelt_tone": -2.5}) + "\n")
    with pytest.raises(UserError, match="lake-migrate"):
        ingest_news(raw, lake)

    assert {r.table: r.status for r in migrate_lake(lake)}[tables.BRONZE_NEWS] == "upgraded"
    stored = lake.read(tables.BRONZE_NEWS).set_index("article_id").sort_index()
    assert sorted(stored.reset_index().columns) == sorted(tables.NEWS_SPEC.column_names)
    assert stored["headline"].tolist() == ["Stocks rise", "Stocks fall"]
    assert stored["gdelt_tone"].isna().all()
    expected = old["available_at"] if before == "gdelt_tone" else old["published_at"]
    assert stored["available_at"].tolist() == expected.tolist()
    assert {r.table: r.status for r in migrate_lake(lake)}[tables.BRONZE_NEWS] == "already_delta"

    assert ingest_news(raw, lake).written == 1
    tones = lake.read(tables.BRONZE_NEWS).set_index("headline")["gdelt_tone"]
    assert tones["Fed holds"] == -2.5 and tones[["Stocks rise", "Stocks fall"]].isna().all()


def test_migration_gives_older_gold_tables_the_tone_feature_exactly(tmp_path: Path) -> None:
    """Gold tables built before ``news_mean_gdelt_tone`` (and bronze before ``gdelt_tone``):
    gold-news refuses with the fix; lake-migrate adds 0.0, the value the stages compute for
    bronze without tones, so a rerun of gold over the same days changes nothing."""
    root = tmp_path / "lake"
    run_pipeline(
        PipelineConfig(lake=root, demo=True, demo_days=3, sentiment_model="lexicon", until="gold")
    )
    lake = Lake(root)
    tone = tables.NEWS_TONE_FEATURE
    gold = [
        t for t in present_tables(lake) if t.startswith("gold/") and tone in lake.schema(t).names
    ]
    assert tables.GOLD_SIGNALS in gold and tables.GOLD_TRAINING in gold
    current = {t: lake.read(t) for t in gold}
    assert all((current[t][tone] == 0.0).all() for t in gold)  # the demo has no GKG tones
    for t in gold:  # as an earlier version left them
        lake.rebuild(t, current[t].drop(columns=tone))
    from deltalake import write_deltalake

    bronze = lake.read(tables.BRONZE_NEWS).drop(columns="gdelt_tone")
    bronze["date"] = bronze["published_at"].dt.date
    write_deltalake(
        lake.table_uri(tables.BRONZE_NEWS),
        bronze,
        mode="overwrite",
        schema_mode="overwrite",
        partition_by=["date"],
    )
    day = str(lake.partitions(tables.GOLD_SIGNALS)[-1])
    gold_news = ["gold-news", "--lake", str(root), "--start", day, "--end", day]
    assert cli.main(gold_news) == 2  # a UserError naming the fix, nothing written

    results = {r.table: r.status for r in migrate_lake(lake)}
    assert {results[t] for t in [*gold, tables.BRONZE_NEWS]} == {"upgraded"}
    for t in gold:
        stored = lake.read(t)
        pd.testing.assert_frame_equal(stored[list(current[t].columns)], current[t])
    assert cli.main(gold_news) == 0
    assert cli.main(["gold-training", "--lake", str(root), "--start", day, "--end", day]) == 0
    for t in (tables.GOLD_SIGNALS, tables.GOLD_TRAINING):
        pd.testing.assert_frame_equal(lake.read(t)[list(current[t].columns)], current[t])
    assert {r.table: r.status for r in migrate_lake(lake)}[tables.GOLD_TRAINING] == "already_delta"
