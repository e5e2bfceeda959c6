"""GDELT DOC 2.0 articles into one gzipped JSON-lines file per UTC day: ``gdelt_<date>.jsonl.gz``.

Each request asks ``mode=ArtList&format=json&maxrecords=250&sort=DateAsc`` for one time slice
(``startdatetime``/``enddatetime``, ``YYYYMMDDHHMMSS``, both inclusive, so a slice ``[a, b)``
asks up to ``b - 1s``). The API returns at most 250 articles. GDELT indexes in 15-minute
batches (every ``seendate`` is a batch time), so a slice that comes back full is split at
the 15-minute boundary nearest its middle, recursively; a single batch still full is kept,
and its true size is asked once (``mode=TimelineVolRaw``) so the day's line says
"truncated: 250 of N". Splitting finer could never help.

GDELT asks for at most one request every 5 seconds (``--min-interval``). How its answers
are read (blank, throttled, a rejected query, invalid escapes) is ``gdelt_answers``.

**History window.** The DOC API searches a rolling window of about the last 3 months
(GDELT's DOC 2.0 announcement: "the last 3 months"; an older day answers ``{}``). Days
older than ``DOC_WINDOW`` are refused up front with a pointer to ``--source gdelt-gkg``;
an empty answer for a day older than ``EMPTY_TRUSTED_FOR`` is saved but never final (the
day may have slipped out of the window, or GDELT was behind), so a rerun asks again.

**Latest batches (the live loop).** ``fetch_latest`` asks for ``[now - lookback, now)`` and
merges the articles it has not seen into ``gdelt-live_<date>.jsonl.gz`` (the day it asked),
each stamped ``collected_at``: when this process first had it. ``bronze-news`` takes that
as the article's availability, so a bar is decided with the articles that had arrived by
its close, not with those GDELT dated earlier but served later.

A day file holds ``title``, ``url``, ``seendate``, ``domain``, ``language`` and
``sourcecountry`` as GDELT gives them (``bronze-news`` maps these names), deduplicated by
URL. A day is final once fetched ``SETTLE`` after it closed; final days are skipped.
"""

from __future__ import annotations

import datetime as dt
import zlib
from pathlib import Path
from typing import Any

from src_clean import __version__
from src_clean.acquisition.bodies import BodyFetcher
from src_clean.acquisition.gdelt_answers import load_answer, retryable_body
from src_clean.acquisition.http import (
    BadResponse,
    FetchFailed,
    HttpClient,
    RetryPolicy,
    fetch_session,
)
from src_clean.acquisition.landing import (
    ONE_DAY,
    Landing,
    day_start,
    fetch_days,
    jsonl_gz,
    read_jsonl_gz,
)
from src_clean.acquisition.progress import Progress
from src_clean.acquisition.report import FetchReport
from src_clean.errors import UserError

API_URL = "https://api.gdeltproject.org/api/v2/doc/doc"
# S&P 500 and US market news in English; GDELT DOC 2.0 query syntax (OR needs parentheses).
DEFAULT_QUERY = (
    '("S&P 500" OR "stock market" OR "Wall Street" OR "Dow Jones" OR "Nasdaq" OR '
    '"Federal Reserve") sourcelang:english'
)
MAX_RECORDS = 250
BATCH = dt.timedelta(minutes=15)  # GDELT's indexing interval: the finest useful slice
DEFAULT_MIN_INTERVAL_S = 5.0
# GDELT indexes in 15-minute batches: a day fetched this long after it closed is final.
SETTLE = dt.timedelta(minutes=30)
DOC_WINDOW = dt.timedelta(days=90)  # "about the last 3 months"
EMPTY_TRUSTED_FOR = dt.timedelta(days=3)  # an empty answer for an older day is not final
FIELDS = ("title", "url", "seendate", "domain", "language", "sourcecountry")
STAMP = "%Y%m%d%H%M%S"
USER_AGENT = f"sp500-news-signals/{__version__}"


def day_file(day: dt.date) -> str:
    return f"gdelt_{day.isoformat()}.jsonl.gz"


def oldest_day(now: dt.datetime) -> dt.date:
    """The oldest UTC day the DOC API still searches at ``now``."""
    return (now - DOC_WINDOW).date()


