"""The synthetic SPX500_USD trading calendar and intraday activity profile (fixed UTC times).

The real index CFD follows US daylight saving time; the generator uses fixed UTC times all
year: trading from Sunday 22:00 to Friday 21:00 UTC with a daily maintenance break
21:00-22:00 UTC, and the US cash session at 13:30-20:00 UTC. No holidays.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

MINUTES_PER_DAY = 1440
BREAK_START = 21 * 60
BREAK_END = 22 * 60
EUROPE_OPEN = 7 * 60
US_OPEN = 13 * 60 + 30
US_CLOSE = 20 * 60
FRIDAY, SATURDAY, SUNDAY = 4, 5, 6

OVERNIGHT_ACTIVITY = 1.0
EUROPE_ACTIVITY = 1.15
US_MIDDAY_ACTIVITY = 1.3
US_EDGE_ACTIVITY = 2.0


def grid_minutes(days: int) -> int:
    """Number of calendar minutes in ``days`` UTC days."""
    return days * MINUTES_PER_DAY


def trading_minutes(start: dt.date, days: int) -> np.ndarray:
    """Sorted offsets (minutes since ``start`` 00:00 UTC) of every minute the market trades."""
    minute = np.arange(grid_minutes(days))
    minute_of_day = minute % MINUTES_PER_DAY
    weekday = (start.weekday() + minute // MINUTES_PER_DAY) % 7
    in_break = (minute_of_day >= BREAK_START) & (minute_of_day < BREAK_END)
    weekend = (
        (weekday == SATURDAY)
        | ((weekday == SUNDAY) & (minute_of_day < BREAK_END))
        | ((weekday == FRIDAY) & (minute_of_day >= BREAK_START))
    )
    return minute[~(in_break | weekend)]


def activity(minute_of_day: np.ndarray) -> np.ndarray:
    """Relative market activity by UTC minute of day, in [1, 2].

    1 overnight, a little higher in European hours, and a U-shape over the US cash session:
    highest at the 13:30 open and the 20:00 close, lowest at midday.
    """
    session_fraction = (minute_of_day - US_OPEN) / (US_CLOSE - US_OPEN)
    us_session = (session_fraction >= 0) & (session_fraction < 1)
    europe = (minute_of_day >= EUROPE_OPEN) & (minute_of_day < US_OPEN)
    u_shape = (
        US_MIDDAY_ACTIVITY
        + (US_EDGE_ACTIVITY - US_MIDDAY_ACTIVITY) * (2 * session_fraction - 1) ** 2
    )
    return np.select([us_session, europe], [u_shape, EUROPE_ACTIVITY], default=OVERNIGHT_ACTIVITY)
