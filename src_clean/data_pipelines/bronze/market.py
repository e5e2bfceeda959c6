"""Bronze market ingest: raw M1 candle files -> ``bronze/market/candles``.

``python -m src_clean bronze-market --input PATH --lake DIR [--timezone TZ] [--delimiter D]
[--only-new]``

Accepts OANDA v20 candles (``mid`` or ``bid``/``ask``, bare or wrapped in the API response),
flat NDJSON, and CSV with or without a header, any of them gzipped; the format is detected
per file. Bad records are quarantined with a reason, never fatal; a file that cannot be
read is reported (``files_failed``) and quarantined at file level; duplicates within a
run keep the last one; the table is upserted on (instrument, time), so reruns are
idempotent.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from src_clean import tables
from src_clean.cli_args import add_lake_argument
from src_clean.data_pipelines.bronze.ingest_log import log_ingest
from src_clean.data_pipelines.bronze.market_parse import (
    CSV_DELIMITERS,
    INPUT_SUFFIXES,
    ParsedCandles,
    parse_file,
)
from src_clean.data_pipelines.bronze.market_validate import Checked, validate
from src_clean.data_pipelines.bronze.quarantine import Rejected, file_rejection, write_quarantine
from src_clean.data_pipelines.bronze.sources import IngestLedger, InputFile, list_input_files
from src_clean.errors import UserError
from src_clean.lake import Lake
from src_clean.reports import IngestReport

log = logging.getLogger(__name__)

# Files are parsed one by one but validated in batches of about this many records:
# vectorized checks cost per call, and 1,800 daily files are cheaper checked together.
BATCH_RECORDS = 200_000


def ingest_market(
    input_path: str | Path,
    lake: Lake,
    *,
    timezone: str = "UTC",
    instrument: str = "SPX500_USD",
    granularity: str = "M1",
    only_new: bool = False,
    run_ts: dt.datetime | None = None,
    delimiter: str | None = None,
) -> IngestReport:
    """Ingest the candle files at ``input_path`` (file, folder or ``s3://`` prefix) into bronze.

    Raises ``FileNotFoundError`` for a missing input and ``ZoneInfoNotFoundError`` for an
    unknown ``timezone``; bad records and unreadable files are quarantined instead.
    ``delimiter`` fixes the CSV delimiter (default: sniffed per file).
    """
    ZoneInfo(timezone)  # fail on an unknown zone before reading anything
    options = {"timezone": timezone, "instrument": instrument, "granularity": granularity}
    run_ts = run_ts or dt.datetime.now(dt.UTC)
    files = list_input_files(input_path, INPUT_SUFFIXES)
    ledger = IngestLedger(lake, tables.BRONZE_CANDLES)
    with ledger.lock() if only_new else contextlib.nullcontext():
        todo = ledger.new_files(files) if only_new else files
        return _ingest(files, todo, lake, ledger, run_ts, only_new, delimiter, **options)


def _ingest(
    files: list[InputFile],
    todo: list[InputFile],
    lake: Lake,
    ledger: IngestLedger,
    run_ts: dt.datetime,
    only_new: bool,
    delimiter: str | None,
    **options: str,
) -> IngestReport:
    """Ingest ``todo`` (of ``files``); record them in ``ledger`` when ``only_new`` and log
    the counts (an ``only_new`` run with no new file logs nothing)."""
    report = IngestReport(table=tables.BRONZE_CANDLES, files=len(todo))
    report.skipped_files = sorted({f.uri for f in files} - {f.uri for f in todo})

    candles, rejected, file_entries = [], [], []
    for batch in _record_batches(todo, report, rejected, file_entries, delimiter):
        checked = validate_safely(batch, **options)
        report.read += len(batch)
        report.incomplete += checked.incomplete
        candles.append(checked.candles)
        rejected.extend(checked.rejected)

    unique, report.duplicates = _last_per_key(candles)
    report.written = len(unique)
    report.quarantined = len(rejected)
    report.quarantine_reasons = Counter(r.reason for r in rejected)
    report.partitions = _write(lake, unique)
    write_quarantine(lake, tables.BRONZE_CANDLES, [*rejected, *file_entries], run_ts)
    if only_new:
        ledger.record([f for f in todo if f.uri not in report.files_failed])
    if todo or not only_new:
        log_ingest(lake, report.check(), pd.Timestamp(run_ts))
    return report


def _record_batches(
    files: list[InputFile],
    report: IngestReport,
    rejected: list[Rejected],
    file_entries: list[Rejected],
    delimiter: str | None,
) -> Iterator[pd.DataFrame]:
    """Parsed records of ``files`` in order, concatenated into batches of ~BATCH_RECORDS.

    Lines rejected before decoding go to ``rejected`` (and count as read); file-level
    failures and truncations go to the report and ``file_entries``.
    """
    pending: list[pd.DataFrame] = []
    size = 0
    for file in files:
        parsed = _parse_safely(file, delimiter)
        log.debug("parsed %s: %d records", file.uri, parsed.read)
        report.read += len(parsed.rejected)
        rejected.extend(parsed.rejected)
        for entry, outcome in (
            (parsed.failure, report.files_failed),
            (parsed.truncated, report.files_truncated),
        ):
            if entry is not None:
                outcome[file.uri] = f"{entry.reason}: {entry.raw}".rstrip(": ")
                file_entries.append(entry)
                log.warning("%s: %s", file.uri, outcome[file.uri])
        if len(parsed.records):
            pending.append(parsed.records)
            size += len(parsed.records)
        if size >= BATCH_RECORDS:
            yield pd.concat(pending, ignore_index=True)
            pending, size = [], 0
    if pending:
        yield pd.concat(pending, ignore_index=True)


def _parse_safely(file: InputFile, delimiter: str | None) -> ParsedCandles:
    """``parse_file``; an unexpected error fails the file (reported), never the run."""
    try:
        return parse_file(file, delimiter)
    except Exception as exc:  # a parser bug must not lose the other files
        log.exception("parsing %s failed", file.uri)
        failure = file_rejection(file.uri, f"parser_error:{type(exc).__name__}", str(exc))
        return ParsedCandles(pd.DataFrame(), failure=failure)


def validate_safely(batch: pd.DataFrame, **options: str) -> Checked:
    """``validate``; when it raises, the batch is halved until the records that make it raise
    are alone, and those are quarantined as ``parser_error:<exception>``.

    The precise checks in ``validate`` should leave nothing for this net to catch; it
    exists so that an input class nobody foresaw costs one record, not the run.
    """
    try:
        return validate(batch, **options)
    except Exception as exc:
        if len(batch) == 1:
            return Checked(pd.DataFrame(), [_parser_error(batch.iloc[0], exc)], 0)
    middle = len(batch) // 2
    halves = [
        validate_safely(part.reset_index(drop=True), **options)
        for part in (batch.iloc[:middle], batch.iloc[middle:])
    ]
    return Checked(
        candles=pd.concat([h.candles for h in halves if len(h.candles)] or [pd.DataFrame()]),
        rejected=[r for h in halves for r in h.rejected],
        incomplete=sum(h.incomplete for h in halves),
    )


def _parser_error(record: pd.Series, exc: Exception) -> Rejected:
    log.warning("%s record %s: unexpected %r", record["source_file"], record["record_number"], exc)
    raw = record["raw"]
    raw = raw if isinstance(raw, str) else json.dumps(raw, default=str)
    reason = f"parser_error:{type(exc).__name__}"
    return Rejected.of(
        record["source_file"],
        record["record_number"],
        reason,
        raw,
        record_index=record["record_index"],
    )


def _last_per_key(candles: list[pd.DataFrame]) -> tuple[pd.DataFrame, int]:
    """One candle per (instrument, time), the last in input order, and how many were dropped."""
    candles = [frame for frame in candles if len(frame)]
    if not candles:
        return pd.DataFrame(), 0
    combined = pd.concat(candles, ignore_index=True)
    duplicated = combined.duplicated(list(tables.CANDLES_SPEC.keys), keep="last")
    return combined[~duplicated].reset_index(drop=True), int(duplicated.sum())


def _write(lake: Lake, candles: pd.DataFrame) -> list[str]:
    """Upsert ``candles`` into bronze (new rows win per key); the partitions touched."""
    if candles.empty:
        return []
    return list(lake.upsert(tables.BRONZE_CANDLES, candles).partitions)


# -- CLI --------------------------------------------------------------------------------


def _utc_timestamp(text: str) -> dt.datetime:
    """``--run-ts``: ISO 8601; a naive value is taken as UTC."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _delimiter(text: str) -> str:
    """``--delimiter``: one of ``CSV_DELIMITERS`` (``tab`` or ``\\t`` for a tab)."""
    value = {"tab": "\t", "\\t": "\t"}.get(text.lower(), text)
    if value not in CSV_DELIMITERS:
        raise argparse.ArgumentTypeError(f"unsupported delimiter: {text!r} (use , ; | or tab)")
    return value


def _time_zone(name: str) -> str:
    """``--timezone``: an IANA zone name."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"unknown time zone: {name!r}") from exc
    return name


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``bronze-market`` options."""
    parser.add_argument("--input", required=True, help="candle file, folder or s3:// prefix")
    add_lake_argument(parser)
    parser.add_argument(
        "--timezone",
        type=_time_zone,
        default="UTC",
        help="zone of naive timestamps, e.g. America/New_York",
    )
    parser.add_argument("--instrument", default="SPX500_USD", help="when a record has none")
    parser.add_argument("--granularity", default="M1", help="expected candle granularity")
    parser.add_argument("--only-new", action="store_true", help="skip files ingested before")
    parser.add_argument(
        "--delimiter",
        type=_delimiter,
        default=None,
        help="CSV delimiter: , ; | or tab (default: sniffed per file)",
    )
    parser.add_argument(
        "--run-ts", type=_utc_timestamp, default=None, help="run time (ISO), for quarantine"
    )


def main(args: argparse.Namespace) -> IngestReport:
    """Run the ingest; print the one-line summary and the report JSON. Exit 2: no input."""
    try:
        report = ingest_market(
            args.input,
            Lake(args.lake),
            timezone=args.timezone,
            instrument=args.instrument,
            granularity=args.granularity,
            only_new=args.only_new,
            run_ts=args.run_ts,
            delimiter=args.delimiter,
        )
    except FileNotFoundError as exc:
        raise UserError(str(exc), "check --input (a file or folder of candle files)") from exc
    return report