def dedup_by_url(articles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first article of each URL, in order."""
    seen: set[str] = set()
    unique = []
    for article in articles:
        if article["url"] not in seen:
            seen.add(article["url"])
            unique.append(article)
    return unique


class GdeltDoc:
    """The DOC 2.0 endpoint for one query; counts the invalid escapes it repaired."""

    def __init__(self, client: HttpClient, api_url: str, query: str) -> None:
        self.client, self.api_url, self.query = client, api_url, query
        self.repaired = 0

    def _get(self, mode: str, start: dt.datetime, end: dt.datetime, **extra: Any) -> Any:
        """The JSON answer of ``mode`` over ``[start, end)``."""
        params = {
            "query": self.query,
            "mode": mode,
            "format": "json",
            "startdatetime": start.strftime(STAMP),
            "enddatetime": (end - dt.timedelta(seconds=1)).strftime(STAMP),
            **extra,
        }
        response = self.client.get(self.api_url, params, retryable_body=retryable_body)
        try:
            body, repaired = load_answer(response.content)
        except ValueError:
            what = f"GDELT {mode} {params['startdatetime']}..{params['enddatetime']}"
            raise BadResponse(f"{what}: not valid JSON", response.content) from None
        self.repaired += repaired
        return body

    def articles(self, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        """Articles seen in ``[start, end)`` (at most ``MAX_RECORDS``), checked."""
        body = self._get("ArtList", start, end, maxrecords=MAX_RECORDS, sort="DateAsc")
        articles = body.get("articles", []) if isinstance(body, dict) else None
        if not isinstance(articles, list) or not all(
            isinstance(a, dict) and isinstance(a.get("url"), str) for a in articles
        ):
            what = f"GDELT slice {start:%Y%m%d%H%M%S}..{end:%Y%m%d%H%M%S}"
            raise BadResponse(f"{what}: not an ArtList answer", str(body).encode())
        return [{field: a.get(field) for field in FIELDS} for a in articles]

    def volume(self, start: dt.datetime, end: dt.datetime) -> int | None:
        """How many articles match in ``[start, end)`` (``TimelineVolRaw``), None if unknown."""
        try:
            body = self._get("TimelineVolRaw", start, end, timelinesmooth=0)
            points = body["timeline"][0]["data"]
            return int(sum(point["value"] for point in points))
        except (FetchFailed, LookupError, TypeError, ValueError):
            return None


def split_point(start: dt.datetime, end: dt.datetime) -> dt.datetime | None:
    """The 15-minute boundary nearest the middle of ``[start, end)`` (``start`` on a
    boundary), None for a single batch."""
    batches = (end - start) // BATCH
    return start + BATCH * (batches // 2) if batches > 1 else None


def collect_slice(
    api: GdeltDoc,
    start: dt.datetime,
    end: dt.datetime,
    progress: Progress,
    truncated: dict[dt.datetime, int | None],
) -> list[dict[str, Any]]:
    """Every article in ``[start, end)``: a full answer is split at batch boundaries until
    none is full; a full single batch is kept and its true size recorded in ``truncated``."""
    batch = api.articles(start, end)
    progress.done(len(batch))
    if len(batch) < MAX_RECORDS:
        return batch
    middle = split_point(start, end)
    if middle is None:
        truncated[start] = api.volume(start, end)
        return batch
    progress.plan(2)
    return collect_slice(api, start, middle, progress, truncated) + collect_slice(
        api, middle, end, progress, truncated
    )


def describe_truncated(truncated: dict[dt.datetime, int | None]) -> str:
    """``"2 15-minute batch(es) truncated: 15:00 (250 of 412), ..."``."""
    parts = [
        f"{batch:%H:%M} ({MAX_RECORDS} of {'over ' + str(MAX_RECORDS) if n is None else n})"
        for batch, n in sorted(truncated.items())
    ]
    return f"{len(parts)} 15-minute batch(es) truncated at {MAX_RECORDS}: " + ", ".join(parts)


def check_window(days: list[dt.date], now: dt.datetime) -> None:
    """``UserError`` when a day is older than the DOC API's rolling window."""
    oldest = oldest_day(now)
    if days and days[0] < oldest:
        raise UserError(
            f"GDELT's DOC API only searches about the last 3 months (from {oldest}); "
            f"{days[0]}..{min(days[-1], oldest - ONE_DAY)} is older",
            "fetch history with --source gdelt-gkg (GDELT 2.0 GKG files, since 2015-02-18)",
        )


def fetch_gdelt(
    out: str | Path,
    *,
    start: dt.date,
    end: dt.date,
    api_url: str = API_URL,
    query: str = DEFAULT_QUERY,
    min_interval_s: float = DEFAULT_MIN_INTERVAL_S,
    refetch: bool = False,
    policy: RetryPolicy | None = None,
    progress: Progress | None = None,
    bodies: BodyFetcher | None = None,
    now: dt.datetime | None = None,
) -> FetchReport:
    """Fetch ``start..end`` (inclusive UTC days) into ``out``; the per-day report.

    ``now`` (default: the clock) dates the history window and the finality of days."""
    days = fetch_days(start, end)
    check_window(days, now or dt.datetime.now(dt.UTC))
    progress = progress or Progress("req", enabled=False)
    landing = Landing(out)
    report = FetchReport(f"fetch-news gdelt {start}..{end}")
    options = {"policy": policy, "min_interval_s": min_interval_s, "on_retry": progress.retried}
    with fetch_session(report, "GDELT", headers={"User-Agent": USER_AGENT}, **options) as client:
        api = GdeltDoc(client, api_url, query)
        for day in days:
            if not refetch and landing.is_final(day_file(day)):
                report.skip(day)
                continue
            progress.plan(1)
            try:
                _fetch_day(api, day, landing, report, progress, bodies, now)
            except FetchFailed as exc:
                report.fail(day, str(exc))
                progress.line(f"{day}: FAILED: {exc}")
    return report


def _fetch_day(
    api: GdeltDoc,
    day: dt.date,
    landing: Landing,
    report: FetchReport,
    progress: Progress,
    bodies: BodyFetcher | None,
    now: dt.datetime | None,
) -> None:
    requested = now or dt.datetime.now(dt.UTC)
    requests_before, retries_before = api.client.requests, api.client.retries
    repaired_before = api.repaired
    truncated: dict[dt.datetime, int | None] = {}
    found = collect_slice(api, day_start(day), day_start(day) + ONE_DAY, progress, truncated)
    articles = dedup_by_url(found)
    repaired = api.repaired - repaired_before
    notes = [
        f"{api.client.requests - requests_before} requests",
        f"{api.client.retries - retries_before} retries",
        f"{len(found) - len(articles)} duplicate URLs dropped",
    ]
    if repaired:
        notes.append(f"{repaired} invalid JSON escapes repaired")
        report.count("invalid JSON escapes repaired", repaired)
    if truncated:
        notes.append(describe_truncated(truncated))
        report.count("15-minute batches truncated", len(truncated))
    if bodies:
        notes.append(bodies.add_bodies(articles))
    closed_at = day_start(day) + ONE_DAY
    final = requested >= closed_at + SETTLE
    if not articles and requested >= closed_at + EMPTY_TRUSTED_FOR:
        final = False
        notes.append(
            "no articles for a day this old: kept not final (GDELT may have been behind, or "
            "the day left the DOC API's window; --source gdelt-gkg has history)"
        )
        report.count("empty days not final", 1)
    note = "; ".join(notes)
    landing.save_day(day_file(day), jsonl_gz(articles), len(articles), final, note)
    report.wrote(day, len(articles))
    status = "final" if final else "not final"
    progress.line(
        f"{day}: {len(articles)} articles, {note}, {status} -> {landing.uri(day_file(day))}"
    )


LIVE_PREFIX = "gdelt-live_"
LIVE_LOOKBACK = dt.timedelta(minutes=30)  # two batches: GDELT publishes a batch minutes late


def live_day_file(day: dt.date) -> str:
    return f"{LIVE_PREFIX}{day.isoformat()}.jsonl.gz"


def fetch_latest(
    out: str | Path,
    *,
    now: dt.datetime,
    lookback: dt.timedelta = LIVE_LOOKBACK,
    api_url: str = API_URL,
    query: str = DEFAULT_QUERY,
    min_interval_s: float = DEFAULT_MIN_INTERVAL_S,
    policy: RetryPolicy | None = None,
) -> FetchReport:
    """The articles of ``[now - lookback, now)`` not yet in today's live file, appended to
    it with ``collected_at`` = ``now``; ``FetchFailed`` when GDELT could not be read. The
    slice starts on a 15-minute batch boundary (a full answer is split on them)."""
    start = now - lookback
    start -= (start - start.replace(minute=0, second=0, microsecond=0)) % BATCH
    report = FetchReport(f"fetch-news gdelt latest {start:%H:%M}..{now:%H:%M}")
    options = {"policy": policy, "min_interval_s": min_interval_s}
    with fetch_session(report, "GDELT", headers={"User-Agent": USER_AGENT}, **options) as client:
        api = GdeltDoc(client, api_url, query)
        truncated: dict[dt.datetime, int | None] = {}
        progress = Progress("req", enabled=False)
        found = dedup_by_url(collect_slice(api, start, now, progress, truncated))
    if truncated:
        report.count("15-minute batches truncated", len(truncated))
    landing, name = Landing(out), live_day_file(now.date())
    held = _held(landing, name, report)
    seen = {article.get("url") for article in held}
    stamp = now.isoformat(timespec="seconds").replace("+00:00", "Z")
    new = [a | {"collected_at": stamp} for a in found if a["url"] not in seen]
    if new:
        landing.save_day(name, jsonl_gz(held + new), len(held) + len(new), final=False)
    report.wrote(now.date(), len(new))
    return report


def _held(landing: Landing, name: str, report: FetchReport) -> list[dict[str, Any]]:
    """The live file's articles; a damaged one is set aside (``<name>.damaged``, which
    ``bronze-news`` does not read: what it held was ingested when it was whole) and
    counted, and the day starts a new file."""
    data = landing.read(name)
    if data is None:
        return []
    try:
        return read_jsonl_gz(data)
    except (OSError, EOFError, ValueError, zlib.error):
        landing.write(f"{name}.damaged", data)
        report.count("damaged live files set aside", 1)
        return []
