"""Which trading sessions a run must have candles for, and whether bronze has them.

SPX500_USD follows CME equity hours: exchange_calendars' ``CMES`` calendar labels each
session by the day it closes (it opens at 17:00 Chicago the evening before). A run's time
window sees a session when they overlap by at least ``MIN_OVERLAP``: the daily schedule's
window (17:30 New York to 17:30 New York) then sees exactly one session on a trading day
and none on a holiday, and a UTC-date window ignores the hour of the next session that
opens before midnight UTC.

The DAG's ``market_data`` task calls ``check_market_data`` once, right after the ingest:
no session means "market closed" (the downstream stages are skipped), a session without a
single candle in bronze fails the run at once, naming the session and the landing folder.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from src_clean import tables
from src_clean.errors import UserError

MIN_OVERLAP = dt.timedelta(hours=2)


@dataclasses.dataclass(frozen=True)
class Session:
    """The part of one trading session inside a run's window (UTC)."""

    label: dt.date
    start: dt.datetime
    end: dt.datetime

    def describe(self) -> str:
        return (
            f"{self.label} ({self.start:%Y-%m-%d %H:%M}-{self.end:%Y-%m-%d %H:%M} UTC in this run)"
        )


@dataclasses.dataclass(frozen=True)
class MarketCheck:
    """The outcome: ``open`` is False when the market had no session in the window."""

    open: bool
    note: str


def expected_sessions(calendar: str, start: dt.datetime, end: dt.datetime) -> list[Session]:
    """Sessions of ``calendar`` overlapping ``[start, end)`` by at least ``MIN_OVERLAP``."""
    import exchange_calendars
    import pandas as pd

    cal = exchange_calendars.get_calendar(calendar)
    first = max(pd.Timestamp(start.date()) - pd.Timedelta(days=1), cal.first_session)
    last = min(pd.Timestamp(end.date()) + pd.Timedelta(days=2), cal.last_session)
    sessions = []
    for label in cal.sessions_in_range(first, last) if first <= last else []:
        lo = max(cal.session_open(label).to_pydatetime(), start)
        hi = min(cal.session_close(label).to_pydatetime(), end)
        if hi - lo >= MIN_OVERLAP:
            sessions.append(Session(label.date(), lo.astimezone(dt.UTC), hi.astimezone(dt.UTC)))
    return sessions


def sessions_without_candles(lake_root: str, sessions: list[Session]) -> list[Session]:
    """The ``sessions`` that have no candle at all in bronze."""
    import pandas as pd

    from src_clean.lake import Lake

    if not sessions:
        return []
    first, last = sessions[0].start.date(), sessions[-1].end.date()
    times = Lake(lake_root).read(tables.BRONZE_CANDLES, first, last, columns=["time"])
    opened = pd.to_datetime(pd.Series(times.get("time", []), dtype=object), utc=True)
    return [
        session
        for session in sessions
        if not ((opened >= session.start) & (opened < session.end)).any()
    ]


def check_market_data(
    lake_root: str, landing_market: str, calendar: str, start: dt.datetime, end: dt.datetime
) -> MarketCheck:
    """``open=False`` when the market was closed; UserError when a session has no candles."""
    sessions = expected_sessions(calendar, start, end)
    if not sessions:
        return MarketCheck(
            False,
            f"market closed: no {calendar} session between {start:%Y-%m-%d %H:%M} and "
            f"{end:%Y-%m-%d %H:%M} UTC; silver, gold and train are skipped",
        )
    missing = sessions_without_candles(lake_root, sessions)
    if missing:
        names = "; ".join(session.describe() for session in missing)
        raise UserError(
            f"no candles in {tables.BRONZE_CANDLES} for the {calendar} session(s) {names}, "
            f"and none arrived in the landing folder {landing_market}",
            "land the session's candle files there (or fetch them: SP500_SOURCES=oanda), then "
            "clear ingest_market and its downstream tasks",
        )
    labels = ", ".join(str(session.label) for session in sessions)
    return MarketCheck(True, f"{calendar} session(s) {labels}: candles present in bronze")
