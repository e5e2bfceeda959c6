"""Score one shard in checkpointed chunks, isolating bad articles, behind a circuit breaker.

The shard's articles without a silver row for the model are scored ``checkpoint_every``
at a time, oldest first. After each chunk its rows are upserted into
silver/news/sentiment (the sentiment stage's own keyed write), then the failures
manifest and the checkpoint are rewritten. A killed shard therefore resumes where it
stopped: on the next run the scored articles are simply no longer pending.

When the scorer raises on a chunk, the chunk is scored again one article at a time (the
isolation path: one model call per article) so that only the articles that fail are
left out; each goes to the failures manifest. Critical errors and too many failures open
the circuit breaker (see ``circuit_breaker``): the checkpoint (status ``failed``, with
the reason) and the failures manifest are written, then ``CircuitOpenError`` is raised.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import math
import time
from collections.abc import Callable, Iterator
from typing import NoReturn

import pandas as pd
import pyarrow as pa
from deltalake.exceptions import DeltaError

from src_clean.backfill.checkpoint import Checkpoint, Failure, ShardState, Status, utc_now
from src_clean.backfill.circuit_breaker import (
    BreakerConfig,
    CircuitBreaker,
    CircuitOpenError,
    describe,
    is_out_of_memory,
)
from src_clean.backfill.config import DEFAULT_CHECKPOINT_EVERY
from src_clean.backfill.shards import shard_bounds
from src_clean.backfill.state import checked_name
from src_clean.data_pipelines.silver.scoring.base import Scorer, TextMode
from src_clean.data_pipelines.silver.sentiment import (
    SENTIMENT_COLUMNS,
    score_articles,
    store_scores,
    unscored,
)
from src_clean.lake import Lake
from src_clean.tables import BRONZE_NEWS

log = logging.getLogger(__name__)

STORAGE_ERRORS = (OSError, pa.ArrowException, DeltaError)
ORDER = ["published_at", "article_id"]


@dataclasses.dataclass(frozen=True)
class ShardJob:
    """What to score: the articles of one shard (dates inclusive) within one run."""

    run_id: str
    shard_id: str
    start: dt.date
    end: dt.date
    text_mode: TextMode = "headline"
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY

    def __post_init__(self) -> None:
        checked_name("run id", self.run_id)
        if self.checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")

    @classmethod
    def for_shard(
        cls,
        run_id: str,
        shard_id: str,
        start: dt.date | None = None,
        end: dt.date | None = None,
        *,
        text_mode: TextMode = "headline",
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    ) -> ShardJob:
        """The job for shard ``shard_id``, its dates clipped to ``start``/``end``."""
        first, last = shard_bounds(shard_id, start, end)
        return cls(run_id, shard_id, first, last, text_mode, checkpoint_every)

    @property
    def columns(self) -> list[str]:
        """The bronze columns the scoring needs (the body only for ``headline_body``)."""
        body = ["body"] if self.text_mode == "headline_body" else []
        return ["article_id", "published_at", "available_at", "headline", *body]


@dataclasses.dataclass(frozen=True)
class ShardReport:
    """What one attempt did: articles_total = already_scored + scored + failures."""

    run_id: str
    shard_id: str
    model_id: str
    articles_total: int
    already_scored: int
    scored: int
    failures: int
    chunks: int
    seconds: float

    def summary(self) -> str:
        return (
            f"backfill shard {self.shard_id} [{self.model_id}] run={self.run_id}: "
            f"articles={self.articles_total} already_scored={self.already_scored} "
            f"scored={self.scored} failures={self.failures} chunks={self.chunks} "
            f"in {self.seconds:.1f}s"
        )


def run_shard(
    lake: Lake,
    job: ShardJob,
    load: Callable[[], Scorer],
    config: BreakerConfig | None = None,
) -> ShardReport:
    """Score ``job``'s pending articles with the scorer ``load()`` returns.

    Raises ``CircuitOpenError`` when the breaker opens (``config``, default from the
    environment); the checkpoint and failures manifest are written first.
    """
    return _ShardRun(lake, job, CircuitBreaker(config or BreakerConfig.from_env())).run(load)


class _ShardRun:
    """The mutable progress of one attempt at one shard."""

    def __init__(self, lake: Lake, job: ShardJob, breaker: CircuitBreaker) -> None:
        self.lake = lake
        self.job = job
        self.breaker = breaker
        self.state: ShardState | None = None
        self.model_id: str | None = None
        self.total = 0
        self.done = 0
        self.scored = 0
        self.failed = 0
        self.last_article_id: str | None = None

    def run(self, load: Callable[[], Scorer]) -> ShardReport:
        began = time.perf_counter()
        with self._storage("open the shard state"):
            self.state = ShardState.open(self.lake, self.job.run_id, self.job.shard_id)
        scorer = self._load(load)
        pending = self._pending()
        already = self.done
        step = self.job.checkpoint_every
        for offset in range(0, len(pending), step):
            self._score_chunk(scorer, pending.iloc[offset : offset + step])
        self._save("complete")
        return ShardReport(
            run_id=self.job.run_id,
            shard_id=self.job.shard_id,
            model_id=scorer.model_id,
            articles_total=self.total,
            already_scored=already,
            scored=self.scored,
            failures=self.failed,
            chunks=math.ceil(len(pending) / step),
            seconds=time.perf_counter() - began,
        )

    def _load(self, load: Callable[[], Scorer]) -> Scorer:
        try:
            scorer = load()
        except Exception as exc:
            self._trip(f"model load failed: {describe(exc)}", exc)
        self.model_id = scorer.model_id
        previous = self.state.previous
        if previous is not None and previous.model_id == self.model_id:
            log.info(
                "shard %s: previous attempt %s, last article %s",
                self.job.shard_id,
                previous.status,
                previous.last_article_id,
            )
            self.last_article_id = previous.last_article_id
        return scorer

    def _pending(self) -> pd.DataFrame:
        """The shard's articles with no silver row for the model, oldest first."""
        job = self.job
        with self._storage("read the shard's articles"):
            articles = self.lake.read(BRONZE_NEWS, job.start, job.end, columns=job.columns)
            pending = unscored(self.lake, articles, self.model_id, job.start, job.end)
        self.total = len(articles)
        self.done = self.total - len(pending)
        return pending.sort_values(ORDER, kind="stable").reset_index(drop=True)

    def _score_chunk(self, scorer: Scorer, chunk: pd.DataFrame) -> None:
        try:
            rows = score_articles(chunk, scorer, self.job.text_mode)
        except Exception as exc:
            self._trip_if_out_of_memory(exc)
            log.warning("shard %s: chunk failed (%s); isolating", self.job.shard_id, describe(exc))
            rows = self._isolate(scorer, chunk)
        else:
            self.breaker.record_successes(len(rows))
            self.last_article_id = str(chunk["article_id"].iat[-1])
        with self._storage("write scores to silver"):
            store_scores(self.lake, rows)
        self.done += len(rows)
        self.scored += len(rows)
        self._save("failed" if self.breaker.is_open else "running")
        log.info(
            "shard %s: %d/%d articles done, %d failed",
            self.job.shard_id,
            self.done,
            self.total,
            self.failed,
        )
        self.breaker.raise_if_open()

    def _isolate(self, scorer: Scorer, chunk: pd.DataFrame) -> pd.DataFrame:
        """Score ``chunk`` one article at a time; log the ones that fail."""
        scored = []
        for position in range(len(chunk)):
            article = chunk.iloc[position : position + 1]
            self.last_article_id = str(article["article_id"].iat[0])
            try:
                scored.append(score_articles(article, scorer, self.job.text_mode))
            except Exception as exc:
                self._trip_if_out_of_memory(exc)
                self.state.add_failure(Failure.of(self.last_article_id, exc))
                self.failed += 1
                self.breaker.record_failure()
                if self.breaker.is_open:
                    break
            else:
                self.breaker.record_successes(1)
        return pd.concat(scored, ignore_index=True) if scored else _no_rows()

    def _trip_if_out_of_memory(self, error: Exception) -> None:
        if is_out_of_memory(error):
            self._trip(f"out of memory: {describe(error)}", error)

    @contextlib.contextmanager
    def _storage(self, action: str) -> Iterator[None]:
        """Turn a storage error during ``action`` into an open breaker."""
        try:
            yield
        except STORAGE_ERRORS as exc:
            self._trip(f"storage error ({action}): {describe(exc)}", exc)

    def _trip(self, reason: str, error: BaseException) -> NoReturn:
        """Open the breaker, write what can be written, raise ``CircuitOpenError``."""
        self.breaker.trip(reason)
        if self.state is not None:
            try:
                self.state.save(self._checkpoint("failed"))
            except STORAGE_ERRORS as exc:
                log.error("shard %s: cannot write the checkpoint: %s", self.job.shard_id, exc)
        raise CircuitOpenError(reason) from error

    def _save(self, status: Status) -> None:
        with self._storage("write the checkpoint"):
            self.state.save(self._checkpoint(status))

    def _checkpoint(self, status: Status) -> Checkpoint:
        return Checkpoint(
            run_id=self.job.run_id,
            shard_id=self.job.shard_id,
            start=self.job.start.isoformat(),
            end=self.job.end.isoformat(),
            model_id=self.model_id,
            status=status,
            articles_total=self.total,
            articles_done=self.done,
            failures=self.failed,
            last_article_id=self.last_article_id,
            reason=self.breaker.reason,
            updated_at=utc_now(),
        )


def _no_rows() -> pd.DataFrame:
    return pd.DataFrame(columns=SENTIMENT_COLUMNS)
