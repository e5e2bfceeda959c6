"""Issue 37.2: long runs in bounded memory. Bronze merges its files in batches and silver
and gold run over chunks of dates, each committed on its own; the tables equal a run in
one piece, and an ingest killed between or inside its batches resumes to the same table."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from src_clean import tables
from src_clean.data_pipelines.bronze.news import ingest_news
from src_clean.lake import Lake
from src_clean.memory import articles_per_chunk
from src_clean.orchestration.chunks import plan_chunks
from src_clean.orchestration.run_window import DateRange
from src_clean.run_full_pipeline import PipelineConfig, run_pipeline
from src_clean.sample_data import generate_sample_data

REPO = Path(__file__).resolve().parents[2]
START = dt.date(2024, 1, 1)
RUN_TS = "2024-06-01T06:00:00+00:00"
RUN_TIME_COLUMNS = ("ingested_at", "scored_at")


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 days of sample candles and news (about 500 articles, one file a day)."""
    folder = tmp_path_factory.mktemp("raw")
    generate_sample_data(folder, START, 12, seed=3, articles_per_day=200)
    return folder


def contents(lake: Lake, table: str) -> pd.DataFrame:
    frame = lake.read(table)
    return frame.drop(columns=[c for c in RUN_TIME_COLUMNS if c in frame.columns])


def test_bronze_in_batches_equals_bronze_in_one_piece(raw: Path, tmp_path: Path) -> None:
    whole, batched = Lake(tmp_path / "whole"), Lake(tmp_path / "batched")
    run_ts = dt.datetime.fromisoformat(RUN_TS)
    one = ingest_news(raw / "news" / "jsonl", whole, run_ts=run_ts)
    many = ingest_news(raw / "news" / "jsonl", batched, run_ts=run_ts, batch_articles=100)
    assert many.balanced and (many.read, many.written) == (one.read, one.written)
    assert many.partitions == one.partitions
    # one commit per batch of at least 100 records
    assert batched.version(tables.BRONZE_NEWS) >= 3 > whole.version(tables.BRONZE_NEWS)
    pd.testing.assert_frame_equal(
        batched.read(tables.BRONZE_NEWS), whole.read(tables.BRONZE_NEWS), check_exact=True
    )
    logged = batched.read(tables.MONITORING_INGESTS)  # one row, the whole ingest's counts
    assert logged[["read", "written", "duplicates"]].values.tolist() == [
        [one.read, one.written, one.duplicates]
    ]


def run_killed(delay: float, argv: list[str]) -> int:
    """The CLI in a child that SIGKILLs itself ``delay`` s into its first Delta write."""
    done = subprocess.run(
        [sys.executable, str(REPO / "tests" / "lake_writers.py"), str(delay), *argv],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
    )
    assert done.returncode in (0, -signal.SIGKILL), done.stderr.decode()[-2000:]
    return done.returncode


@pytest.mark.slow
def test_a_batched_ingest_killed_anywhere_resumes_to_the_uninterrupted_table(
    raw: Path, tmp_path: Path
) -> None:
    """SIGKILL at moments from inside the first commit to past the fourth; ``--only-new``
    then takes the files no batch recorded, and the table equals an uninterrupted run's."""
    news = str(raw / "news" / "jsonl")
    argv = ["bronze-news", "--input", news, "--only-new", "--run-ts", RUN_TS]
    argv += ["--batch-articles", "60"]
    uninterrupted = Lake(tmp_path / "uninterrupted")
    ingest_news(news, uninterrupted, only_new=True, run_ts=dt.datetime.fromisoformat(RUN_TS))
    expected = uninterrupted.read(tables.BRONZE_NEWS)
    outcomes = []
    for delay in (0.0, 0.02, 0.15, 0.4, 0.8):
        lake = Lake(tmp_path / f"lake-{delay}")
        code = run_killed(delay, [*argv, "--lake", lake.root])
        outcomes.append((code, lake.version(tables.BRONZE_NEWS)))
        assert run_killed(60.0, [*argv, "--lake", lake.root]) == 0  # the resumed run
        pd.testing.assert_frame_equal(lake.read(tables.BRONZE_NEWS), expected, check_exact=True)
    killed = [version for code, version in outcomes if code == -signal.SIGKILL]
    # at least one child died after some batches were committed and before the last
    assert any(version is not None and version >= 1 for version in killed), outcomes


