"""The Delta lake API: specs, upsert (MERGE) semantics, range replacement, time travel,
schema enforcement and exact timestamp round trips."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest

from src_clean import tables
from src_clean.feature_set import FeatureSet
from src_clean.lake import Lake, SchemaMismatchError
from src_clean.tables import TableSpec
from src_clean.time_convention import segment_ids, segment_starts

SPEC = TableSpec("t/x", "t", keys=("id",), sort=("t", "id"), write="upsert", description="")


def _frame(ids: list[int], times: list[str], values: list[float]) -> pd.DataFrame:
    stamps = pd.to_datetime(times, utc=True).as_unit("ns")
    return pd.DataFrame({"id": ids, "t": stamps, "v": values})


def _news(ids: list[str], published: list[str], ingested: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "article_id": ids,
            "published_at": pd.to_datetime(published, utc=True),
            "available_at": pd.to_datetime(published, utc=True),
            "available_from": "published_at",
            "headline": [f"headline {i}" for i in ids],
            "body": None,
            "source": "wire",
            "url": None,
            "language": "en",
            "gdelt_tone": float("nan"),
            "ingested_at": pd.Timestamp(ingested, tz="UTC"),
            "source_file": "a.jsonl",
        }
    )


def test_replace_range_partitions_by_utc_date_and_reads_back(tmp_path) -> None:
    lake = Lake(tmp_path)
    df = _frame(
        [1, 2, 3], ["2024-01-01T23:59Z", "2024-01-02T00:00Z", "2024-01-03T12:00+05:00"], [1, 2, 3]
    )
    assert lake.replace_range(SPEC, df).partitions == ("2024-01-01", "2024-01-02", "2024-01-03")
    assert lake.partitions(SPEC) == [dt.date(2024, 1, d) for d in (1, 2, 3)]
    assert lake.read(SPEC, start="2024-01-02", end="2024-01-02")["id"].tolist() == [2]
    assert lake.read(SPEC)["t"].dtype == "datetime64[ns, UTC]"
    assert list(lake.read(SPEC).columns) == ["id", "t", "v"]
    assert lake.table_uri(SPEC) == str(tmp_path.resolve() / "t" / "x")


def test_replace_range_replaces_only_its_range_and_empties_days_without_rows(tmp_path) -> None:
    lake = Lake(tmp_path)
    lake.replace_range(SPEC, _frame([1, 2, 3], ["2024-01-01", "2024-01-02", "2024-01-03"], [1] * 3))
    lake.replace_range(SPEC, _frame([9], ["2024-01-02T05:00Z"], [9.0]), "2024-01-02", "2024-01-03")
    assert lake.read(SPEC)[["id", "v"]].values.tolist() == [[1, 1.0], [9, 9.0]]
    with pytest.raises(ValueError, match="outside"):
        lake.replace_range(SPEC, _frame([5], ["2024-01-05"], [5.0]), "2024-01-01", "2024-01-01")
    assert lake.read(SPEC)["id"].tolist() == [1, 9]


def test_replace_range_streams_chunks_in_one_commit(tmp_path) -> None:
    lake = Lake(tmp_path)
    chunks = [_frame([i], [f"2024-01-0{i}"], [float(i)]) for i in (1, 2, 3)]
    result = lake.replace_range(SPEC, lambda: iter(chunks), None, None)
    assert (result.rows, result.version) == (3, 1)  # version 0 created the table
    assert lake.read(SPEC)["id"].tolist() == [1, 2, 3]


def test_upsert_replaces_rows_by_key_and_keeps_stored_columns(tmp_path) -> None:
    lake = Lake(tmp_path)
    lake.upsert(tables.BRONZE_NEWS, _news(["a", "b"], ["2024-01-01T10:00Z"] * 2, "2024-01-05"))
    changed = _news(["b", "c"], ["2024-01-01T10:00Z"] * 2, "2024-01-06").assign(headline="new")
    result = lake.upsert(tables.BRONZE_NEWS, changed)
    assert (result.rows_in, result.rows_inserted, result.rows_replaced) == (2, 1, 1)
    out = lake.read(tables.BRONZE_NEWS).set_index("article_id")
    assert out["headline"].to_dict() == {"a": "headline a", "b": "new", "c": "new"}
    first = pd.Timestamp("2024-01-05", tz="UTC")
    assert out["ingested_at"].to_dict() == {"a": first, "b": first, "c": first + pd.Timedelta("1D")}


def test_an_upsert_with_a_new_date_moves_the_row_to_its_new_partition(tmp_path) -> None:
    lake = Lake(tmp_path)
    lake.upsert(tables.BRONZE_NEWS, _news(["a", "b"], ["2024-01-01T10:00Z"] * 2, "2024-01-05"))
    lake.upsert(tables.BRONZE_NEWS, _news(["a"], ["2024-01-03T09:00Z"], "2024-01-06"))
    out = lake.read(tables.BRONZE_NEWS)
    assert out["article_id"].tolist() == ["b", "a"]  # one row per key, in date order
    assert lake.partitions(tables.BRONZE_NEWS) == [dt.date(2024, 1, 1), dt.date(2024, 1, 3)]
    moved = lake.read(tables.BRONZE_NEWS, "2024-01-03", "2024-01-03")
    assert moved["article_id"].tolist() == ["a"]
    assert moved["ingested_at"].tolist() == [pd.Timestamp("2024-01-05", tz="UTC")]


def test_upsert_of_identical_rows_commits_nothing(tmp_path) -> None:
    lake = Lake(tmp_path)
    df = _news(["a", "b"], ["2024-01-01T10:00Z", "2024-01-02T11:00Z"], "2024-01-05")
    lake.upsert(tables.BRONZE_NEWS, df)
    before, version = lake.read(tables.BRONZE_NEWS), lake.version(tables.BRONZE_NEWS)
    result = lake.upsert(tables.BRONZE_NEWS, df.assign(ingested_at=pd.Timestamp.now(tz="UTC")))
    assert (result.rows_inserted, result.rows_replaced) == (0, 0)
    assert lake.version(tables.BRONZE_NEWS) == version
    pd.testing.assert_frame_equal(lake.read(tables.BRONZE_NEWS), before)


def test_upsert_keyed_by_time_touches_only_the_source_partitions(tmp_path) -> None:
    """Keys that fix the partition prune the MERGE to the source's dates: updates and
    inserts over several days land exactly, other days keep their files."""
    keyed = TableSpec(
        "t/k", "t", keys=("id", "t"), sort=("t", "id"), write="upsert", description=""
    )
    lake = Lake(tmp_path)
    days = ["2024-01-01T10:00Z", "2024-01-02T10:00Z", "2024-01-03T10:00Z"]
    lake.upsert(keyed, _frame([1, 2, 3], days, [1.0, 2.0, 3.0]))
    untouched = set(lake.delta_table(keyed).file_uris([("date", "=", "2024-01-02")]))
    change = _frame([1, 3, 4, 3], [days[0], days[2], "2024-01-04T10:00Z", days[0]], [10, 30, 40, 5])
    result = lake.upsert(keyed, change)
    assert (result.rows_inserted, result.rows_replaced) == (2, 2)
    assert result.partitions == ("2024-01-01", "2024-01-03", "2024-01-04")
    out = lake.read(keyed)
    assert out[["id", "v"]].values.tolist() == [[1, 10], [3, 5], [2, 2], [3, 30], [4, 40]]
    assert set(lake.delta_table(keyed).file_uris([("date", "=", "2024-01-02")])) == untouched


def test_upsert_refuses_repeated_keys(tmp_path) -> None:
    with pytest.raises(ValueError, match="repeated key"):
        Lake(tmp_path).upsert(SPEC, _frame([1, 1], ["2024-01-01"] * 2, [1.0, 2.0]))


def test_time_travel_reads_an_earlier_version(tmp_path) -> None:
    lake = Lake(tmp_path)
    assert lake.version(SPEC) is None
    lake.upsert(SPEC, _frame([1], ["2024-01-01"], [1.0]))
    v1 = lake.version(SPEC)
    lake.upsert(SPEC, _frame([1, 2], ["2024-01-01", "2024-01-02"], [5.0, 6.0]))
    assert lake.read(SPEC, version=v1)[["id", "v"]].values.tolist() == [[1, 1.0]]
    assert lake.read(SPEC)[["id", "v"]].values.tolist() == [[1, 5.0], [2, 6.0]]
    assert lake.partitions(SPEC, version=v1) == [dt.date(2024, 1, 1)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda df: df.drop(columns="url"), r"missing columns \['url'\]"),
        (lambda df: df.assign(extra=1), r"unexpected columns \['extra'\]"),
        (lambda df: df.assign(published_at="yesterday"), "published_at"),
        (lambda df: df.assign(article_id=None), r"nulls in required columns \['article_id'\]"),
    ],
)
def test_schema_mismatch_fails_naming_the_columns_and_writes_nothing(
    tmp_path, change, message
) -> None:
    lake = Lake(tmp_path)
    good = _news(["a"], ["2024-01-01T10:00Z"], "2024-01-05")
    lake.upsert(tables.BRONZE_NEWS, good)
    with pytest.raises(SchemaMismatchError, match=message):
        lake.upsert(tables.BRONZE_NEWS, change(_news(["b"], ["2024-01-02T10:00Z"], "2024-01-05")))
    assert lake.version(tables.BRONZE_NEWS) == 1
    assert lake.read(tables.BRONZE_NEWS)["article_id"].tolist() == ["a"]


def test_a_computed_table_keeps_the_schema_of_its_first_write(tmp_path) -> None:
    """The skip_news bug: 47 columns written into a 57-column gold table must fail."""
    lake = Lake(tmp_path)
    news = _frame([1], ["2024-01-01"], [1.0]).assign(instrument="X", news_score=0.5)
    lake.replace_range(tables.GOLD_TRAINING, news.rename(columns={"t": "time"}))
    market_only = news.drop(columns="news_score").rename(columns={"t": "time"})
    with pytest.raises(SchemaMismatchError, match=r"missing columns \['news_score'\]"):
        lake.replace_range(tables.GOLD_TRAINING, market_only, "2024-01-01", "2024-01-01")
    assert lake.read(tables.GOLD_TRAINING)["news_score"].tolist() == [0.5]


def test_evolve_adds_nullable_columns_explicitly(tmp_path) -> None:
    lake = Lake(tmp_path)
    lake.upsert(SPEC, _frame([1], ["2024-01-01"], [1.0]))
    with pytest.raises(SchemaMismatchError, match="unexpected columns"):
        lake.upsert(SPEC, _frame([2], ["2024-01-02"], [2.0]).assign(w="x"))
    lake.evolve(SPEC, {"w": pa.string()})
    lake.upsert(SPEC, _frame([2], ["2024-01-02"], [2.0]).assign(w="x"))
    assert lake.read(SPEC)["w"].isna().tolist() == [True, False]
    with pytest.raises(SchemaMismatchError, match="already present"):
        lake.evolve(SPEC, {"w": pa.string()})


def test_timestamps_round_trip_exactly_and_sub_microseconds_are_refused(tmp_path) -> None:
    lake = Lake(tmp_path)
    stamps = [
        "2024-01-01T00:00:00.123456Z",
        "1999-12-31T23:59:59.999999Z",
        "2024-02-29T12:00:00.000000Z",
    ]
    df = _frame([1, 2, 3], stamps, [1.0, 2.0, 3.0])
    lake.upsert(SPEC, df)
    back = lake.read(SPEC).sort_values("id", ignore_index=True)
    pd.testing.assert_frame_equal(back, df)
    assert lake.partitions(SPEC)[0] == dt.date(1999, 12, 31)
    with pytest.raises(SchemaMismatchError, match="t "):
        lake.upsert(SPEC, _frame([4], ["2024-01-01T00:00:00.000000001Z"], [4.0]))


def test_specs_cover_every_layer_table_and_variants() -> None:
    assert [s.name for s in tables.all_specs()][: len(tables.LAYER_TABLES)] == list(
        tables.LAYER_TABLES
    )
    variant = FeatureSet(skip_news=True).training_table
    assert variant == "gold/variants/market_only-w60-h30/training"
    assert tables.spec(variant).keys == tables.TRAINING_SPEC.keys
    assert tables.spec(tables.quarantine(tables.BRONZE_NEWS)).keys == (
        "source_file",
        "record_number",
        "record_index",
        "raw_sha256",
    )
    with pytest.raises(KeyError, match="not a lake table"):
        tables.spec("silver/unknown")
    assert FeatureSet(False, 60, 30).name is None
    assert FeatureSet(False, 30, 30).name == "news-w30-h30"
    for name in ("market_only-w60-h30", "news-w30-h15"):  # the one parser round-trips
        assert FeatureSet.from_name(name).name == name
    assert FeatureSet.from_name("canonical") == FeatureSet.from_name(None) == FeatureSet()
    for bad in ("news-w60-h30", "market_only-w0-h30", "skip-w60-h30", "news-w60"):
        with pytest.raises(ValueError, match="variant"):
            FeatureSet.from_name(bad)


def test_json_roundtrip_and_missing_table(tmp_path) -> None:
    lake = Lake(tmp_path)
    lake.files.write_json("reports/x.json", {"a": 1})
    assert lake.files.read_json("reports/x.json") == {"a": 1}
    assert lake.read(tables.GOLD_SIGNALS).empty
    assert list(lake.read(tables.SILVER_SENTIMENT, columns=["model_id"]).columns) == ["model_id"]
    assert not lake.exists(tables.GOLD_SIGNALS)
    assert lake.version(tables.GOLD_SIGNALS) is None


@pytest.mark.parametrize("unit", ["ns", "us"])
def test_segments_split_on_gaps_longer_than_max_gap(unit: str) -> None:
    times = pd.DatetimeIndex(
        pd.to_datetime(
            ["2024-01-02T20:58Z", "2024-01-02T20:59Z", "2024-01-02T22:00Z", "2024-01-02T22:10Z"]
        )
    ).as_unit(unit)
    assert segment_starts(times).tolist() == [True, False, True, False]
    assert segment_ids(times).tolist() == [0, 0, 1, 1]


def _daily_news(first: dt.date, days: int) -> pd.DataFrame:
    stamps = [f"{first + dt.timedelta(days=d)}T10:00Z" for d in range(days)]
    return _news([f"day{d}" for d in range(days)], stamps, "2024-03-01")


def test_an_article_merge_reads_only_the_days_an_article_can_move_within(tmp_path) -> None:
    """Issue 37: a daily article MERGE reads the partitions within ``match_days`` of its
    rows' dates, not the table's history (the old MERGE read all 60 files); an article
    corrected by a few days still moves, and its first ``ingested_at`` stays."""
    lake = Lake(tmp_path)
    first = dt.date(2024, 1, 1)
    lake.upsert(tables.BRONZE_NEWS, _daily_news(first, 60))
    assert len(lake.delta_table(tables.BRONZE_NEWS).file_uris()) == 60
    today = first + dt.timedelta(days=59)
    moved = _news(["day57", "new"], [f"{today}T11:00Z"] * 2, "2024-03-02")
    result = lake.upsert(tables.BRONZE_NEWS, moved)
    window = tables.NEWS_SPEC.match_days
    assert 0 < result.files_scanned <= window + 1, result  # days 52..59, not 60 files
    assert (result.rows_inserted, result.rows_replaced) == (1, 1)
    out = lake.read(tables.BRONZE_NEWS).set_index("article_id")
    assert len(out) == 61 and out.index.is_unique
    assert out.loc["day57", "published_at"] == pd.Timestamp(f"{today}T11:00Z")
    assert out.loc["day57", "ingested_at"] == pd.Timestamp("2024-03-01", tz="UTC")
    # a rerun of an old day (a backfill) finds its rows there: nothing doubled
    again = lake.upsert(tables.BRONZE_NEWS, _daily_news(first, 3))
    assert (again.rows_inserted, again.rows_replaced) == (0, 0)
    assert 0 < again.files_scanned <= 3 + window


def test_a_correction_beyond_match_days_is_a_second_row_no_window_counts_twice(
    tmp_path,
) -> None:
    """The documented bound: a ``published_at`` moved further than ``match_days`` is stored
    as a new appearance. News windows are shorter than that bound (at most a trading day),
    so no bar's window can hold both rows."""
    from src_clean.orchestration.trigger_form import MAX_WINDOW_MINUTES

    lake = Lake(tmp_path)
    lake.upsert(tables.BRONZE_NEWS, _news(["a"], ["2024-01-01T10:00Z"], "2024-01-01"))
    far = dt.date(2024, 1, 1) + dt.timedelta(days=tables.NEWS_SPEC.match_days + 1)
    lake.upsert(tables.BRONZE_NEWS, _news(["a"], [f"{far}T10:00Z"], "2024-01-10"))
    assert lake.read(tables.BRONZE_NEWS)["article_id"].tolist() == ["a", "a"]
    assert MAX_WINDOW_MINUTES < tables.ARTICLE_MATCH_DAYS * 24 * 60
    assert tables.SENTIMENT_SPEC.match_days == tables.NEWS_SPEC.match_days


