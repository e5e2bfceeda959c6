"""GDELT DOC 2.0 articles into one gzipped JSON-lines file per UTC day: ``gdelt_<date>.jsonl.gz``.

Each request asks ``mode=ArtList&format=json&maxrecords=250&sort=DateAsc`` for one time slice
(``startdatetime``/``enddatetime``, ``YYYYMMDDHHMMSS``, both inclusive, so a slice ``[a, b)``
asks up to ``b - 1s``). The API returns at most 250 articles: a slice that comes back full is
split in halves, recursively, until every slice is under the cap. GDELT stamps articles in
15-minute batches, so a slice can stay full down to ``MIN_SLICE``; it is then kept and
reported as possibly truncated, never silently. ``{}`` is a valid empty answer.

GDELT asks for at most one request every 5 seconds (``--min-interval``); it answers excess
requests with 429 or a 200 text/HTML page, both retried with backoff. A plain-text answer
that is not a throttle message is GDELT rejecting the query: a ``UserError``.

A day file holds ``title``, ``url``, ``seendate``, ``domain``, ``language`` and
``sourcecountry`` as GDELT gives them (``bronze-news`` maps these names), deduplicated by
URL. A day is final once fetched ``SETTLE`` after it closed; final days are skipped.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import requests

from src_clean import __version__
from src_clean.acquisition.bodies import BodyFetcher
from src_clean.acquisition.http import (
    BadResponse,
    FetchFailed,
    HttpClient,
    RetryPolicy,
    fetch_session,
    snippet,
)
from src_clean.acquisition.landing import ONE_DAY, Landing, day_start, fetch_days, jsonl_gz
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
MIN_SLICE = dt.timedelta(minutes=1)
DEFAULT_MIN_INTERVAL_S = 5.0
# GDELT indexes in 15-minute batches: a day fetched this long after it closed is final.
SETTLE = dt.timedelta(minutes=30)
FIELDS = ("title", "url", "seendate", "domain", "language", "sourcecountry")
THROTTLE_TEXT = b"limit requests"
STAMP = "%Y%m%d%H%M%S"
USER_AGENT = f"sp500-news-signals/{__version__}"


def day_file(day: dt.date) -> str:
    return f"gdelt_{day.isoformat()}.jsonl.gz"


def retryable_body(response: requests.Response) -> str | None:
    """Why a 200 answer is an error page worth retrying (HTML or a throttle text), else None."""
    head = response.content[:1024].lstrip()
    if head[:1] == b"<" or "html" in response.headers.get("Content-Type", ""):
        return f"GDELT answered with an HTML page: {snippet(response.content)}"
    if THROTTLE_TEXT in head.lower():
        return f"GDELT throttled the request: {snippet(response.content)}"
    return None


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
    """The DOC 2.0 ArtList endpoint for one query."""

    def __init__(self, client: HttpClient, api_url: str, query: str) -> None:
        self.client, self.api_url, self.query = client, api_url, query

    def articles(self, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        """Articles seen in ``[start, end)`` (at most ``MAX_RECORDS``), checked."""
        last = end - dt.timedelta(seconds=1)
        params = {
            "query": self.query,
            "mode": "ArtList",
            "format": "json",
            "maxrecords": MAX_RECORDS,
            "sort": "DateAsc",
            "startdatetime": start.strftime(STAMP),
            "enddatetime": last.strftime(STAMP),
        }
        response = self.client.get(self.api_url, params, retryable_body=retryable_body)
        what = f"GDELT slice {params['startdatetime']}..{params['enddatetime']}"
        content = response.content
        if not content.lstrip().startswith(b"{"):
            raise UserError(f"GDELT rejected the query: {snippet(content)}", "check --query")
        try:
            body = json.loads(content, strict=False)  # titles may hold raw control characters
        except ValueError:
            raise BadResponse(f"{what}: not valid JSON", content) from None
        articles = body.get("articles", []) if isinstance(body, dict) else None
        if not isinstance(articles, list) or not all(
            isinstance(a, dict) and isinstance(a.get("url"), str) for a in articles
        ):
            raise BadResponse(f"{what}: not an ArtList answer", content)
        return [{field: a.get(field) for field in FIELDS} for a in articles]


def collect_slice(
    api: GdeltDoc,
    start: dt.datetime,
    end: dt.datetime,
    progress: Progress,
    truncated: list[dt.datetime],
) -> list[dict[str, Any]]:
    """Every article in ``[start, end)``: a full answer is split in halves until none is full."""
    batch = api.articles(start, end)
    progress.done(len(batch))
    if len(batch) < MAX_RECORDS:
        return batch
    if end - start <= MIN_SLICE:
        truncated.append(start)
        return batch
    middle = start + dt.timedelta(seconds=(end - start).total_seconds() // 2)
    progress.plan(2)
    return collect_slice(api, start, middle, progress, truncated) + collect_slice(
        api, middle, end, progress, truncated
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
) -> FetchReport:
    """Fetch ``start..end`` (inclusive UTC days) into ``out``; the per-day report."""
    days = fetch_days(start, end)
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
                _fetch_day(api, day, landing, report, progress, bodies)
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
) -> None:
    requested = dt.datetime.now(dt.UTC)
    requests_before, retries_before = api.client.requests, api.client.retries
    truncated: list[dt.datetime] = []
    found = collect_slice(api, day_start(day), day_start(day) + ONE_DAY, progress, truncated)
    articles = dedup_by_url(found)
    notes = [
        f"{api.client.requests - requests_before} requests",
        f"{api.client.retries - retries_before} retries",
    ]
    notes.append(f"{len(found) - len(articles)} duplicate URLs dropped")
    if truncated:
        first = truncated[0].strftime("%H:%M")
        width = f"{MIN_SLICE.total_seconds():.0f} s"
        notes.append(
            f"{len(truncated)} slice(s) still full at {width}, may be truncated (first {first} UTC)"
        )
    if bodies:
        notes.append(bodies.add_bodies(articles))
    final = requested >= day_start(day) + ONE_DAY + SETTLE
    note = "; ".join(notes)
    landing.save_day(day_file(day), jsonl_gz(articles), len(articles), final, note)
    report.wrote(day, len(articles))
    status = "final" if final else "not final"
    progress.line(
        f"{day}: {len(articles)} articles, {note}, {status} -> {landing.uri(day_file(day))}"
    )
