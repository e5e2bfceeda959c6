"""The supported range of bronze timestamps: 1970-01-01T00:00Z (inclusive) to 2200-01-01T00:00Z.

Bronze stores ``datetime64[ns, UTC]`` (about 1677-09-21 to 2262-04-11); the range keeps
well inside it and covers any real candle or article. A parseable time outside it is
quarantined as ``out_of_range:<field>``, never converted with an overflow error. Delta
stores microseconds: a time with sub-microsecond digits is quarantined as
``too_precise:<field>`` rather than truncated (or refused by the table for the whole batch).
"""

from __future__ import annotations

import pandas as pd

SUPPORTED_START = pd.Timestamp("1970-01-01T00:00:00Z")
SUPPORTED_END = pd.Timestamp("2200-01-01T00:00:00Z")
OUT_OF_RANGE = "out_of_range:"
TOO_PRECISE = "too_precise:"


def in_range(times: pd.Series) -> pd.Series:
    """``SUPPORTED_START <= t < SUPPORTED_END`` for UTC ``times`` of any resolution (NaT: False)."""
    return (times >= SUPPORTED_START) & (times < SUPPORTED_END)


def seconds_in_range(seconds: pd.Series) -> pd.Series:
    """Unix seconds in the supported range (NaN and infinities: False)."""
    return (seconds >= SUPPORTED_START.timestamp()) & (seconds < SUPPORTED_END.timestamp())


def bounded_ns(times: pd.Series) -> tuple[pd.Series, pd.Series]:
    """UTC ``times`` of any resolution as nanoseconds (NaT outside the supported range), and
    which were parsed but out of range."""
    out = times.notna() & ~in_range(times)
    return times.where(~out).dt.as_unit("ns"), out


def sub_microsecond(times: pd.Series) -> pd.Series:
    """Which UTC ``times`` (nanoseconds) have digits below the microsecond (NaT: False)."""
    return times.notna() & (times.dt.nanosecond != 0)
