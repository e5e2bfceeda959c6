"""GDELT 2.0 GKG history into one gzipped JSON-lines file per UTC day: ``gkg_<date>.jsonl.gz``.

The DOC 2.0 API keeps about three months; the GKG files go back to 2015-02-18. For each
day, the day's 96 fifteen-minute ``*.gkg.csv.zip`` files named in GDELT's
``masterfilelist.txt`` are downloaded (``--workers`` at a time), each checked against the
list's size and MD5 (a mismatch is retried like a transient error), read row by row and
filtered (``gkg_format.GkgFilter``: US market themes and organisations by default). An
article is available at its batch time (``available_at``); ``published_at`` is the page's
precise publication time where GDELT has it, else the batch time. A URL seen in several
batches of a day keeps its first sighting.

The master list's GKG lines are cached in the landing folder's state and reused while they
already reach past the last day asked for, so a backfill of one run per day downloads the
130 MB list once, not once per day.

A day is written whole, or not at all: if one of its files cannot be had (still a
mismatch after the retries, a corrupt zip), the day is reported failed with the file and
why, nothing is written, and a rerun tries it again. A written day records in its note how
many batches GDELT never published, rows read, kept, not web and malformed; it is final
(skipped by reruns) once fetched ``SETTLE`` after it closed.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import logging
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from src_clean import __version__
from src_clean.acquisition.gkg_format import (
    BATCH,
    FIRST_BATCH,
    GkgFilter,
    MasterEntry,
    RowCounts,
    parse_master_list,
    parse_rows,
)
from src_clean.acquisition.http import ApiError, FetchFailed, HttpClient, RetryPolicy
from src_clean.acquisition.landing import (
    ONE_DAY,
    STATE_DIR,
    Landing,
    day_start,
    fetch_days,
    jsonl_gz,
)
from src_clean.acquisition.progress import Progress
from src_clean.acquisition.report import FetchReport
from src_clean.errors import UserError

log = logging.getLogger(__name__)

# bounds on what one GKG file may cost, whatever the server sends
SIZE_MARGIN = 64 * 1024  # over the master list's size: the body is corrupt
FILE_DEADLINE_S = 120.0  # per file, plus the size at MIN_BYTES_PER_S
MIN_BYTES_PER_S = 100_000
MAX_MEMBER_BYTES = 256 * 1024 * 1024  # unzipped (a real 15-minute file is 20-80 MB)
MAX_LINE_CHARS = 1024 * 1024  # a GKG row is a few KB; longer is malformed

MASTER_URL = "http://data.gdeltproject.org/gdeltv2/masterfilelist.txt"
DEFAULT_WORKERS = 4
SETTLE = dt.timedelta(minutes=30)
BATCHES_PER_DAY = int(ONE_DAY / BATCH)
USER_AGENT = f"sp500-news-signals/{__version__}"


def day_file(day: dt.date) -> str:
    return f"gkg_{day.isoformat()}.jsonl.gz"


def checked(entry: MasterEntry) -> Callable[[requests.Response], str | None]:
    """A ``retryable_body`` that retries a download whose size or MD5 is not the list's."""

    def problem(response: requests.Response) -> str | None:
        data = response.content
        if len(data) != entry.size:
            return f"{entry.url}: {len(data)} bytes, the master list says {entry.size}"
        digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if digest != entry.md5:
            return f"{entry.url}: MD5 {digest}, the master list says {entry.md5}"
        return None

    return problem


def master_cache_name(url: str) -> str:
    """The landing state file caching the GKG lines of the master list at ``url``."""
    digest = hashlib.sha1(url.encode(), usedforsecurity=False).hexdigest()[:12]
    return f"{STATE_DIR}/gkg-master-{digest}.txt.gz"


def _gkg_lines(content: bytes) -> list[str]:
    lines = io.TextIOWrapper(io.BytesIO(content), encoding="utf-8", errors="replace")
    return [line.strip() for line in lines if ".gkg.csv.zip" in line]


