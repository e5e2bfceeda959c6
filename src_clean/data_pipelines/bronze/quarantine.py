"""Quarantine: rejected raw records kept with the reason, never dropped silently (contract C2).

One row per rejected record, or per file that could not be read at all (``record_number``
0): ``source_file``, ``record_number`` (1-based line number, or element number inside a
JSON document that spans lines), ``record_index`` (the record's position inside a line
holding several, e.g. an OANDA response on one line; else 0), ``reason``, ``raw`` (the
first ``RAW_LIMIT`` bytes, decoded leniently), ``raw_bytes`` (the full length),
``raw_sha256`` (of the full bytes) and ``quarantined_at`` (the first run that saw it). Rows
are keyed on (source_file, record_number, record_index, raw_sha256): rerunning the same
input, on any day, adds nothing, and two identical bad records of one line are both kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import astuple, dataclass, fields

import pandas as pd

from src_clean import tables
from src_clean.errors import UserError
from src_clean.lake import Lake

RAW_LIMIT = 64 * 1024  # raw bytes stored per record; its full length and hash always
KEY_COLUMNS = list(tables.QUARANTINE_SPEC.keys)
QUARANTINE_COLUMNS = list(tables.QUARANTINE_SPEC.column_names)


@dataclass(frozen=True)
class Rejected:
    """One rejected record (or file, ``record_number`` 0): where, why, and a bounded copy."""

    source_file: str
    record_number: int
    reason: str
    raw: str
    raw_bytes: int
    raw_sha256: str
    record_index: int = 0

    @classmethod
    def of(
        cls,
        source_file: str,
        record_number: int,
        reason: str,
        raw: str | bytes | memoryview,
        *,
        record_index: int = 0,
    ) -> Rejected:
        """A rejection of ``raw``: only its first ``RAW_LIMIT`` bytes are kept.

        ``record_index`` is the record's position inside a line holding several (1, 2,
        ...), else 0: identical bad records of one line are each kept."""
        data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
        return cls(
            source_file=source_file,
            record_number=int(record_number),
            reason=reason,
            raw=preview(data),
            raw_bytes=len(data),
            raw_sha256=hashlib.sha256(data).hexdigest(),
            record_index=int(record_index),
        )


def preview(data: bytes | memoryview) -> str:
    """The first ``RAW_LIMIT`` bytes of ``data`` as text (invalid UTF-8 replaced)."""
    return bytes(data[:RAW_LIMIT]).decode("utf-8", "replace")


def file_rejection(source_file: str, reason: str, detail: str = "") -> Rejected:
    """The file-level entry for a file that could not be read (``raw`` holds the detail)."""
    return Rejected.of(source_file, 0, reason, detail)


def write_quarantine(
    lake: Lake, table: str, rejected: Iterable[Rejected], run_ts: dt.datetime
) -> None:
    """Upsert the rejections into ``quarantine/<table>/`` (a Delta MERGE on the keys).

    Idempotent across runs and days: a row whose key (source_file, record_number,
    record_index, raw_sha256) is already stored keeps its first ``quarantined_at`` (the spec's
    ``keep_on_update``); identical rejections within one run are stored once.
    """
    frame = pd.DataFrame([astuple(r) for r in rejected], columns=[f.name for f in fields(Rejected)])
    if frame.empty:
        return
    frame = frame.drop_duplicates(KEY_COLUMNS, keep="first")
    _require_current_schema(lake, tables.quarantine(table))
    ts = pd.Timestamp(run_ts)
    frame["quarantined_at"] = ts.tz_convert("UTC") if ts.tzinfo else ts.tz_localize("UTC")
    lake.upsert(tables.quarantine(table), frame[QUARANTINE_COLUMNS])


def _require_current_schema(lake: Lake, table: str) -> None:
    """A quarantine table from before ``record_index`` needs ``lake-migrate`` (one commit)."""
    stored = lake.schema(table)
    if stored is not None and "record_index" not in stored.names:
        raise UserError(
            f"{table} predates the record_index column of the quarantine key",
            f"run: python -m src_clean lake-migrate --lake {lake.root}",
        )
