"""A monitored day in a few lines: the DAG task's return value and the alert's text."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from src_clean import tables
from src_clean.lake import Lake
from src_clean.monitoring.checks import day_status, headline_rows


def end_of(argv: Sequence[str]) -> dt.date | None:
    """The ``--end`` of a ``monitor`` argv (None when it checks every day)."""
    args = list(argv)
    return dt.date.fromisoformat(args[args.index("--end") + 1]) if "--end" in args else None


def day_summary(lake: Lake, day: dt.date) -> dict[str, Any]:
    """The day's status, counts, the checks that warned or failed, and the report."""
    rows = lake.read(tables.MONITORING_CHECKS, day, day)
    status, counts = day_status(rows)
    rows = headline_rows(rows)
    flagged = rows[rows["status"] != "ok"].sort_values(["status", "kind", "check"])
    report = f"{tables.MONITORING_REPORTS}/{day}.html"
    return {
        "day": str(day),
        "status": status,
        "counts": counts,
        "flagged": [
            f"{status} {kind}: {check} {subject} ({detail})".replace(" ()", "")
            for status, kind, check, subject, detail in flagged[
                ["status", "kind", "check", "subject", "detail"]
            ].itertuples(index=False)
        ],
        "report": lake.uri(report),
        "market_closed": bool((rows["check"] == "market_closed").any()),
    }


def alert_message(summary: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) of the alert for a day that warned or failed."""
    counts = summary["counts"]
    subject = (
        f"[sp500] monitoring {summary['day']}: {summary['status']} "
        f"({counts['fail']} fail, {counts['warn']} warn)"
    )
    body = "\n".join([*summary["flagged"], "", f"Report: {summary['report']}"])
    return subject, body