def master_list(
    client: HttpClient, url: str, landing: Landing, last_day: dt.date
) -> tuple[list[MasterEntry], str]:
    """The master list's GKG entries, and where they came from.

    The list (about 1.2 M lines, 130 MB by 2026) only grows, so its GKG lines are cached in
    the landing folder's state; a cached copy that already lists a batch past ``last_day``
    is as good as a fresh one, so a backfill run per day downloads it once, not per run."""
    cache = master_cache_name(url)
    hosts = [urlsplit(url).hostname or ""]
    cached = landing.read(cache)
    if cached is not None:
        try:
            lines = gzip.decompress(cached).decode().splitlines()
            entries = list(parse_master_list(lines, hosts))
        except (OSError, EOFError, UnicodeDecodeError):
            entries = []  # a damaged cache is downloaded again, never trusted
        if entries and max(e.batch for e in entries) >= day_start(last_day) + ONE_DAY:
            return entries, f"master list cached ({len(entries)} GKG files)"
    malformed: list[str] = []
    entries = list(parse_master_list(_gkg_lines(client.get(url).content), hosts, malformed))
    # parsed before it is cached: only lines that parse are kept, so a bad line the server
    # sent once never outlives the download that brought it
    kept = "\n".join(f"{e.size} {e.md5} {e.url}" for e in entries)
    landing.write(cache, gzip.compress(kept.encode(), mtime=0))
    origin = f"master list downloaded ({len(entries)} GKG files)"
    if malformed:
        log.warning(
            "master list %s: %d malformed GKG lines skipped, the first: %s",
            url,
            len(malformed),
            malformed[0],
        )
        origin += f", {len(malformed)} malformed lines skipped"
    return entries, origin


def master_entries(
    entries: list[MasterEntry], days: list[dt.date]
) -> dict[dt.date, list[MasterEntry]]:
    """The GKG files of ``days``, by day, in batch order."""
    wanted = set(days)
    by_day: dict[dt.date, list[MasterEntry]] = defaultdict(list)
    for entry in entries:
        if entry.batch.date() in wanted:
            by_day[entry.batch.date()].append(entry)
    return {day: sorted(found, key=lambda e: e.batch) for day, found in by_day.items()}


def read_batch(
    client: HttpClient, entry: MasterEntry, keep: GkgFilter
) -> tuple[list[dict[str, Any]], RowCounts, int]:
    """Download, verify and read one GKG file: its kept rows, counts and size."""
    response = client.get(
        entry.url,
        retryable_body=checked(entry),
        max_bytes=entry.size + SIZE_MARGIN,  # a larger body is corrupt: stop reading
        total_s=FILE_DEADLINE_S + entry.size / MIN_BYTES_PER_S,
    )
    counts = RowCounts()
    try:
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            [name] = archive.namelist()
            with archive.open(name) as raw:
                capped = CappedReader(raw, MAX_MEMBER_BYTES, entry.url)
                lines = io.TextIOWrapper(capped, encoding="utf-8", errors="replace", newline="\n")
                rows = list(
                    parse_rows(bounded_lines(lines, MAX_LINE_CHARS), entry.batch, keep, counts)
                )
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise FetchFailed(f"{entry.url}: not a readable GKG zip ({exc})") from exc
    return rows, counts, len(response.content)


class CappedReader(io.RawIOBase):
    """A binary stream that raises ``FetchFailed`` once more than ``limit`` bytes were read
    from it: a zip member's header can lie about its size (a bomb)."""

    def __init__(self, raw: Any, limit: int, what: str) -> None:
        self.raw, self.limit, self.what, self.read_bytes = raw, limit, what, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        self.read_bytes += len(data)
        if self.read_bytes > self.limit:
            raise FetchFailed(f"{self.what}: unzips to over {self.limit} bytes (a zip bomb?)")
        buffer[: len(data)] = data
        return len(data)


def bounded_lines(lines: io.TextIOBase, limit: int) -> Iterator[str]:
    """The lines of ``lines``; a line over ``limit`` characters is read past in pieces of
    ``limit`` and given as an empty line, which ``parse_rows`` counts as malformed, so no
    line ever needs more than ``limit`` characters of memory."""
    while line := lines.readline(limit):
        if len(line) < limit or line.endswith("\n"):
            yield line
            continue
        while (rest := lines.readline(limit)) and not rest.endswith("\n"):
            pass
        yield ""


