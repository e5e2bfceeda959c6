"""Data-quality checks of one window: are the day's inputs what the model expects?

* ``bar_coverage`` per expected session: bars in bronze / the session's minutes in the
  window (the trading calendar the DAG uses, cash or full hours detected from bronze;
  CME's daily 16:00-17:00 Chicago maintenance halt is not a minute that should trade);
  no session at all is ``market_closed`` (ok).
* ``duplicate_rate`` / ``quarantine_rate`` per bronze table: of the records the window's
  ingest runs read (``monitoring/ingests``; the run's own ingests when ``run_ts`` is given).
* ``null_share`` per model feature in gold: above the share in the champion's training
  window by more than ``NULL_SHARE_EXCESS``.
* ``news_volume`` per session: articles available in the session / the median of the
  ``NEWS_TRAILING_SESSIONS`` sessions before (a drought, or a burst).
* ``label_share`` per sentiment label: against the champion's training window (a shift
  within 4 binomial standard errors of the day's article count never alarms).
* ``late_share`` per feed (the landing file's prefix: gdelt, gkg, rss, ...): articles whose
  ``available_at`` lags ``published_at`` more than the feed's usual (95th percentile)
  latency over the trailing sessions; about 5% is normal.
* ``row_parity``: silver features / complete bronze bars, gold training / silver features,
  scored articles / bronze articles.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from src_clean import tables
from src_clean.lake import Lake
from src_clean.market_sessions import (
    CASH_CALENDAR,
    Session,
    calendar_for,
    expected_sessions,
)
from src_clean.monitoring.checks import (
    BAR_COVERAGE,
    DUPLICATE_RATE,
    LABEL_SHARE_SHIFT,
    LATE_MIN_ARTICLES,
    LATE_SHARE,
    NEWS_TRAILING_SESSIONS,
    NEWS_VOLUME_HIGH,
    NEWS_VOLUME_LOW,
    NULL_SHARE_EXCESS,
    QUARANTINE_RATE,
    ROW_PARITY,
    Check,
    above,
    below,
)
from src_clean.monitoring.window import Window

QUALITY = "quality"
HALT = (dt.time(16), dt.time(17))  # CME Globex's daily maintenance halt, Chicago time
USUAL_LATENCY_QUANTILE = 0.95
FEED = re.compile(r"(?:^|/)([A-Za-z]+)[_-][^/]*$")


def sessions_in(
    lake: Lake,
    window: Window,
    calendar: str,
    hours: str,
    between: tuple[dt.datetime, dt.datetime] | None = None,
) -> tuple[str, list[Session]]:
    """The calendar the data follows (cash or full hours) and the sessions expected in
    ``between`` (a DAG run's data interval, as ``market_data`` reads it), else the window."""
    first, last = between or (window.first.to_pydatetime(), window.last.to_pydatetime())
    name, _ = calendar_for(lake.root, calendar, hours, last)
    return name, expected_sessions(name, first, last)


def halted_minutes(session: Session) -> float:
    """Minutes of CME Globex's daily maintenance halt (16:00-17:00 Chicago) inside
    ``session``: exchange_calendars' CME sessions run close to close without it."""
    chicago = ZoneInfo("America/Chicago")
    first = session.start.astimezone(chicago).date() - dt.timedelta(days=1)
    total = 0.0
    for offset in range((session.end - session.start).days + 3):
        day = first + dt.timedelta(days=offset)
        halt_start = dt.datetime.combine(day, HALT[0], chicago)
        halt_end = dt.datetime.combine(day, HALT[1], chicago)
        overlap = min(halt_end, session.end) - max(halt_start, session.start)
        total += max(overlap.total_seconds() / 60, 0.0)
    return total


def bar_coverage(lake: Lake, window: Window, sessions: list[Session], calendar: str) -> list[Check]:
    if not sessions:
        return [Check(QUALITY, "market_closed", "", 0.0, 0.0, "ok", "no session in the window")]
    bars = lake.read(tables.BRONZE_CANDLES, window.start, window.end, columns=["time"])["time"]
    checks = []
    for session in sessions:
        expected = (session.end - session.start) / pd.Timedelta(minutes=1)
        if calendar != CASH_CALENDAR:
            expected -= halted_minutes(session)
        found = int(((bars >= session.start) & (bars < session.end)).sum())
        share = found / expected if expected else 1.0
        status, threshold = below(share, BAR_COVERAGE)
        detail = f"{found} of {expected:.0f} minutes have a bar"
        checks.append(
            Check(QUALITY, "bar_coverage", str(session.label), share, threshold, status, detail)
        )
    return checks


def ingest_rates(lake: Lake, window: Window, run_ts: pd.Timestamp | None) -> list[Check]:
    runs = lake.read(tables.MONITORING_INGESTS)
    if run_ts is not None:
        runs = runs[runs["ingested_at"] == run_ts]
    else:
        runs = runs[window.holds(runs["ingested_at"])]
    checks = []
    for table, group in runs.groupby("table"):
        read = int(group["read"].sum())
        for name, column, limits in (
            ("duplicate_rate", "duplicates", DUPLICATE_RATE),
            ("quarantine_rate", "quarantined", QUARANTINE_RATE),
        ):
            count = int(group[column].sum())
            rate = count / read if read else 0.0
            status, threshold = above(rate, limits)
            detail = f"{count} of {read} records read in {len(group)} ingest run(s)"
            checks.append(Check(QUALITY, name, str(table), rate, threshold, status, detail))
    return checks


def non_finite(lake: Lake, window: Window) -> list[Check]:
    """``non_finite``: ±inf cells in the window's gold rows (NaN is a null, checked by
    ``null_share``). Any is a fail: a feature that overflowed is a bug upstream. The
    champion scores such a row with the cell as missing, so the day is still monitored."""
    gold = lake.read(tables.GOLD_TRAINING, window.start, window.end)
    if gold.empty:
        return []
    gold = gold[window.holds(gold["time"])]
    numeric = gold.select_dtypes("number")
    infinite = np.isinf(numeric.to_numpy(np.float64))
    counts = dict(zip(numeric.columns, infinite.sum(axis=0).tolist(), strict=True))
    found = {name: n for name, n in counts.items() if n}
    total = int(sum(found.values()))
    detail = (
        ", ".join(f"{name}: {n}" for name, n in sorted(found.items()))
        if found
        else f"none in {len(gold)} rows"
    )
    status = "fail" if total else "ok"
    return [Check(QUALITY, "non_finite", tables.GOLD_TRAINING, float(total), 0.0, status, detail)]


def null_shares(gold: pd.DataFrame, reference: pd.DataFrame, features: list[str]) -> list[Check]:
    checks = []
    for feature in features:
        if feature not in gold:
            checks.append(Check(QUALITY, "null_share", feature, 1.0, 0.0, "fail", "missing"))
            continue
        share = float(gold[feature].isna().mean()) if len(gold) else 0.0
        usual = float(reference[feature].isna().mean()) if feature in reference else 0.0
        status, excess = above(share - usual, NULL_SHARE_EXCESS)
        detail = f"{share:.2%} null (training window {usual:.2%})"
        checks.append(Check(QUALITY, "null_share", feature, share, usual + excess, status, detail))
    return checks


def news_volume(lake: Lake, window: Window, sessions: list[Session], calendar: str) -> list[Check]:
    if not sessions:
        return []
    first = sessions[0].start - dt.timedelta(days=2 * NEWS_TRAILING_SESSIONS)
    history = expected_sessions(calendar, first, sessions[0].start)
    history = history[-NEWS_TRAILING_SESSIONS:]
    lookup_start = min([s.start for s in history] + [sessions[0].start])
    news = lake.read(tables.BRONZE_NEWS, lookup_start.date(), window.end, columns=["available_at"])
    available = pd.to_datetime(news["available_at"], utc=True)

    def count(session: Session) -> int:
        return int(((available >= session.start) & (available < session.end)).sum())

    usual = float(np.median([count(s) for s in history])) if history else 0.0
    checks = []
    for session in sessions:
        n = count(session)
        if usual <= 0:
            checks.append(
                Check(
                    QUALITY,
                    "news_volume",
                    str(session.label),
                    float(n),
                    0.0,
                    "ok",
                    f"{n} articles; no trailing sessions to compare with",
                )
            )
            continue
        ratio = n / usual
        status, threshold = below(ratio, NEWS_VOLUME_LOW)
        if ratio > NEWS_VOLUME_HIGH:
            status, threshold = "warn", NEWS_VOLUME_HIGH
        detail = f"{n} articles, trailing median {usual:.0f} ({len(history)} sessions)"
        checks.append(
            Check(QUALITY, "news_volume", str(session.label), ratio, threshold, status, detail)
        )
    return checks


def label_shares(current: pd.Series, reference: pd.Series) -> list[Check]:
    if current.empty:
        return []
    now = current.value_counts(normalize=True)
    usual = reference.value_counts(normalize=True)
    checks = []
    for label in sorted(set(now.index) | set(usual.index)):
        share, before = float(now.get(label, 0.0)), float(usual.get(label, 0.0))
        # a few articles swing a share a lot: never alarm inside sampling noise
        noise = np.sqrt(max(before * (1 - before), 1e-6) / len(current))
        limits = (max(LABEL_SHARE_SHIFT[0], 4 * noise), max(LABEL_SHARE_SHIFT[1], 6 * noise))
        status, threshold = above(abs(share - before), limits)
        detail = f"{share:.1%} of {len(current)} scored articles (training window {before:.1%})"
        checks.append(Check(QUALITY, "label_share", str(label), share, threshold, status, detail))
    return checks


def feed_of(source_file: str) -> str:
    """A landing file's feed: its name's leading word (``gdelt_2024-01-02.jsonl.gz``)."""
    found = FEED.search(str(source_file))
    return found.group(1).lower() if found else "file"


def late_shares(lake: Lake, window: Window) -> list[Check]:
    start = (window.first - pd.Timedelta(days=2 * NEWS_TRAILING_SESSIONS)).date()
    columns = ["published_at", "available_at", "source_file"]
    news = lake.read(tables.BRONZE_NEWS, start, window.end, columns=columns)
    if news.empty:
        return []
    lag = pd.to_datetime(news["available_at"], utc=True) - pd.to_datetime(
        news["published_at"], utc=True
    )
    feeds = news["source_file"].map(feed_of)
    now = window.holds(news["available_at"])
    checks = []
    for feed in sorted(set(feeds[now])):
        before = lag[(feeds == feed) & ~now & (news["available_at"] < window.first)]
        if before.empty:
            continue
        usual = before.quantile(USUAL_LATENCY_QUANTILE)
        today = lag[(feeds == feed) & now]
        share = float((today > usual).mean())
        status, threshold = above(share, LATE_SHARE)
        detail = (
            f"{share:.1%} of {len(today)} articles later than the usual "
            f"{usual / pd.Timedelta(minutes=1):.1f} min"
        )
        if len(today) < LATE_MIN_ARTICLES:
            status = "ok"
            detail += f"; not enough articles to judge ({LATE_MIN_ARTICLES} needed)"
        checks.append(Check(QUALITY, "late_share", feed, share, threshold, status, detail))
    return checks


def row_parity(lake: Lake, window: Window, sentiment_model: str | None) -> list[Check]:
    def rows(table: str, columns: list[str]) -> pd.DataFrame:
        return lake.read(table, window.start, window.end, columns=columns)

    bars = rows(tables.BRONZE_CANDLES, ["time"])
    pairs = [
        ("silver_features/bronze_candles", len(rows(tables.SILVER_FEATURES, ["time"])), len(bars)),
        (
            "gold_training/silver_features",
            len(rows(tables.GOLD_TRAINING, ["time"])),
            len(rows(tables.SILVER_FEATURES, ["time"])),
        ),
    ]
    if sentiment_model:
        scored = rows(tables.SILVER_SENTIMENT, ["article_id", "model_id"])
        n_scored = int((scored["model_id"] == sentiment_model).sum())
        pairs.append(
            (
                "silver_sentiment/bronze_news",
                n_scored,
                len(rows(tables.BRONZE_NEWS, ["article_id"])),
            )
        )
    checks = []
    for subject, got, of in pairs:
        ratio = got / of if of else 1.0
        status, threshold = below(min(ratio, 2.0 - ratio), ROW_PARITY)
        checks.append(
            Check(QUALITY, "row_parity", subject, ratio, threshold, status, f"{got} of {of} rows")
        )
    return checks


def finite_or_missing(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ±inf in its numeric columns replaced by NaN (a missing value, as
    XGBoost and the drift tests read it); ``non_finite`` counts them first. A lake written
    by this version holds none (``Lake`` nulls them); an older writer's may."""
    numeric = frame.select_dtypes("number").columns
    return frame.assign(**{c: frame[c].replace([np.inf, -np.inf], np.nan) for c in numeric})
