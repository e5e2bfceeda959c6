"""The latest monitored day as the service shows it: its checks, the champion's live IC
and the read-only page at ``/`` (the report's layout, with the signal of the moment)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd

from src_clean import tables
from src_clean.lake import Lake
from src_clean.monitoring.checks import LIVE_WINDOWS, day_status


def curve_file(day: dt.date) -> str:
    """Where ``monitor`` keeps the live-IC curve of ``day`` (beside its report)."""
    return f"{tables.MONITORING_REPORTS}/{day}.live.json"


@dataclass(frozen=True)
class Latest:
    """The last monitored day: its check rows and the live-IC curve."""

    day: dt.date
    checks: pd.DataFrame
    curve: pd.DataFrame

    @property
    def status(self) -> str:
        return day_status(self.checks)[0]

    def counts(self) -> dict[str, int]:
        return day_status(self.checks)[1]

    def live(self) -> dict[str, Any]:
        """The champion's rolling live IC per window and its lower band, as monitored."""
        rows = self.checks.set_index("check")
        out: dict[str, Any] = {"day": self.day}
        for n in LIVE_WINDOWS:
            name = f"live_ic_{n}s"
            if name in rows.index:
                row = rows.loc[name]
                out[f"ic_{n}s"] = _number(row["value"])
                out[f"band_low_{n}s"] = _number(row["threshold"])
                out[f"status_{n}s"] = row["status"]
        decay = rows.loc["live_decay", "status"] if "live_decay" in rows.index else None
        out["decay"] = decay
        return out


def _number(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)


def latest(lake: Lake) -> Latest | None:
    """The last day ``monitor`` wrote, None before its first run."""
    days = lake.partitions(tables.MONITORING_CHECKS)
    if not days:
        return None
    day = days[-1]
    checks = lake.read(tables.MONITORING_CHECKS, day, day)
    curve = pd.DataFrame()
    if lake.files.exists(curve_file(day)):
        text = lake.files.read_json(curve_file(day))
        curve = pd.DataFrame(text)
        if not curve.empty:
            curve["session"] = pd.to_datetime(curve["session"], utc=True)
    return Latest(day, checks, curve)


def latest_tear_sheet(lake: Lake) -> str | None:
    """The last training run's verdict tear sheet (HTML), None before the first one."""
    if not lake.files.exists(tables.TRAINING_SUMMARY):
        return None
    path = lake.files.read_json(tables.TRAINING_SUMMARY).get("tear_sheet")
    if not path or not lake.files.exists(path):
        return None
    return lake.files.read_text(path)


def page(lake: Lake, signal: dict[str, Any] | None, note: str, review_state: str | None) -> str:
    """The service's ``/``: the latest signal, the last day's checks, the live-IC chart."""
    from src_clean.monitoring.report import render

    found = latest(lake)
    if found is None:
        empty = pd.DataFrame(columns=["kind", "check", "subject", "value", "threshold",
                                      "status", "detail"])  # fmt: skip
        checks, curve, title, run_id = empty, pd.DataFrame(), "Monitoring: no run yet", "-"
    else:
        checks, curve = found.checks, found.curve
        title, run_id = f"Monitoring {found.day}", str(checks["run_id"].iloc[0])
    champion = f"{signal['model_name']} v{signal['model_version']}" if signal else None
    return render(
        title=title,
        run_id=run_id,
        checks=checks,
        curve=curve,
        champion=champion,
        review_state=review_state,
        signal=signal,
        signal_note=note,
        links={"The verdict tear sheet": "verdict"},
    )
