"""The live loop: on each poll, ingest what landed, score new articles, decide new bars.

Why a polling loop: candles and articles arrive as files in the landing folders (the fetch
stages, a vendor drop), and a bar is decidable once its candle is in bronze. A loop that
polls every ``poll_s`` seconds (default 5) with capped exponential backoff after a failed
tick decides a bar within seconds of its candle landing, holds its models warm between
bars, and needs nothing but the lake; a 15-minute Airflow DAG (or an asset-triggered one)
reloads the scorer and the champion on every run, which alone costs more than the 90 s
budget on a CPU.

One tick:

0. with ``--fetch-market`` / ``--fetch-news``, fetch what is new (``live.feeds``; a feed
   that fails is reported, and the bar is decided on what had landed, its lag recorded);
1. refresh the champion (``models:/<name>@<alias>``): a new version takes effect for the
   bars decided from this tick on, and each row names the version that decided it;
2. ``ingest_market`` / ``ingest_news`` of the landing folders with ``--only-new``: the
   batch validation, quarantine and count invariant;
3. ``score_new_articles`` over the dates that received articles, with the recorded engine;
4. every bar whose candle arrived after the last decided one: its features
   (``live.features.bar_inputs``, the batch functions), the champion's prediction, one
   ``live/decisions`` row. A bar past its deadline (``deadline_s`` after its close: the
   process was down or behind) is written as ``missed``, never decided late.

Reads stay short all day: the newest bar with a row is read once and then kept (the lease
makes this process the only writer), and every ``compact_every`` ticks the newest two
partitions of the tables each tick appends to (bronze, sentiment, the ingest log and
``live/decisions``) are compacted, so neither a read nor the decisions' insert-only MERGE
opens a file per tick of the day, and memory stays flat. A compaction (Delta OPTIMIZE,
``dataChange: false``) rewrites files, never a row: the record's rows are the ones
inserted, which the replay test checks version by version.

Two processes on one lake: the lease (a file lock beside the lake's state, released by the
kernel when its holder dies) lets one decide; the other waits for it (``lease_timeout_s``:
a scheduled run gives up in one line instead of waiting for a service that never stops).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from src_clean import tables
from src_clean.data_pipelines.bronze.market import ingest_market
from src_clean.data_pipelines.bronze.news import ingest_news
from src_clean.data_pipelines.gold.feature_list import FeatureSpec, read_feature_list
from src_clean.data_pipelines.silver.sentiment import load_recorded_scorer, score_new_articles
from src_clean.errors import UserError
from src_clean.feature_set import FeatureSet
from src_clean.lake import Lake
from src_clean.live import decisions, health
from src_clean.live.decisions import features_json
from src_clean.live.features import bar_inputs, feature_hash
from src_clean.live.feeds import FeedConfig, Feeds, describe_failures
from src_clean.time_convention import decision_time
from src_clean.training.champion import (
    Champion,
    ChampionTracker,
    SignalUnavailableError,
    predict,
)

log = logging.getLogger(__name__)

LEASE = "_state/live.lease"
DEADLINE_S = 90.0
POLL_S = 5.0
MAX_BACKOFF_S = 60.0
COMPACT_EVERY = 30  # ticks
# the tables a tick appends to
COMPACTED = (
    tables.BRONZE_CANDLES,
    tables.BRONZE_NEWS,
    tables.SILVER_SENTIMENT,
    tables.MONITORING_INGESTS,
    tables.LIVE_DECISIONS,
)
_UNREAD = object()  # the newest decided bar is not known yet: read it from the table


@dataclasses.dataclass(frozen=True)
class LiveConfig:
    """What the live loop reads and decides with."""

    lake_root: str
    landing_market: str
    landing_news: str
    sentiment_model: str
    tracking_uri: str
    model_name: str
    alias: str = "champion"
    poll_s: float = POLL_S
    deadline_s: float = DEADLINE_S
    feature_set: FeatureSet = FeatureSet()
    feeds: FeedConfig = FeedConfig()
    lease_timeout_s: float | None = None  # None: wait for the lease as long as it takes
    compact_every: int = COMPACT_EVERY  # ticks between compactions (0: never)


@dataclasses.dataclass
class TickReport:
    """What one tick did and how long each step took (seconds)."""

    decided: int = 0
    skipped: int = 0
    missed: int = 0
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    feed_errors: dict[str, str] = dataclasses.field(default_factory=dict)

    def summary(self) -> str:
        steps = " ".join(f"{k}={v:.2f}s" for k, v in self.seconds.items())
        line = f"decided={self.decided} skipped={self.skipped} missed={self.missed} {steps}"
        failed = describe_failures(self.feed_errors)
        return f"{line}; {failed}" if failed else line


class LiveRunner:
    """Ticks over one lake; ``clock`` gives the time (a replay passes its own)."""

    def __init__(
        self,
        config: LiveConfig,
        *,
        clock: Callable[[], pd.Timestamp] = lambda: pd.Timestamp.now(tz="UTC"),
        scorer: Any = None,
    ) -> None:
        self.config = config
        self.lake = Lake(config.lake_root)
        self.clock = clock
        self.tracker = ChampionTracker(
            config.tracking_uri, config.model_name, config.alias, self.lake
        )
        self._scorer = scorer
        self._last_bar: Any = _UNREAD
        self._ticks = 0
        self.feeds = Feeds(config.feeds, config.landing_market, config.landing_news)
        for landing in (config.landing_market, config.landing_news):
            if "://" not in landing:  # fetchers fill them; empty until they do
                Path(landing).mkdir(parents=True, exist_ok=True)

    # -- one tick ---------------------------------------------------------------------

    def tick(self) -> TickReport:
        try:
            return self._tick()
        except BaseException:
            self._last_bar = _UNREAD  # a write may have landed: read the table again
            raise

    def _tick(self) -> TickReport:
        report = TickReport()
        self._ticks += 1
        if self.feeds.enabled:
            with _timed(report, "fetch"):
                report.feed_errors = self.feeds.poll(self.clock().to_pydatetime())
        with _timed(report, "champion"):
            before = self.tracker.champion
            if self.tracker.refresh() and before is not None:
                log.warning(
                    "champion swap: %s v%s decides from this tick on (was v%s)",
                    self.config.model_name,
                    self.tracker.champion.version,
                    before.version,
                )
        with _timed(report, "bronze"):
            ingest_market(self.config.landing_market, self.lake, only_new=True)
            news = ingest_news(self.config.landing_news, self.lake, only_new=True)
        with _timed(report, "sentiment"):
            self._score(news.partitions)
        rows = []
        with _timed(report, "decide"):
            for bar in self._pending_bars():
                rows.append(self._decide(bar, self.tracker.champion, report.feed_errors))
        with _timed(report, "write"):
            if rows:
                decisions.write(self.lake, rows)
                self._last_bar = max(pd.Timestamp(row["bar_time"]) for row in rows)
        every = self.config.compact_every
        if every and self._ticks % every == 0:
            with _timed(report, "compact"):
                self._compact()
        for row in rows:
            setattr(report, row["status"], getattr(report, row["status"]) + 1)
        return report

    def _score(self, partitions: list[str]) -> None:
        if not partitions:
            return
        if self._scorer is None:
            self._scorer = load_recorded_scorer(self.lake, self.config.sentiment_model)
        first, last = (dt.date.fromisoformat(p) for p in (min(partitions), max(partitions)))
        score_new_articles(self.lake, start=first, end=last, scorer=self._scorer)

    def _compact(self) -> None:
        """Compact the newest partitions of each table ticks append to; a failure is
        logged and tried again at the next compaction, never the tick's failure (the
        decisions are written by then)."""
        for table in COMPACTED:
            try:
                self.lake.compact(table, self.lake.partitions(table)[-2:])
            except Exception as exc:
                first = f"{type(exc).__name__}: {exc}".splitlines()[0]
                log.warning(
                    "cannot compact %s (tried again in %d ticks): %s",
                    table,
                    self.config.compact_every,
                    first,
                )

    def _pending_bars(self) -> list[pd.Timestamp]:
        """Bars whose candle is in bronze and that have no row yet, oldest first. Before
        the first row, only the newest bar (the live record starts now, not in the past)."""
        if self._last_bar is _UNREAD:
            self._last_bar = decisions.last_bar(self.lake, self.config.model_name)
        last, now = self._last_bar, self.clock()
        start = (last if last is not None else now - pd.Timedelta(days=1)).date()
        times = self.lake.read(tables.BRONZE_CANDLES, start, now.date(), columns=["time"])
        times = pd.DatetimeIndex(times["time"]).unique().sort_values()
        times = times[decision_time(times) <= now]
        if last is None:
            return list(times[-1:])
        return list(times[times > last])

    def _decide(
        self, bar: pd.Timestamp, champion: Champion | None, feed_errors: dict[str, str]
    ) -> dict:
        name, now = self.config.model_name, self.clock()
        closed = decision_time(bar)
        if (now - closed).total_seconds() > self.config.deadline_s:
            reason = f"not decided within {self.config.deadline_s:.0f} s of the bar's close"
            return decisions.row(bar, name, decisions.MISSED, reason)
        if champion is None:
            reason = self.tracker.last_error or "no champion loaded"
            return decisions.row(bar, name, decisions.SKIPPED, reason)
        versioned = {"model_version": champion.version, "model_run_id": champion.run_id}
        try:
            spec = self._spec(champion)
            inputs = bar_inputs(self.lake, bar, spec)
            values = inputs.features[champion.features]
            predicted = predict(champion, values, f"the bar {bar.isoformat()}")
        except (SignalUnavailableError, UserError) as exc:
            detail = getattr(exc, "detail", None) or str(exc)
            return decisions.row(bar, name, decisions.SKIPPED, detail, **versioned)
        news_time = inputs.news_data_time
        return decisions.row(
            bar,
            name,
            decisions.DECIDED,
            describe_failures(feed_errors),  # decided on what had landed; the lags say how old
            **versioned,
            sentiment_model_id=inputs.sentiment_model_id,
            feature_hash=feature_hash(values),
            features=features_json(values),
            predicted_return_bps=predicted,
            market_data_time=inputs.market_data_time,
            news_data_time=news_time,
            market_lag_s=(now - decision_time(inputs.market_data_time)).total_seconds(),
            news_lag_s=None if news_time is None else (now - news_time).total_seconds(),
        )

    def _spec(self, champion: Champion) -> FeatureSpec:
        """The training table's feature list, refused when it cannot feed ``champion``."""
        spec = read_feature_list(self.lake, self.config.feature_set)
        missing = sorted(set(champion.features) - {*spec.market_features, *spec.news_features})
        if missing:
            raise SignalUnavailableError(f"the feature list lacks the champion's {missing}")
        uses_news = any(f in spec.news_features for f in champion.features)
        if uses_news and spec.sentiment_model_id != champion.sentiment_model_id:
            raise SignalUnavailableError(
                f"news features come from {spec.sentiment_model_id!r} but the champion was "
                f"trained on {champion.sentiment_model_id!r}"
            )
        return spec

    # -- the loop -------------------------------------------------------------------

    def run(self, ticks: int | None = None) -> int:
        """Hold the lease, then tick every ``poll_s`` until ``ticks`` ran (None: forever);
        a failed tick is logged and retried after a capped exponential backoff. Returns
        how many of the last ticks failed in a row (0: the last one succeeded)."""
        with self.lease(self.config.lease_timeout_s):
            done, failures = 0, 0
            while ticks is None or done < ticks:
                began = time.monotonic()
                try:
                    summary = self.tick().summary()
                    failures = 0
                    log.info("live tick: %s", summary)
                except Exception as exc:
                    failures += 1
                    summary = f"{type(exc).__name__}: {exc}".splitlines()[0]
                    log.exception("live tick failed (%d in a row)", failures)
                self._beat(failures, summary)
                done += 1
                wait = self.config.poll_s * (2 ** min(failures, 6) if failures else 1)
                if ticks is None or done < ticks:
                    time.sleep(max(0.0, min(wait, MAX_BACKOFF_S) - (time.monotonic() - began)))
            return failures

    def _beat(self, failures: int, summary: str) -> None:
        """The heartbeat; a failure to write it is logged (the health check then reports
        the loop as down), never the end of the loop."""
        try:
            path = self.lake.local_path(health.HEARTBEAT)
            health.write_heartbeat(path, pd.Timestamp.now(tz="UTC"), failures, summary)
        except OSError as exc:
            log.warning("cannot write the live heartbeat: %s", exc)

    @contextlib.contextmanager
    def lease(self, timeout_s: float | None = None) -> Iterator[None]:
        """The one-writer lease on this lake's live decisions (local lakes: a file lock the
        kernel releases when its holder dies). A second process waits here, for
        ``timeout_s`` seconds at most (None: forever), then stops with a UserError."""
        if not self.lake.is_local:
            raise UserError(
                f"the live loop needs a local lake for its lease, not {self.lake.root}",
                "run it beside a local lake (the decisions table can be synced to S3)",
            )
        from filelock import FileLock, Timeout

        path = self.lake.local_path(LEASE)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path), timeout=-1 if timeout_s is None else timeout_s)
        log.info("waiting for the live lease %s", path)
        try:
            lock.acquire()
        except Timeout:
            raise UserError(
                f"another live process holds the lease {path} (waited {timeout_s:g} s)",
                "let that one decide: run either the live service or the scheduled "
                "sp500_live DAG on a lake, not both",
            ) from None
        try:
            log.info("holding the live lease")
            yield
        finally:
            lock.release()


@contextlib.contextmanager
def _timed(report: TickReport, step: str) -> Iterator[None]:
    began = time.perf_counter()
    try:
        yield
    finally:
        report.seconds[step] = time.perf_counter() - began
