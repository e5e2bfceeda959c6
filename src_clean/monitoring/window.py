"""The UTC days a monitor run looks at."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Window:
    """``start..end`` (inclusive UTC dates) and its instants ``[first, last)``."""

    start: dt.date
    end: dt.date

    @property
    def first(self) -> pd.Timestamp:
        return pd.Timestamp(self.start, tz="UTC")

    @property
    def last(self) -> pd.Timestamp:
        return pd.Timestamp(self.end, tz="UTC") + pd.Timedelta(days=1)

    def holds(self, times: pd.Series) -> pd.Series:
        """Which ``times`` (UTC) fall in ``[first, last)``."""
        times = pd.to_datetime(times, utc=True)
        return (times >= self.first) & (times < self.last)
