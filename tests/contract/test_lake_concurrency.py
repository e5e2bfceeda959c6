"""Concurrent writers on one Delta table never lose or double a row (local and S3).

Every trial starts its writers as separate processes released together by a barrier;
conflicting commits are retried by the lake (``COMMIT_ATTEMPTS``), so the result must be
exactly the table one sequential writer produces.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lake_writers
import local_aws
import pandas as pd
import pytest
from deltalake.exceptions import CommitFailedError

from src_clean import lake as lake_module
from src_clean import tables
from src_clean.data_pipelines.bronze.market import ingest_market
from src_clean.data_pipelines.bronze.news import ingest_news
from src_clean.data_pipelines.silver.scoring import load_scorer
from src_clean.data_pipelines.silver.sentiment import score_articles
from src_clean.lake import CommitConflictError, Lake
from src_clean.sample_data import generate_sample_data

pytestmark = pytest.mark.slow

DAYS = ["2024-01-02", "2024-01-03", "2024-01-04"]
VALUES = ["instrument", "time", "granularity", "open", "high", "low", "close", "volume"]
TRIALS = 2
WRITERS = 4


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("raw")
    generate_sample_data(folder, pd.Timestamp(DAYS[0]).date(), len(DAYS), articles_per_day=25)
    return folder


@pytest.fixture(scope="module")
def expected_candles(raw: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The table one sequential ingest of every file writes."""
    lake = Lake(tmp_path_factory.mktemp("sequential"))
    ingest_market(raw / "market", lake)
    return lake.read(tables.BRONZE_CANDLES, columns=VALUES)


def run_together(target: Callable[..., None], jobs: list[tuple[Any, ...]], env: dict) -> None:
    """Start one process per job, release them at once, require every exit code 0."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(jobs))
    processes = [context.Process(target=target, args=(*job, barrier, env)) for job in jobs]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
    assert [p.exitcode for p in processes] == [0] * len(jobs)


def halves(raw: Path, out: Path) -> list[list[str]]:
    """Writer i ingests, day by day, the even (i even) or odd lines of each day's file:
    every candle is written by two writers at once."""
    split = [lake_writers.split_lines(f, 2, out) for f in sorted((raw / "market").iterdir())]
    return [[str(parts[i % 2]) for parts in split] for i in range(WRITERS)]


def check_every_key_once(lake: Lake, expected: pd.DataFrame) -> None:
    stored = lake.read(tables.BRONZE_CANDLES, columns=VALUES)
    assert not stored.duplicated(["instrument", "time"]).any()
    pd.testing.assert_frame_equal(stored, expected)


@pytest.mark.parametrize("trial", range(TRIALS))
def test_concurrent_ingests_of_interleaved_halves_keep_every_candle_once(
    raw: Path, expected_candles: pd.DataFrame, tmp_path: Path, trial: int
) -> None:
    files = halves(raw, tmp_path / "halves")
    lake_root = str(tmp_path / "lake")
    jobs = [(lake_root, files[i], trial * WRITERS + i) for i in range(WRITERS)]
    run_together(lake_writers.ingest_files, jobs, {})
    check_every_key_once(Lake(lake_root), expected_candles)


def test_concurrent_ingests_on_s3_keep_every_candle_once(
    raw: Path, expected_candles: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws = local_aws.activate(monkeypatch)
    files = halves(raw, tmp_path / "halves")
    lake_root = f"s3://{aws.new_bucket()}/lake"
    jobs = [(lake_root, files[i], i) for i in range(WRITERS)]
    run_together(lake_writers.ingest_files, jobs, aws.env)
    check_every_key_once(Lake(lake_root), expected_candles)


def test_concurrent_only_new_news_ingests_do_the_work_and_log_it_once(
    raw: Path, tmp_path: Path
) -> None:
    """Two ``bronze-news --only-new`` runs of the same new files at once: every article
    once, and one row in ``monitoring/ingests`` with every record read once. Before, both
    ingested the files and both logged, so the monitor counted the second run's articles
    as duplicates (a 50 % duplicate rate: a data-quality fail that blocks promotion)."""
    lake_root = str(tmp_path / "lake")
    folder = str(raw / "news")
    run_together(lake_writers.ingest_new_news, [(lake_root, folder, m) for m in (1, 2)], {})
    lake = Lake(lake_root)
    sequential = Lake(tmp_path / "sequential")
    alone = ingest_news(folder, sequential, only_new=True)
    stored = lake.read(tables.BRONZE_NEWS).drop(columns="ingested_at")
    expected = sequential.read(tables.BRONZE_NEWS).drop(columns="ingested_at")
    pd.testing.assert_frame_equal(stored, expected)
    logged = lake.read(tables.MONITORING_INGESTS)
    assert len(logged) == 1, logged
    row = logged.iloc[0]
    assert (row["read"], row["written"], row["duplicates"]) == (
        alone.read,
        alone.written,
        alone.duplicates,
    )
    assert ingest_news(folder, lake, only_new=True).files == 0  # nothing new: no row either
    assert len(lake.read(tables.MONITORING_INGESTS)) == 1


def test_a_backfill_shard_and_daily_stages_score_every_article_once(
    raw: Path, tmp_path: Path
) -> None:
    lake = Lake(tmp_path / "lake")
    ingest_news(raw / "news" / "jsonl", lake)
    articles = lake.read(tables.BRONZE_NEWS)
    assert len(articles) > 50

    jobs: list[tuple[Any, ...]] = [(lake.root, day) for day in DAYS]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(jobs) + 1)
    processes = [
        context.Process(target=lake_writers.score_day, args=(*job, barrier, {})) for job in jobs
    ]
    processes.append(
        context.Process(target=lake_writers.score_shard, args=(lake.root, "2024-01", barrier, {}))
    )
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
    assert [p.exitcode for p in processes] == [0] * len(processes)

    stored = lake.read(tables.SILVER_SENTIMENT).drop(columns="scored_at")
    assert not stored.duplicated(["article_id", "model_id"]).any()
    expected = score_articles(articles, load_scorer("lexicon"), "headline").drop(
        columns="scored_at"
    )
    expected = expected.sort_values(["published_at", "article_id"], ignore_index=True)
    pd.testing.assert_frame_equal(stored, expected)


def test_commit_conflicts_are_retried_then_fail_naming_table_and_operation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = Lake(tmp_path)
    attempts = []

    def always_conflicts(*args: Any) -> None:
        attempts.append(1)
        raise CommitFailedError("a concurrent transaction added new data")

    monkeypatch.setattr(lake_module, "RETRY_WAIT", lambda state: 0)
    monkeypatch.setattr(Lake, "_merge", always_conflicts)
    frame = pd.DataFrame({"id": [1], "t": pd.to_datetime(["2024-01-01"], utc=True)})
    spec = tables.TableSpec("t", "t", ("id",), ("t",), "upsert", "")
    with pytest.raises(CommitConflictError, match=r"/t: upsert lost 12 commit races"):
        lake.upsert(spec, frame)
    assert len(attempts) == lake_module.COMMIT_ATTEMPTS
