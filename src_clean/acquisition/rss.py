"""RSS/Atom feeds (feedparser) into one JSON-lines.gz file per UTC day, ``rss_<date>.jsonl.gz``.

``--feeds FILE`` lists one feed URL per line (``#`` starts a comment). Each feed is fetched
once, with the shared retry policy; each entry becomes ``title``, ``url``, ``published``
(ISO 8601 UTC, from the feed's date), ``domain``, ``language`` (the feed's, as an ISO 639-1
code), ``summary`` (tags stripped) and ``feed``. Entries are filed under the UTC day of
their date; days outside ``start..end`` are left out, and entries without any date are
counted and skipped (they could not be placed in time, so no feature could use them).

A feed is a snapshot of its latest items, so a day file is merged, not replaced: entries
already on file stay, new URLs are added. A feed that fails is reported and the others go on.
"""

from __future__ import annotations

import calendar
import datetime as dt
import html
import re
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import feedparser

from src_clean.acquisition.bodies import BodyFetcher
from src_clean.acquisition.gdelt import USER_AGENT, dedup_by_url
from src_clean.acquisition.http import ApiError, FetchFailed, HttpClient, RetryPolicy, fetch_session
from src_clean.acquisition.landing import Landing, fetch_days, jsonl_gz, read_jsonl_gz
from src_clean.acquisition.progress import Progress
from src_clean.acquisition.report import FetchReport
from src_clean.errors import UserError

TAG = re.compile(r"<[^>]+>")


def day_file(day: dt.date) -> str:
    return f"rss_{day.isoformat()}.jsonl.gz"


def read_feed_list(path: str | Path) -> list[str]:
    """Feed URLs from ``path``: one per line, blank lines and ``#`` comments ignored."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise UserError(f"cannot read --feeds {path}: {exc.strerror}") from None
    feeds = [line.split("#", 1)[0].strip() for line in lines]
    feeds = [feed for feed in feeds if feed]
    if not feeds:
        raise UserError(f"--feeds {path} lists no feed URLs", "one URL per line")
    return feeds


def _plain(text: str) -> str:
    return " ".join(html.unescape(TAG.sub(" ", text)).split())


def entry_record(entry: Any, feed_url: str, language: str) -> dict[str, Any] | None:
    """One entry as a landing record, or ``None`` when it has no date or no link."""
    moment = entry.get("published_parsed") or entry.get("updated_parsed")
    link = entry.get("link")
    if not moment or not link:
        return None
    published = dt.datetime.fromtimestamp(calendar.timegm(moment), dt.UTC)
    return {
        "title": _plain(entry.get("title", "")),
        "url": link,
        "published": published.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "domain": (urlsplit(link).hostname or "").removeprefix("www."),
        "language": language,
        "summary": _plain(entry.get("summary", "")),
        "feed": feed_url,
    }


def fetch_rss(
    out: str | Path,
    *,
    feeds: list[str],
    start: dt.date,
    end: dt.date,
    policy: RetryPolicy | None = None,
    progress: Progress | None = None,
    bodies: BodyFetcher | None = None,
) -> FetchReport:
    """Fetch every feed once and merge its entries dated ``start..end`` into day files."""
    fetch_days(start, end)
    progress = progress or Progress("feed", enabled=False)
    report = FetchReport(f"fetch-news rss {start}..{end} ({len(feeds)} feeds)")
    by_day: dict[dt.date, list[dict[str, Any]]] = defaultdict(list)
    progress.plan(len(feeds))
    headers = {"User-Agent": USER_AGENT}
    with fetch_session(
        report, "RSS", headers=headers, policy=policy, on_retry=progress.retried
    ) as client:
        for feed in feeds:
            try:
                records, undated = _read_feed(client, feed)
            except (FetchFailed, ApiError) as exc:
                report.fail(feed, str(exc))
                progress.line(f"{feed}: FAILED: {exc}")
                progress.done()
                continue
            dated = [
                r for r in records if start.isoformat() <= r["published"][:10] <= end.isoformat()
            ]
            for record in dated:
                by_day[dt.date.fromisoformat(record["published"][:10])].append(record)
            progress.done(len(dated))
            progress.line(
                f"{feed}: {len(records)} entries, {len(dated)} in range, {undated} without a date"
            )
    landing = Landing(out)
    for day in sorted(by_day):
        _merge_day(landing, day, by_day[day], report, progress, bodies)
    return report


def _read_feed(client: HttpClient, feed: str) -> tuple[list[dict[str, Any]], int]:
    """The feed's records and how many entries had no date or link."""
    response = client.get(feed)
    parsed = feedparser.parse(
        response.content, response_headers={"content-type": response.headers.get("Content-Type")}
    )
    if parsed.bozo and not parsed.entries:
        raise FetchFailed(f"not an RSS/Atom feed: {parsed.get('bozo_exception')}")
    language = (parsed.feed.get("language") or "").split("-")[0].lower()
    records = [entry_record(e, feed, language) for e in parsed.entries]
    return [r for r in records if r], sum(r is None for r in records)


def _merge_day(
    landing: Landing,
    day: dt.date,
    new: list[dict[str, Any]],
    report: FetchReport,
    progress: Progress,
    bodies: BodyFetcher | None,
) -> None:
    """Add the new URLs of ``day`` to its file (entries on file stay as they are)."""
    existing_bytes = landing.read(day_file(day))
    existing = read_jsonl_gz(existing_bytes) if existing_bytes else []
    known = {r["url"] for r in existing}
    added = [r for r in dedup_by_url(new) if r["url"] not in known]
    note = f"{len(added)} new, {len(existing)} on file"
    if bodies and added:
        note += "; " + bodies.add_bodies(added)
    merged = existing + added
    landing.save_day(day_file(day), jsonl_gz(merged), len(merged), final=False, note=note)
    report.wrote(day, len(merged))
    progress.line(f"{day}: {len(merged)} entries ({note}) -> {landing.uri(day_file(day))}")
