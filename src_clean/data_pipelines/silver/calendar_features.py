"""Calendar and session-position features (UTC clock, segments from ``time_convention``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from src_clean.data_pipelines.silver.bars import Bars

NS_PER_MINUTE = pd.Timedelta(minutes=1).value

COLUMNS = [
    "minute_of_day",
    "day_of_week",
    "minutes_since_segment_open",
    "bars_in_segment",
    "is_first_bar_after_break",
]


def calendar_features(bars: Bars) -> dict[str, np.ndarray]:
    """UTC minute of day (0-1439), weekday (Monday = 0), position in the trading segment.

    ``bars_in_segment`` counts the segment's bars so far, this one included (causal, not the
    segment's final length). ``is_first_bar_after_break`` (int8) marks a segment start, which
    is also the first bar of the data.
    """
    clock = pd.to_datetime(bars.times, unit="ns", utc=True)
    opened = bars.times[bars.segment_start]
    return {
        "minute_of_day": (clock.hour * 60 + clock.minute).to_numpy(dtype="float64"),
        "day_of_week": clock.dayofweek.to_numpy(dtype="float64"),
        "minutes_since_segment_open": (bars.times - opened) / NS_PER_MINUTE,
        "bars_in_segment": (bars.position + 1).astype("float64"),
        "is_first_bar_after_break": bars.is_segment_start.astype("int8"),
    }
