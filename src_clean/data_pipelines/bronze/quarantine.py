"""Quarantine: rejected raw records kept with the reason, never dropped silently."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from src_clean import tables
from src_clean.lake import Lake

QUARANTINE_COLUMNS = ["source_file", "line_number", "reason", "raw", "quarantined_at"]


@dataclass(frozen=True)
class Rejected:
    """One rejected record: the raw text (decoded leniently), why, and where it came from."""

    source_file: str
    line_number: int
    reason: str
    raw: str


def write_quarantine(lake: Lake, table: str, rejected: list[Rejected], run_ts: dt.datetime) -> None:
    """Upsert rejected records into ``quarantine/<table>/`` under the run's date.

    Keyed on (source_file, line_number, raw): one line can hold several rejected candles
    (an OANDA response), and re-ingesting the same input is idempotent.
    """
    if not rejected:
        return
    df = pd.DataFrame([r.__dict__ for r in rejected])
    ts = pd.Timestamp(run_ts)
    df["quarantined_at"] = ts.tz_convert("UTC") if ts.tzinfo else ts.tz_localize("UTC")
    lake.upsert_partitioned(
        tables.quarantine(table),
        df[QUARANTINE_COLUMNS],
        date_column="quarantined_at",
        key_columns=["source_file", "line_number", "raw"],
    )