def _store_candles(lake: Lake, days: list[dt.date]) -> None:
    """One bronze candle at 10:00 UTC on each of ``days``."""
    spec = tables.spec(tables.BRONZE_CANDLES)
    values = {"string": "x", "double": 1.0, "int64": 1}
    frame = pd.DataFrame(
        {
            name: [pd.Timestamp(f"{d}T10:00Z") for d in days]
            if kind == "timestamp"
            else [values[kind]] * len(days)
            for name, kind in spec.columns
        }
    )
    lake.upsert(spec, frame)


def test_chunks_hold_the_budget_and_cover_every_date(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    per_chunk = articles_per_chunk(1)  # 128 articles for a 1 MB budget
    rows = {START + dt.timedelta(days=d): n for d, n in enumerate([60, 60, 60, 300, 0, 10])}
    frames = []
    for day, n in rows.items():
        stamps = pd.date_range(f"{day}T10:00Z", periods=max(n, 1), freq="s")[:n]
        frames.append(
            pd.DataFrame(
                {
                    "article_id": [f"{day}-{i}" for i in range(n)],
                    "published_at": stamps,
                    "available_at": stamps,
                    "available_from": "published_at",
                    "headline": "h",
                    "body": None,
                    "source": "wire",
                    "url": None,
                    "language": "en",
                    "gdelt_tone": float("nan"),
                    "ingested_at": pd.Timestamp(RUN_TS),
                    "source_file": "a.jsonl",
                }
            )
        )
    lake.upsert(tables.BRONZE_NEWS, pd.concat(frames, ignore_index=True))
    _store_candles(lake, [d for d in rows if d < START + dt.timedelta(days=4)])
    assert lake.partition_rows(tables.BRONZE_NEWS) == {d: n for d, n in rows.items() if n}
    day = lambda n: START + dt.timedelta(days=n)  # noqa: E731
    # 60+60 fit 128; the 300-article day starts a chunk; days 4-5 (no candles, a weekend)
    # cannot be a chunk alone, so they join it
    assert plan_chunks(lake, 1) == [
        DateRange(day(0), day(1)),
        DateRange(day(2), day(2)),
        DateRange(day(3), day(5)),
    ]
    assert per_chunk == 128
    assert plan_chunks(lake, 4096) == [DateRange(day(0), day(5))]
    assert plan_chunks(Lake(tmp_path / "empty"), 4096) == []


@pytest.mark.slow
def test_a_full_run_in_chunks_equals_a_full_run_in_one_piece(raw: Path, tmp_path: Path) -> None:
    """The same raw data through bronze, silver and gold with a 1 MB budget (chunks of
    about two days) and with the default (one piece): every table has the same rows."""
    lakes = {}
    for name, budget in (("one", 4096), ("chunked", 1)):
        lake_root = tmp_path / name
        cfg = PipelineConfig(
            lake=lake_root,
            bronze_market=raw / "market",
            bronze_news=raw / "news" / "jsonl",
            sentiment_model="lexicon",
            until="gold",
            memory_budget_mb=budget,
        )
        run_pipeline(cfg)
        lakes[name] = Lake(lake_root)
    assert len(plan_chunks(lakes["chunked"], 1)) >= 3
    for table in (
        tables.SILVER_FEATURES,
        tables.SILVER_SENTIMENT,
        tables.GOLD_SIGNALS,
        tables.GOLD_TRAINING,
    ):
        pd.testing.assert_frame_equal(
            contents(lakes["chunked"], table), contents(lakes["one"], table), check_exact=True
        )
    shutil.rmtree(tmp_path)
