"""The time convention every stage follows.

A candle's ``time`` is its open. Its decision time is its close, ``time + BAR``. Features
for a bar use candles up to and including that bar and articles with
``published_at < decision time``. Only ``target_`` columns look forward.

Sessions: consecutive bars belong to one trading segment unless the gap between their
open times exceeds ``MAX_GAP``; a longer gap (the daily maintenance break, a weekend,
a holiday) starts a new segment. Rolling features restart at a segment start and labels
never span two segments.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BAR = pd.Timedelta(minutes=1)
MAX_GAP = pd.Timedelta(minutes=15)
TARGET_PREFIX = "target_"


def decision_time(bar_open: pd.Series | pd.DatetimeIndex) -> pd.Series | pd.DatetimeIndex:
    """When a bar's information is known: its close."""
    return bar_open + BAR


def segment_starts(
    times: pd.Series | pd.DatetimeIndex, max_gap: pd.Timedelta = MAX_GAP
) -> np.ndarray:
    """Boolean mask of bars that start a new segment (first bar, or after a gap > ``max_gap``).

    ``times`` must be sorted ascending. Depends only on each bar and its predecessor, so it
    gives the same answer on a suffix of the data that starts at a segment start.
    """
    values = pd.DatetimeIndex(times).as_unit("ns").asi8
    starts = np.ones(len(values), dtype=bool)
    if len(values) > 1:
        starts[1:] = np.diff(values) > max_gap.value
    return starts


def segment_ids(times: pd.Series | pd.DatetimeIndex, max_gap: pd.Timedelta = MAX_GAP) -> np.ndarray:
    """Integer segment id per bar (0, 1, 2, ... in time order)."""
    return np.cumsum(segment_starts(times, max_gap)) - 1
