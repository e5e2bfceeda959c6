"""``live/decisions``: one row per bar, written once, before its outcome exists.

A row says what the live path decided for a bar and from what: the model name, version
and run, the sentiment model, the exact features (JSON, exact floats) and their hash, the
prediction, and each feed's newest data time and lag. ``status`` is ``decided``,
``skipped`` (no champion, a refused input: ``reason`` says which) or ``missed`` (the bar
could not be decided by its deadline, e.g. the process was down). Rows are inserted with
``Lake.insert_new``: a stored row is never updated, so the table's history holds only
inserts and the record cannot be rewritten after the fact.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from src_clean import tables
from src_clean.lake import Lake, UpsertResult
from src_clean.time_convention import decision_time

DECIDED, SKIPPED, MISSED = "decided", "skipped", "missed"
COLUMNS = tables.DECISIONS_SPEC.column_names


def features_json(values: pd.Series) -> str:
    """The features as JSON (name order kept; floats round-trip exactly; NaN as NaN)."""
    return json.dumps({name: float(v) for name, v in values.astype(np.float64).items()})


def row(bar_time: pd.Timestamp, model_name: str, status: str, reason: str, **fields: Any) -> dict:
    """One decision row; ``fields`` fills the other columns (missing ones are null)."""
    out: dict[str, Any] = dict.fromkeys(COLUMNS)
    out.update(
        bar_time=pd.Timestamp(bar_time),
        decision_time=decision_time(pd.Timestamp(bar_time)),
        written_at=pd.Timestamp.now(tz="UTC"),
        model_name=model_name,
        status=status,
        reason=reason,
    )
    unknown = set(fields) - set(COLUMNS)
    if unknown:
        raise ValueError(f"not columns of {tables.LIVE_DECISIONS}: {sorted(unknown)}")
    out.update(fields)
    return out


def write(lake: Lake, rows: list[dict]) -> UpsertResult:
    """Insert ``rows`` whose (bar, model) the table does not hold yet; never update one."""
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for column, kind in tables.DECISIONS_SPEC.columns:
        if kind == "timestamp":
            frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[us, UTC]")
        elif kind == "double":
            frame[column] = frame[column].astype("float64")
        else:
            frame[column] = frame[column].astype("string")
    return lake.insert_new(tables.LIVE_DECISIONS, frame)


def last_bar(lake: Lake, model_name: str) -> pd.Timestamp | None:
    """The newest bar ``model_name`` has a row for (any status); None before the first."""
    newest = latest(lake, model_name, columns=["bar_time", "model_name"])
    return None if newest is None else pd.Timestamp(newest["bar_time"])


def latest(lake: Lake, model_name: str, columns: list[str] | None = None) -> pd.Series | None:
    """The newest row of ``model_name`` (``columns`` of it; default all), None before the
    first: the last partitions are read until one holds a row of the model."""
    for day in reversed(lake.partitions(tables.LIVE_DECISIONS)):
        rows = lake.read(tables.LIVE_DECISIONS, day, day, columns=columns)
        rows = rows.loc[rows["model_name"] == model_name]
        if len(rows):
            return rows.loc[rows["bar_time"].idxmax()]
    return None
