"""Quarantine: rejected raw records kept with the reason, never dropped silently."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import pandas as pd

from src_clean import tables
from src_clean.lake import Lake

QUARANTINE_COLUMNS = list(tables.QUARANTINE_SPEC.column_names)
RAW_KEPT_BYTES = 64 * 1024  # raw text stored per record; its full length and hash always


@dataclass(frozen=True)
class Rejected:
    """One rejected record: the raw text (decoded leniently), why, and where it came from."""

    source_file: str
    line_number: int
    reason: str
    raw: str


def write_quarantine(lake: Lake, table: str, rejected: list[Rejected], run_ts: dt.datetime) -> None:
    """Upsert rejected records into ``quarantine/<table>/`` (contract C2).

    Keyed on (source_file, record_number, raw_sha256): one line can hold several rejected
    candles (an OANDA response), and re-ingesting the same input, on any day, adds
    nothing (the first ``quarantined_at`` is kept).
    """
    if not rejected:
        return
    ts = pd.Timestamp(run_ts)
    df = pd.DataFrame(
        {
            "source_file": [r.source_file for r in rejected],
            "record_number": [r.line_number for r in rejected],
            "reason": [r.reason for r in rejected],
            "raw": [r.raw for r in rejected],
            "quarantined_at": ts.tz_convert("UTC") if ts.tzinfo else ts.tz_localize("UTC"),
        }
    )
    rows = quarantine_rows(df).drop_duplicates(list(tables.QUARANTINE_SPEC.keys), keep="last")
    lake.upsert(tables.quarantine(table), rows)


def quarantine_rows(df: pd.DataFrame) -> pd.DataFrame:
    """C2 rows from ``source_file``, ``record_number``, ``reason``, ``raw`` (full text) and
    ``quarantined_at``: the raw text capped at 64 KiB, its full byte length and SHA-256."""
    raws = [text.encode("utf-8", "surrogateescape") for text in df["raw"]]
    return df.assign(
        raw=[b[:RAW_KEPT_BYTES].decode("utf-8", "replace") for b in raws],
        raw_bytes=[len(b) for b in raws],
        raw_sha256=[hashlib.sha256(b).hexdigest() for b in raws],
    )[QUARANTINE_COLUMNS]
