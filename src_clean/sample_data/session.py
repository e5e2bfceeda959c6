"""The synthetic SPX500_USD trading calendar and intraday activity profile, in CME hours.

The calendar follows CME Globex's equity-index hours in Chicago time, so it moves with US
daylight saving like the real market: trading from Sunday 17:00 to Friday 16:00 CT with a
daily maintenance break 16:00-17:00 CT (21:00-22:00 UTC in summer, 22:00-23:00 UTC in
winter), and the US cash session 08:30-15:00 CT. No holidays.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

MINUTES_PER_DAY = 1440
CHICAGO = "America/Chicago"
# Chicago local minutes of the day
BREAK_START = 16 * 60
BREAK_END = 17 * 60
EUROPE_OPEN = 2 * 60  # 08:00 London, about
US_OPEN = 8 * 60 + 30
US_CLOSE = 15 * 60
FRIDAY, SATURDAY, SUNDAY = 4, 5, 6

OVERNIGHT_ACTIVITY = 1.0
EUROPE_ACTIVITY = 1.15
US_MIDDAY_ACTIVITY = 1.3
US_EDGE_ACTIVITY = 2.0


def grid_minutes(days: int) -> int:
    """Number of calendar minutes in ``days`` UTC days."""
    return days * MINUTES_PER_DAY


def chicago_clock(start: dt.date, minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Chicago minute of day, Chicago weekday) of each offset in minutes since ``start``
    00:00 UTC."""
    utc = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(minutes, unit="min")
    local = pd.DatetimeIndex(utc).tz_convert(CHICAGO)
    return (local.hour * 60 + local.minute).to_numpy(), local.weekday.to_numpy()


def trading_minutes(start: dt.date, days: int) -> np.ndarray:
    """Sorted offsets (minutes since ``start`` 00:00 UTC) of every minute the market trades."""
    minute = np.arange(grid_minutes(days))
    minute_of_day, weekday = chicago_clock(start, minute)
    in_break = (minute_of_day >= BREAK_START) & (minute_of_day < BREAK_END)
    weekend = (
        (weekday == SATURDAY)
        | ((weekday == SUNDAY) & (minute_of_day < BREAK_END))
        | ((weekday == FRIDAY) & (minute_of_day >= BREAK_START))
    )
    return minute[~(in_break | weekend)]


def activity(minute_of_day: np.ndarray) -> np.ndarray:
    """Relative market activity by Chicago minute of day, in [1, 2].

    1 overnight, a little higher in European hours, and a U-shape over the US cash session:
    highest at the 08:30 CT open and the 15:00 CT close, lowest at midday.
    """
    session_fraction = (minute_of_day - US_OPEN) / (US_CLOSE - US_OPEN)
    us_session = (session_fraction >= 0) & (session_fraction < 1)
    europe = (minute_of_day >= EUROPE_OPEN) & (minute_of_day < US_OPEN)
    u_shape = (
        US_MIDDAY_ACTIVITY
        + (US_EDGE_ACTIVITY - US_MIDDAY_ACTIVITY) * (2 * session_fraction - 1) ** 2
    )
    return np.select([us_session, europe], [u_shape, EUROPE_ACTIVITY], default=OVERNIGHT_ACTIVITY)
