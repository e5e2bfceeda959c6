"""Bronze news ingest: raw article JSON / JSONL(.gz) files into ``bronze/news/articles``.

``python -m src_clean bronze-news --input PATH --lake DIR [--only-new] [--run-ts ISO]``

Input is a file, a folder (recursive) or an ``s3://`` prefix; ``news_formats`` says what
counts as a record. A file that cannot be read is reported (``files_failed``) and
quarantined at file level, never fatal. Rows are upserted on
``article_id`` into partitions by the UTC date of ``published_at``; the first
``ingested_at`` and ``available_at`` of an article are kept (a corrected ``published_at``
never makes it available earlier), so rerunning on the same input leaves the table
identical. Rejected records go to ``quarantine/bronze/news/articles`` with a reason.
Files are merged in batches of about ``--batch-articles`` records (default: what
``SP500_MEMORY_BUDGET_MB`` holds), one commit each, so memory stays bounded over years of
files and a killed ``--only-new`` ingest resumes after its last committed batch.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from src_clean import settings, tables
from src_clean.cli_args import add_lake_argument, positive_int
from src_clean.data_pipelines.bronze.ingest_log import log_ingest
from src_clean.data_pipelines.bronze.news_fields import to_articles
from src_clean.data_pipelines.bronze.news_formats import SUFFIXES, ParsedFile, parse_news_file
from src_clean.data_pipelines.bronze.quarantine import Rejected, file_rejection, write_quarantine
from src_clean.data_pipelines.bronze.sources import IngestLedger, InputFile, list_input_files
from src_clean.errors import UserError
from src_clean.lake import Lake
from src_clean.memory import articles_per_chunk
from src_clean.reports import IngestReport

BRONZE_NEWS_COLUMNS = list(tables.NEWS_SPEC.column_names)
log = logging.getLogger(__name__)


def _utc(ts: dt.datetime | None) -> pd.Timestamp:
    """``ts`` (naive read as UTC; default now) as a UTC nanosecond timestamp."""
    stamp = pd.Timestamp(ts if ts is not None else dt.datetime.now(dt.UTC))
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.as_unit("ns")


def _report(
    files: list[InputFile],
    parsed: list[ParsedFile],
    rejected: list[Rejected],
    valid: int,
    written: int,
) -> IngestReport:
    """Counts of one run: every record read is written, a duplicate, or quarantined."""
    return IngestReport(
        table=tables.BRONZE_NEWS,
        read=sum(p.records for p in parsed),
        written=written,
        duplicates=valid - written,
        quarantined=len(rejected),
        files=len(parsed),
        skipped_files=[p.skipped for p in parsed if p.skipped],
        quarantine_reasons=Counter(r.reason for r in rejected),
        files_failed={
            f.uri: _describe(p.failure) for f, p in zip(files, parsed, strict=True) if p.failure
        },
        files_truncated={
            f.uri: _describe(p.truncated) for f, p in zip(files, parsed, strict=True) if p.truncated
        },
    )


def _describe(entry: Rejected) -> str:
    return f"{entry.reason}: {entry.raw}" if entry.raw else entry.reason


def parse_safely(file: InputFile) -> ParsedFile:
    """``parse_news_file``; an unexpected error fails the file (reported), never the run."""
    try:
        return parse_news_file(file)
    except Exception as exc:  # a parser bug must not lose the other files
        log.exception("parsing %s failed", file.uri)
        reason = f"parser_error:{type(exc).__name__}"
        return ParsedFile(failure=file_rejection(file.uri, reason, str(exc)))


def _upsert(lake: Lake, articles: pd.DataFrame) -> list[str]:
    """Merge ``articles`` into bronze (first ``ingested_at`` kept); the partitions touched."""
    if articles.empty:
        return []
    return list(lake.upsert(tables.BRONZE_NEWS, articles[BRONZE_NEWS_COLUMNS]).partitions)


def first_availability(articles: pd.DataFrame) -> pd.DataFrame:
    """One row per ``article_id``: the last version's content with the earliest
    ``available_at`` (and its ``available_from``) any version of the batch had."""
    keys = list(tables.NEWS_SPEC.keys)
    latest = articles.drop_duplicates(keys, keep="last").set_index(keys)
    first = articles.sort_values("available_at", kind="stable").drop_duplicates(keys)
    seen = first.set_index(keys)[["available_at", "available_from"]]
    return latest.assign(**{c: seen[c].reindex(latest.index) for c in seen}).reset_index()


def ingest_news(
    input_path: str | Path,
    lake: Lake,
    *,
    only_new: bool = False,
    run_ts: dt.datetime | None = None,
    batch_articles: int | None = None,
) -> IngestReport:
    """Ingest raw news files under ``input_path`` into bronze; returns the balanced report.

    Duplicate ``article_id`` values within the run are counted and the last one wins.
    Files are parsed and merged in batches of about ``batch_articles`` records (default:
    what ``SP500_MEMORY_BUDGET_MB`` holds), one commit and one ledger entry per batch, so
    memory is bounded by the batch and a killed ingest resumes after its last batch
    (``--only-new``). An article met again in a later batch is merged like a rerun's.
    """
    ingested_at = _utc(run_ts)
    limit = batch_articles or articles_per_chunk(settings.current().memory_budget_mb)
    files = list_input_files(input_path, SUFFIXES)
    ledger = IngestLedger(lake, tables.BRONZE_NEWS)
    with ledger.lock() if only_new else contextlib.nullcontext():
        if only_new:
            files = ledger.new_files(files)
        report = IngestReport(table=tables.BRONZE_NEWS)
        for batch, parsed in _batches(files, limit):
            report = report.merged(_ingest_batch(batch, parsed, lake, ledger, ingested_at))
            log_ingest(lake, report, ingested_at)  # the counts so far: a kill keeps them
        if not files and not only_new:  # a run with no file to read logs nothing
            log_ingest(lake, report, ingested_at)
        return report


def _batches(
    files: list[InputFile], limit: int
) -> Iterator[tuple[list[InputFile], list[ParsedFile]]]:
    """``files`` parsed in order, in runs of at least one file and about ``limit`` records."""
    batch: list[InputFile] = []
    parsed: list[ParsedFile] = []
    held = 0
    for file in files:
        batch.append(file)
        parsed.append(parse_safely(file))
        held += parsed[-1].records
        if held >= limit:
            yield batch, parsed
            batch, parsed, held = [], [], 0
    if batch:
        yield batch, parsed


def _ingest_batch(
    files: list[InputFile],
    parsed: list[ParsedFile],
    lake: Lake,
    ledger: IngestLedger,
    ingested_at: pd.Timestamp,
) -> IngestReport:
    """Validate and merge one batch of parsed ``files``; record them in ``ledger``."""
    for file, outcome in zip(files, parsed, strict=True):
        for entry in (outcome.failure, outcome.truncated):
            if entry is not None:
                log.warning("%s: %s", file.uri, _describe(entry))
    articles, invalid = to_articles(row for p in parsed for row in p.rows)
    rejected = [r for p in parsed for r in p.rejected] + invalid
    file_entries = [e for p in parsed for e in (p.failure, p.truncated) if e is not None]
    unique = first_availability(articles).assign(ingested_at=ingested_at)
    write_quarantine(lake, tables.BRONZE_NEWS, [*rejected, *file_entries], ingested_at)
    report = _report(files, parsed, rejected, valid=len(articles), written=len(unique))
    report.partitions = _upsert(lake, unique)
    ledger.record([f for f, p in zip(files, parsed, strict=True) if p.failure is None])
    return report.check()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input", required=True, help="raw news file, folder or s3:// prefix (.json, .jsonl[.gz])"
    )
    add_lake_argument(parser)
    parser.add_argument(
        "--only-new", action="store_true", help="skip files this table has already ingested"
    )
    parser.add_argument(
        "--run-ts",
        type=dt.datetime.fromisoformat,
        default=None,
        help="ISO 8601 ingested_at for new articles (naive means UTC; default: now)",
    )
    parser.add_argument(
        "--batch-articles",
        type=positive_int,
        default=None,
        help="records merged per commit (default: what SP500_MEMORY_BUDGET_MB holds)",
    )


def main(args: argparse.Namespace) -> IngestReport:
    try:
        report = ingest_news(
            args.input,
            Lake(args.lake),
            only_new=args.only_new,
            run_ts=args.run_ts,
            batch_articles=args.batch_articles,
        )
    except FileNotFoundError as exc:
        raise UserError(str(exc), "check --input (a file or folder of article files)") from exc
    return report
