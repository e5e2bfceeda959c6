"""The circuit breaker: each trip condition alone, then through the shard runner."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest

from src_clean.backfill.checkpoint import load_checkpoint, load_failures
from src_clean.backfill.circuit_breaker import (
    BreakerConfig,
    CircuitBreaker,
    CircuitOpenError,
    is_out_of_memory,
)
from src_clean.backfill.runner import ShardJob, run_shard
from src_clean.data_pipelines.silver.scoring import load_scorer
from src_clean.data_pipelines.silver.scoring.base import Scorer
from src_clean.lake import Lake
from src_clean.tables import BRONZE_NEWS, SILVER_SENTIMENT

POISON = "POISON"
RUN_ID = "cb-test"


class OutOfMemoryError(RuntimeError):
    """Stands in for torch.OutOfMemoryError, which the breaker matches by name."""


class PickyScorer:
    """The lexicon scorer, except that a batch with a marked text raises ``error``."""

    def __init__(
        self, lexicon: Scorer, error: type[BaseException] = ValueError, marker: str = POISON
    ) -> None:
        self.lexicon = lexicon
        self.error = error
        self.marker = marker
        self.model_id = "picky-test"

    def score(self, texts: Sequence[str]) -> pd.DataFrame:
        marked = [text for text in texts if self.marker in text]
        if marked:
            raise self.error(f"cannot score {marked[0]!r}")
        return self.lexicon.score(texts)


@pytest.fixture(scope="module")
def lexicon() -> Scorer:
    return load_scorer("lexicon")


def write_bronze(lake: Lake, headlines: list[str]) -> list[str]:
    """One article per headline, a minute apart on 2024-01-02; their ids in order."""
    ids = [f"art{i:04d}" for i in range(len(headlines))]
    n = len(ids)
    lake.upsert(
        BRONZE_NEWS,
        pd.DataFrame(
            {
                "article_id": ids,
                "published_at": pd.date_range("2024-01-02 14:00", periods=n, freq="min", tz="UTC"),
                "available_at": pd.date_range("2024-01-02 14:00", periods=n, freq="min", tz="UTC"),
                "available_from": "published_at",
                "headline": headlines,
                "body": "",
                "source": "wire",
                "url": [f"https://example.com/{i}" for i in ids],
                "language": "en",
                "gdelt_tone": float("nan"),
                "ingested_at": pd.Timestamp("2024-01-03", tz="UTC"),
                "source_file": "news.jsonl",
            }
        ),
    )
    return ids


def job(checkpoint_every: int = 10) -> ShardJob:
    return ShardJob.for_shard(RUN_ID, "2024-01", checkpoint_every=checkpoint_every)


# -- unit ------------------------------------------------------------------------------


def test_a_critical_error_is_out_of_memory_by_type_or_by_name() -> None:
    assert is_out_of_memory(MemoryError())
    assert is_out_of_memory(OutOfMemoryError("CUDA out of memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("bad text"))


def test_trips_on_k_consecutive_failures_and_a_success_resets_the_run() -> None:
    breaker = CircuitBreaker(BreakerConfig(max_consecutive=3, max_failure_rate=1.0))
    for _ in range(2):
        breaker.record_failure()
    breaker.record_successes(1)
    breaker.record_failure()
    breaker.record_failure()
    assert not breaker.is_open
    breaker.record_failure()
    assert breaker.reason == "3 consecutive article failures"
    with pytest.raises(CircuitOpenError, match="3 consecutive"):
        breaker.raise_if_open()


def test_trips_on_the_failure_rate_only_after_min_articles() -> None:
    breaker = CircuitBreaker(
        BreakerConfig(max_consecutive=100, max_failure_rate=0.1, min_articles=20)
    )
    for _ in range(3):
        breaker.record_failure()  # 3/3 failed, but fewer than 20 attempted
    breaker.record_successes(16)
    assert not breaker.is_open
    breaker.record_successes(1)  # 3/20 = 15% > 10%
    assert breaker.reason is not None and "15.0% (3/20)" in breaker.reason


def test_a_rate_at_the_threshold_does_not_trip() -> None:
    breaker = CircuitBreaker(
        BreakerConfig(max_consecutive=100, max_failure_rate=0.1, min_articles=10)
    )
    breaker.record_failure()
    breaker.record_successes(9)
    assert not breaker.is_open


def test_trip_keeps_the_first_reason() -> None:
    breaker = CircuitBreaker()
    breaker.trip("storage error")
    breaker.trip("later")
    assert breaker.reason == "storage error"


def test_config_from_env_and_documented_defaults() -> None:
    assert BreakerConfig.from_env({}) == BreakerConfig(20, 0.05, 200)
    env = {
        "SP500_CB_MAX_CONSECUTIVE": "5",
        "SP500_CB_MAX_FAILURE_RATE": "0.2",
        "SP500_CB_MIN_ARTICLES": "50",
    }
    assert BreakerConfig.from_env(env) == BreakerConfig(5, 0.2, 50)
    with pytest.raises(ValueError, match="SP500_CB_MAX_FAILURE_RATE='1.5'"):
        BreakerConfig.from_env({"SP500_CB_MAX_FAILURE_RATE": "1.5"})


# -- through the shard runner ----------------------------------------------------------


def test_failing_articles_are_isolated_and_logged(tmp_path: Path, lexicon: Scorer) -> None:
    lake = Lake(tmp_path / "lake")
    headlines = [f"Stocks rally on day {i}" for i in range(25)]
    headlines[3] = headlines[17] = f"{POISON} headline"
    ids = write_bronze(lake, headlines)
    report = run_shard(lake, job(), lambda: PickyScorer(lexicon), BreakerConfig())

    assert (report.scored, report.failures, report.chunks) == (23, 2, 3)
    failures = load_failures(lake, RUN_ID, "2024-01")
    assert [(f.article_id, f.error_type) for f in failures] == [
        (ids[3], "ValueError"),
        (ids[17], "ValueError"),
    ]
    assert all(POISON in f.message and f.ts for f in failures)
    silver = lake.read(SILVER_SENTIMENT)
    assert sorted(silver["article_id"]) == sorted(set(ids) - {ids[3], ids[17]})
    checkpoint = load_checkpoint(lake, RUN_ID, "2024-01")
    assert (checkpoint.status, checkpoint.articles_done, checkpoint.failures) == ("complete", 23, 2)


def test_a_rerun_retries_the_failed_articles_and_keeps_the_log(
    tmp_path: Path, lexicon: Scorer
) -> None:
    lake = Lake(tmp_path / "lake")
    ids = write_bronze(lake, ["Shares rise", f"{POISON} once", "Shares fall"])
    run_shard(lake, job(), lambda: PickyScorer(lexicon), BreakerConfig())
    healed = run_shard(lake, job(), lambda: PickyScorer(lexicon, marker="NEVER"), BreakerConfig())

    assert (healed.already_scored, healed.scored, healed.failures) == (2, 1, 0)
    assert sorted(lake.read(SILVER_SENTIMENT)["article_id"]) == ids
    assert [f.article_id for f in load_failures(lake, RUN_ID, "2024-01")] == [ids[1]]
    checkpoint = load_checkpoint(lake, RUN_ID, "2024-01")
    assert (checkpoint.status, checkpoint.articles_done, checkpoint.failures) == ("complete", 3, 0)


def test_consecutive_failures_open_the_breaker_after_flushing(
    tmp_path: Path, lexicon: Scorer
) -> None:
    lake = Lake(tmp_path / "lake")
    headlines = [f"Stocks rally on day {i}" for i in range(30)]
    headlines[12:20] = [f"{POISON} {i}" for i in range(8)]
    ids = write_bronze(lake, headlines)
    config = BreakerConfig(max_consecutive=4, max_failure_rate=1.0)
    with pytest.raises(CircuitOpenError, match="4 consecutive article failures"):
        run_shard(lake, job(), lambda: PickyScorer(lexicon), config)

    assert [f.article_id for f in load_failures(lake, RUN_ID, "2024-01")] == ids[12:16]
    checkpoint = load_checkpoint(lake, RUN_ID, "2024-01")
    assert checkpoint.status == "failed"
    assert checkpoint.reason == "4 consecutive article failures"
    assert (checkpoint.articles_done, checkpoint.failures) == (12, 4)
    assert checkpoint.last_article_id == ids[15]
    assert sorted(lake.read(SILVER_SENTIMENT)["article_id"]) == ids[:12]


def test_failure_rate_opens_the_breaker(tmp_path: Path, lexicon: Scorer) -> None:
    lake = Lake(tmp_path / "lake")
    headlines = [f"{POISON} {i}" if i % 4 == 0 else f"Shares rise {i}" for i in range(40)]
    write_bronze(lake, headlines)
    config = BreakerConfig(max_consecutive=10, max_failure_rate=0.1, min_articles=20)
    with pytest.raises(CircuitOpenError, match=r"failure rate 25\.0% \(5/20\) above 10\.0%"):
        run_shard(lake, job(), lambda: PickyScorer(lexicon), config)
    assert len(load_failures(lake, RUN_ID, "2024-01")) == 5
    assert load_checkpoint(lake, RUN_ID, "2024-01").status == "failed"


@pytest.mark.parametrize("error", [MemoryError, OutOfMemoryError])
def test_out_of_memory_opens_the_breaker_at_once(
    tmp_path: Path, lexicon: Scorer, error: type[BaseException]
) -> None:
    lake = Lake(tmp_path / "lake")
    headlines = [f"Shares rise {i}" for i in range(15)]
    headlines[12] = POISON
    write_bronze(lake, headlines)
    with pytest.raises(CircuitOpenError, match=f"out of memory: {error.__name__}"):
        run_shard(lake, job(), lambda: PickyScorer(lexicon, error), BreakerConfig())
    assert load_failures(lake, RUN_ID, "2024-01") == []  # not the articles' fault
    checkpoint = load_checkpoint(lake, RUN_ID, "2024-01")
    assert (checkpoint.status, checkpoint.articles_done) == ("failed", 10)


def test_a_model_that_cannot_load_opens_the_breaker(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    write_bronze(lake, ["Shares rise"])

    def load() -> Scorer:
        raise OSError("no such checkpoint: /models/missing")

    with pytest.raises(CircuitOpenError, match="model load failed: OSError: no such checkpoint"):
        run_shard(lake, job(), load, BreakerConfig())
    checkpoint = load_checkpoint(lake, RUN_ID, "2024-01")
    assert (checkpoint.status, checkpoint.model_id) == ("failed", None)
    assert lake.read(SILVER_SENTIMENT).empty


def test_unreadable_lake_data_opens_the_breaker(tmp_path: Path, lexicon: Scorer) -> None:
    lake = Lake(tmp_path / "lake")
    write_bronze(lake, ["Shares rise"])
    (data_file,) = lake.local_path(BRONZE_NEWS, "date=2024-01-02").glob("*.parquet")
    data_file.write_bytes(b"not parquet")
    with pytest.raises(CircuitOpenError, match=r"storage error \(read the shard's articles\)"):
        run_shard(lake, job(), lambda: lexicon, BreakerConfig())
    assert load_checkpoint(lake, RUN_ID, "2024-01").status == "failed"
