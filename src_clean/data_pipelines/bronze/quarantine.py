"""Quarantine: rejected raw records kept with the reason, never dropped silently (contract C2).

One row per rejected record, or per file that could not be read at all (``record_number``
0): ``source_file``, ``record_number`` (1-based line number, or element number inside a
JSON document that spans lines), ``reason``, ``raw`` (the first ``RAW_LIMIT`` bytes,
decoded leniently), ``raw_bytes`` (the full length), ``raw_sha256`` (of the full bytes) and
``quarantined_at`` (the first run that saw it). Rows are keyed on (source_file,
record_number, raw_sha256): rerunning the same input, on any day, adds nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import astuple, dataclass, fields

import pandas as pd

from src_clean import tables
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

    @classmethod
    def of(
        cls, source_file: str, record_number: int, reason: str, raw: str | bytes | memoryview
    ) -> Rejected:
        """A rejection of ``raw``: only its first ``RAW_LIMIT`` bytes are kept."""
        data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
        return cls(
            source_file=source_file,
            record_number=int(record_number),
            reason=reason,
            raw=preview(data),
            raw_bytes=len(data),
            raw_sha256=hashlib.sha256(data).hexdigest(),
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
    raw_sha256) is already stored keeps its first ``quarantined_at`` (the spec's
    ``keep_on_update``); identical rejections within one run are stored once.
    """
    frame = pd.DataFrame([astuple(r) for r in rejected], columns=[f.name for f in fields(Rejected)])
    if frame.empty:
        return
    frame = frame.drop_duplicates(KEY_COLUMNS, keep="first")
    ts = pd.Timestamp(run_ts)
    frame["quarantined_at"] = ts.tz_convert("UTC") if ts.tzinfo else ts.tz_localize("UTC")
    lake.upsert(tables.quarantine(table), frame[QUARANTINE_COLUMNS])