def test_insert_new_inserts_new_keys_only_and_never_changes_a_stored_row(tmp_path) -> None:
    lake = Lake(tmp_path)
    first = _news(["a", "b"], ["2024-01-01T10:00Z", "2024-01-02T10:00Z"], "2024-01-05")
    assert lake.insert_new(tables.BRONZE_NEWS, first).rows_inserted == 2
    changed = _news(["a", "c"], ["2024-01-01T10:00Z", "2024-01-03T10:00Z"], "2024-02-01")
    result = lake.insert_new(tables.BRONZE_NEWS, changed.assign(headline="rewritten"))
    assert (result.rows_inserted, result.rows_replaced) == (1, 0)
    out = lake.read(tables.BRONZE_NEWS).set_index("article_id")
    assert out.loc["a", "headline"] == "headline a"  # the stored row stands
    assert out.loc["c", "headline"] == "rewritten"
    with pytest.raises(ValueError, match="repeated key"):
        lake.insert_new(tables.BRONZE_NEWS, pd.concat([first, first]))


def test_the_match_range_joins_nearby_days_and_keeps_far_ones_apart() -> None:
    from src_clean.lake import _match_range

    near = _match_range(["2024-01-01", "2024-01-05"], 7)
    assert near == "((t.date >= '2023-12-25' AND t.date <= '2024-01-12'))"
    far = _match_range(["2024-01-01", "2024-06-01"], 7)
    assert far.count(" OR ") == 1 and "'2024-01-08'" in far and "'2024-05-25'" in far


