"""Which trading sessions a run must have candles for, and whether bronze has them.

SPX500_USD follows CME equity hours: exchange_calendars' ``CMES`` calendar labels each
session by the day it closes (it opens at 17:00 Chicago the evening before). A session is
**expected** in a run's time window when the window holds at least half of it (and at
least ``MIN_OVERLAP``): the daily schedule's window (17:30 New York to 17:30 New York) then
sees exactly one session on a trading day and none on a holiday, and a UTC-date window
(every backfill, every run triggered with dates) never expects the next session, whose
first one or two hours open before midnight UTC.

**Trading hours of the data.** OANDA's CFD trades the CME's hours, but many exports of the
index hold cash-session bars only (FirstRate's SPX files, any RTH-only export): 09:30-16:00
New York on NYSE days, nothing at night and nothing on CME-only days such as Martin Luther
King Day. ``SP500_MARKET_HOURS`` says which: ``full`` expects the ``market_calendar``'s
sessions, ``cash`` the NYSE's (``XNYS``), and ``auto`` (the default) tells them apart from
bronze itself: when at most ``CASH_TOLERANCE`` of the candles of the week before the
window's end lie outside NYSE cash sessions, the data is cash-hours.

The DAG's ``market_data`` task calls ``check_market_data`` once, right after the ingest:
no session means "market closed" (the downstream stages are skipped), a session without a
single candle in bronze fails the run at once, naming the session and the landing folder.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Literal

import numpy as np
import pandas as pd

from src_clean import tables
from src_clean.defaults import MarketHours
from src_clean.errors import UserError

MIN_OVERLAP = dt.timedelta(hours=2)
CASH_CALENDAR = "XNYS"  # the NYSE's sessions: 09:30-16:00 New York, early closes included
CASH_TOLERANCE = 0.01  # share of candles outside cash sessions a cash-hours source may have
DETECTION_LOOKBACK = dt.timedelta(days=8)  # bronze read to tell full from cash hours


# a CME Globex equity session opens 17:00 Chicago the evening before the day it is named
# after and closes 16:00 Chicago: shifting Chicago time by 7 hours maps every bar of a
# session onto that day (Sunday's evening open onto Monday), across daylight saving
SESSION_ZONE = "America/Chicago"
SESSION_SHIFT = pd.Timedelta(hours=7)
_NS_PER_DAY = 86_400_000_000_000


def session_days(times: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """The trading session of every bar, as days since the epoch of the session's date.

    CME Globex sessions (17:00-16:00 Chicago; the evening open belongs to the next
    day's session). Cash-hours data (NYSE 09:30-16:00 New York) gets its own date by the
    same rule, so one labelling serves both ``SP500_MARKET_HOURS``."""
    local = pd.DatetimeIndex(times).tz_convert(SESSION_ZONE) + SESSION_SHIFT
    wall = local.tz_localize(None).as_unit("ns").asi8
    return (wall // _NS_PER_DAY).astype(np.int64)


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
    """Sessions of ``calendar`` of which ``[start, end)`` holds at least half (and at least
    ``MIN_OVERLAP``): a session the window only touches at one end is not expected."""
    sessions = []
    for label, opens, closes in sessions_between(calendar, start, end):
        lo, hi = max(opens, start), min(closes, end)
        if hi - lo >= max(MIN_OVERLAP, (closes - opens) / 2):
            sessions.append(Session(label, lo.astimezone(dt.UTC), hi.astimezone(dt.UTC)))
    return sessions


def sessions_between(
    calendar: str, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.date, dt.datetime, dt.datetime]]:
    """``(label, open, close)`` of the sessions of ``calendar`` that may touch the window."""
    import exchange_calendars
    import pandas as pd

    cal = exchange_calendars.get_calendar(calendar)
    first = max(pd.Timestamp(start.date()) - pd.Timedelta(days=1), cal.first_session)
    last = min(pd.Timestamp(end.date()) + pd.Timedelta(days=2), cal.last_session)
    return [
        (
            label.date(),
            cal.session_open(label).to_pydatetime(),
            cal.session_close(label).to_pydatetime(),
        )
        for label in (cal.sessions_in_range(first, last) if first <= last else [])
    ]


def _candle_times(lake_root: str, start: dt.datetime, end: dt.datetime) -> Any:
    """Bronze candle open times (UTC) in ``[start, end)``."""
    import pandas as pd

    from src_clean.lake import Lake

    times = Lake(lake_root).read(tables.BRONZE_CANDLES, start.date(), end.date(), columns=["time"])
    opened = pd.to_datetime(pd.Series(times.get("time", []), dtype=object), utc=True)
    return opened[(opened >= start) & (opened < end)]


def detect_hours(lake_root: str, end: dt.datetime) -> Literal["full", "cash"]:
    """``cash`` when the candles of the ``DETECTION_LOOKBACK`` before ``end`` lie (all but
    ``CASH_TOLERANCE``) inside NYSE cash sessions; ``full`` otherwise or without candles."""
    import numpy as np

    start = end - DETECTION_LOOKBACK
    opened = _candle_times(lake_root, start, end)
    sessions = sessions_between(CASH_CALENDAR, start, end)
    if opened.empty or not sessions:
        return "full"
    opens = np.array([o.timestamp() for _, o, _ in sessions])
    closes = np.array([c.timestamp() for _, _, c in sessions])
    moments = opened.map(lambda t: t.timestamp()).to_numpy(dtype=float)
    index = np.searchsorted(opens, moments, side="right") - 1  # the last session opened
    inside = (index >= 0) & (moments <= closes[index.clip(0)])  # a 16:00 bar counts too
    return "cash" if 1.0 - float(inside.mean()) <= CASH_TOLERANCE else "full"


def sessions_without_candles(lake_root: str, sessions: list[Session]) -> list[Session]:
    """The ``sessions`` that have no candle at all in bronze."""
    if not sessions:
        return []
    opened = _candle_times(lake_root, sessions[0].start, sessions[-1].end)
    return [
        session
        for session in sessions
        if not ((opened >= session.start) & (opened < session.end)).any()
    ]


def calendar_for(
    lake_root: str, calendar: str, hours: MarketHours, end: dt.datetime
) -> tuple[str, str]:
    """The calendar whose sessions the data covers (``calendar``, or the NYSE's for
    cash-hours data, ``auto``: detected from bronze before ``end``), and how that was known."""
    found = detect_hours(lake_root, end) if hours == "auto" else hours
    how = f"{found} hours" + (", detected from bronze" if hours == "auto" else "")
    return (CASH_CALENDAR if found == "cash" else calendar), how


def check_market_data(
    lake_root: str,
    landing_market: str,
    calendar: str,
    start: dt.datetime,
    end: dt.datetime,
    hours: MarketHours = "auto",
) -> MarketCheck:
    """``open=False`` when the market was closed; UserError when a session has no candles.

    ``hours``: the trading hours the data covers (``auto``: detected from bronze); cash
    hours expect the NYSE's sessions instead of ``calendar``'s."""
    calendar, how = calendar_for(lake_root, calendar, hours, end)
    sessions = expected_sessions(calendar, start, end)
    if not sessions:
        return MarketCheck(
            False,
            f"market closed: no {calendar} session between {start:%Y-%m-%d %H:%M} and "
            f"{end:%Y-%m-%d %H:%M} UTC ({how}); silver, gold and train are skipped",
        )
    missing = sessions_without_candles(lake_root, sessions)
    if missing:
        names = "; ".join(session.describe() for session in missing)
        raise UserError(
            f"no candles in {tables.BRONZE_CANDLES} for the {calendar} session(s) {names} "
            f"({how}), and none arrived in the landing folder {landing_market}",
            "land the session's candle files there (or fetch them: SP500_SOURCES=oanda), then "
            "clear bronze_market and its downstream tasks; for data of other trading hours "
            "set SP500_MARKET_HOURS (full or cash)",
        )
    labels = ", ".join(str(session.label) for session in sessions)
    return MarketCheck(True, f"{calendar} session(s) {labels} ({how}): candles present in bronze")