def first_sightings(batches: list[list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    """Every article of ``batches`` (in batch order) whose URL was not seen before."""
    seen: set[str] = set()
    for rows in batches:
        for row in rows:
            if row["url"] not in seen:
                seen.add(row["url"])
                yield row


def fetch_gkg(
    out: str | Path,
    *,
    start: dt.date,
    end: dt.date,
    master_url: str = MASTER_URL,
    keep: GkgFilter | None = None,
    workers: int = DEFAULT_WORKERS,
    refetch: bool = False,
    policy: RetryPolicy | None = None,
    progress: Progress | None = None,
) -> FetchReport:
    """Fetch ``start..end`` (inclusive UTC days) of GKG history into ``out``."""
    days = fetch_days(start, end)
    if start < FIRST_BATCH.date():
        raise UserError(
            f"--start {start} is before GDELT 2.0's first GKG file ({FIRST_BATCH:%Y-%m-%d})",
            f"start on {FIRST_BATCH:%Y-%m-%d} or later",
        )
    keep = keep or GkgFilter()
    progress = progress or Progress("file", enabled=False)
    landing = Landing(out)
    report = FetchReport(f"fetch-news gdelt-gkg {start}..{end}")
    todo = [day for day in days if refetch or not landing.is_final(day_file(day))]
    for day in days:
        if day not in todo:
            report.skip(day)
    with ExitStack() as stack:
        clients = [_client(stack, policy, progress.retried, report) for _ in range(max(1, workers))]
        entries: dict[dt.date, list[MasterEntry]] = {}
        if todo:
            listed, origin = master_list(clients[0], master_url, landing, max(todo))
            entries = master_entries(listed, todo)
            progress.line(origin)
        with ThreadPoolExecutor(len(clients)) as pool:
            for day in todo:
                with landing.day_lock(day_file(day)):  # a concurrent fetch of it: wait
                    if not refetch and landing.is_final(day_file(day)):
                        report.skip(day)  # it fetched the day while this one waited
                        continue
                    _fetch_day(
                        day, entries.get(day, []), clients, pool, keep, landing, report, progress
                    )
    return report


def _client(
    stack: ExitStack, policy: RetryPolicy | None, on_retry: Any, report: FetchReport
) -> HttpClient:
    """One client per worker (a client's counters and rate limit are its own)."""
    client = HttpClient(
        "GDELT GKG", headers={"User-Agent": USER_AGENT}, policy=policy, on_retry=on_retry
    )

    def close() -> None:
        client.close()
        report.requests += client.requests
        report.retries += client.retries

    stack.callback(close)
    return client


def _fetch_day(
    day: dt.date,
    entries: list[MasterEntry],
    clients: list[HttpClient],
    pool: ThreadPoolExecutor,
    keep: GkgFilter,
    landing: Landing,
    report: FetchReport,
    progress: Progress,
) -> None:
    requested = dt.datetime.now(dt.UTC)
    progress.plan(len(entries))
    futures = [
        pool.submit(read_batch, clients[i % len(clients)], entry, keep)
        for i, entry in enumerate(entries)
    ]
    batches, counts, failures, megabytes = [], RowCounts(), [], 0.0
    for entry, future in zip(entries, futures, strict=True):
        try:
            rows, found, size = future.result()
        except (FetchFailed, ApiError) as exc:  # a missing or refused file fails its day only
            failures.append(f"{entry.batch:%H:%M}: {exc}")
            progress.done()
            continue
        batches.append(rows)
        counts.add(found)
        megabytes += size / 1e6
        progress.done(len(rows), megabytes=size / 1e6)
    if failures:
        reason = f"{len(failures)} of {len(entries)} GKG files failed (first {failures[0]})"
        report.fail(day, reason)
        progress.line(f"{day}: FAILED: {reason}; nothing written, a rerun retries the day")
        return
    articles = list(first_sightings(batches))
    missing = BATCHES_PER_DAY - len(entries)
    note = (
        f"{len(entries)} GKG files ({megabytes:.1f} MB), {missing} batches not published by "
        f"GDELT; rows {counts.rows}, kept {counts.kept}, not web {counts.not_web}, malformed "
        f"{counts.malformed}; {counts.kept - len(articles)} repeated URLs kept at first sighting; "
        f"cleaned: tone nulled {counts.tone_nulled}, publication time from the batch "
        f"{counts.time_from_batch}"
    )
    final = requested >= day_start(day) + ONE_DAY + SETTLE
    landing.save_day(day_file(day), jsonl_gz(articles), len(articles), final, note)
    report.wrote(day, len(articles))
    status = "final" if final else "not final"
    progress.line(
        f"{day}: {len(articles)} articles, {note}, {status} -> {landing.uri(day_file(day))}"
    )
