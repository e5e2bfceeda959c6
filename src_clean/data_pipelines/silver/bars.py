"""One instrument's M1 bars as arrays, with segment-aware window operations.

Every window restarts at a segment start (``time_convention``): a bar's window holds only
bars of its own segment, and a window that is not full yet gives NaN, never a partial value.
No operation reads across a segment start, so a segment's features depend on that segment's
bars alone. That is what makes a day computed from the start of its segment bitwise equal
to a full-history recompute.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pandas.api.indexers import BaseIndexer

from src_clean.time_convention import segment_ids, segment_starts

if TYPE_CHECKING:
    from pandas.api.typing import Rolling


class _SegmentWindow(BaseIndexer):
    """Trailing window of ``window_size`` bars, clipped at each bar's segment start.

    A clipped window holds fewer than ``window_size`` bars, so ``min_periods=window_size``
    turns it into NaN. At a segment start the window jumps past the previous bar, which makes
    pandas reset its running sums there.
    """

    segment_start: np.ndarray

    def get_window_bounds(
        self,
        num_values: int = 0,
        min_periods: int | None = None,
        center: bool | None = None,
        closed: str | None = None,
        step: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        end = np.arange(1, num_values + 1, dtype=np.int64)
        start = np.maximum(end - self.window_size, self.segment_start)
        return start, end


def divide(num: np.ndarray, den: np.ndarray, fill: float = np.nan) -> np.ndarray:
    """``num / den`` with ``fill`` where ``den == 0`` (NaN operands stay NaN)."""
    num, den = np.broadcast_arrays(np.asarray(num, dtype="float64"), den)
    out = np.full(num.shape, fill)
    np.divide(num, den, out=out, where=den != 0)
    return out


@dataclass(frozen=True)
class Bars:
    """OHLCV arrays of one instrument, sorted by open time, plus their segment layout."""

    times: np.ndarray  # int64 ns since epoch (UTC bar open)
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # tick count as float64, NaN when missing
    segment: np.ndarray  # segment id per bar
    segment_start: np.ndarray  # row of the first bar of each bar's segment

    @classmethod
    def from_candles(cls, candles: pd.DataFrame) -> Bars:
        """Arrays from a candles frame (one instrument, strictly increasing ``time``)."""
        times = pd.DatetimeIndex(candles["time"]).as_unit("ns")
        if not times.is_monotonic_increasing or not times.is_unique:
            raise ValueError("candles must be one instrument with strictly increasing time")
        starts = segment_starts(times)
        rows = np.arange(len(times))
        return cls(
            times=times.asi8,
            open=candles["open"].to_numpy(dtype="float64"),
            high=candles["high"].to_numpy(dtype="float64"),
            low=candles["low"].to_numpy(dtype="float64"),
            close=candles["close"].to_numpy(dtype="float64"),
            volume=candles["volume"].to_numpy(dtype="float64", na_value=np.nan),
            segment=segment_ids(times),
            segment_start=np.maximum.accumulate(np.where(starts, rows, 0)),
        )

    def __len__(self) -> int:
        return len(self.times)

    @cached_property
    def position(self) -> np.ndarray:
        """0-based index of each bar within its segment."""
        return np.arange(len(self)) - self.segment_start

    @cached_property
    def is_segment_start(self) -> np.ndarray:
        return self.position == 0

    @cached_property
    def log_return(self) -> np.ndarray:
        """Bar-to-bar log return of the close within the segment (NaN at a segment start)."""
        return np.log(self.close / self.previous(self.close))

    def previous(self, values: np.ndarray) -> np.ndarray:
        """The previous bar's value within the segment; NaN at a segment start."""
        out = np.empty(len(values))
        out[1:] = values[:-1]
        out[self.is_segment_start] = np.nan
        return out

    def rolling(self, values: np.ndarray, window: int) -> Rolling:
        """Trailing ``window``-bar rolling over ``values``; NaN until the window is full."""
        indexer = _SegmentWindow(window_size=window, segment_start=self.segment_start)
        return pd.Series(values, dtype="float64").rolling(indexer, min_periods=window)

    def at_offset(self, values: np.ndarray, offset: pd.Timedelta) -> np.ndarray:
        """Value at the bar that opened exactly ``offset`` earlier in the same segment, else NaN."""
        target = self.times - offset.value
        found = np.minimum(np.searchsorted(self.times, target), len(self) - 1)
        hit = (self.times[found] == target) & (self.segment[found] == self.segment)
        return np.where(hit, values[found], np.nan)

    def smooth(self, values: np.ndarray, n: int, alpha: float) -> np.ndarray:
        """Recursive average ``y = (1 - alpha) * y_prev + alpha * x`` within each segment.

        Seeded with the simple mean of the first ``n`` valid values (NaN before the seed), the
        TA-Lib convention: ``alpha = 1 / n`` is Wilder's smoothing, ``2 / (n + 1)`` an EMA.
        """
        sma = self.rolling(values, n).mean().to_numpy()
        started = pd.Series(~np.isnan(sma)).groupby(self.segment).cummax().to_numpy()
        seed = started & ~(self.previous(started.astype("float64")) == 1.0)
        seeded = np.where(seed, sma, np.where(started, values, np.nan))
        ewm = pd.Series(seeded).groupby(self.segment).ewm(alpha=alpha, adjust=False)
        return ewm.mean().to_numpy()