def test_compact_rewrites_only_the_named_partitions_and_keeps_every_row(tmp_path) -> None:
    """One file per partition after, the rows identical, the other partition untouched; a
    compact or absent partition commits nothing."""
    lake = Lake(tmp_path)
    days = ["2024-01-01", "2024-01-02"]
    for n in range(3):  # three commits: three small files in each partition
        ids = [f"{day}-{n}" for day in days]
        lake.insert_new(
            tables.BRONZE_NEWS, _news(ids, [f"{d}T1{n}:00Z" for d in days], "2024-01-05")
        )
    files = lambda: sorted(lake.delta_table(tables.BRONZE_NEWS).file_uris())  # noqa: E731
    before, stored = files(), lake.read(tables.BRONZE_NEWS).sort_values("article_id")
    assert len(before) == 6
    assert lake.compact(tables.BRONZE_NEWS, ["2024-01-02"]) == (3, 1)
    after = files()
    assert len(after) == 4
    assert [f for f in before if "2024-01-01" in f] == [f for f in after if "2024-01-01" in f]
    again = lake.read(tables.BRONZE_NEWS).sort_values("article_id")
    pd.testing.assert_frame_equal(again.reset_index(drop=True), stored.reset_index(drop=True))
    version = lake.version(tables.BRONZE_NEWS)
    assert lake.compact(tables.BRONZE_NEWS, ["2024-01-02", "2024-03-01"]) == (0, 0)
    assert lake.version(tables.BRONZE_NEWS) == version
    history = lake.delta_table(tables.BRONZE_NEWS).history()
    assert history[0]["operation"] == "OPTIMIZE"
    assert lake.compact(tables.LIVE_DECISIONS, ["2024-01-02"]) == (0, 0)  # no table yet
