"""Chronological train / validation / test split with an embargo between the parts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

PARTS = ("train", "val", "test")


@dataclass(frozen=True)
class ChronologicalSplit:
    """Row positions (into the time-sorted frame) of each part, and the embargo applied.

    Every training row ``t`` satisfies ``t + embargo < first validation time`` and every
    validation row ``t + embargo < first test time``: a label window ``[t, t + horizon]`` never
    reaches into the next part when ``embargo >= horizon``.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    embargo: pd.Timedelta

    def part(self, name: str) -> np.ndarray:
        return getattr(self, name)

    def rows(self, name: str) -> slice:
        """The part as a slice (parts are contiguous), so ``iloc`` takes a view, not a copy."""
        idx = self.part(name)
        return slice(int(idx[0]), int(idx[-1]) + 1)

    def sizes(self) -> dict[str, int]:
        return {name: len(self.part(name)) for name in PARTS}

    def time_ranges(self, times: pd.Series) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
        """First and last time of each part."""
        return {
            name: (times.iloc[self.part(name)[0]], times.iloc[self.part(name)[-1]])
            for name in PARTS
        }

    def to_params(self, times: pd.Series) -> dict[str, str | int]:
        """Row counts and time ranges, flattened for MLflow params."""
        params: dict[str, str | int] = {f"n_{k}": v for k, v in self.sizes().items()}
        for name, (first, last) in self.time_ranges(times).items():
            params[f"{name}_start"] = first.isoformat()
            params[f"{name}_end"] = last.isoformat()
        params["embargo_minutes_effective"] = int(self.embargo / pd.Timedelta(minutes=1))
        return params


def chronological_split(
    times: pd.Series, train_frac: float, val_frac: float, embargo: pd.Timedelta
) -> ChronologicalSplit:
    """Cut sorted ``times`` at the ``train_frac`` and ``train_frac + val_frac`` quantiles of the
    unique times, then purge the rows of the earlier part that fall within ``embargo`` of the
    next part's first time."""
    values = pd.DatetimeIndex(times).as_unit("ns").asi8
    if np.any(np.diff(values) < 0):
        raise ValueError("times must be sorted ascending")
    unique = np.unique(values)
    n_train, n_val = int(len(unique) * train_frac), int(len(unique) * val_frac)
    if n_train == 0 or n_val == 0 or n_train + n_val >= len(unique):
        raise ValueError(f"{len(unique)} distinct times are too few to split")
    val_start, test_start = unique[n_train], unique[n_train + n_val]
    gap = pd.Timedelta(embargo).value
    train_end = np.searchsorted(values, val_start - gap, side="left")
    val_begin, val_end = np.searchsorted(values, [val_start, test_start - gap], side="left")
    test_begin = np.searchsorted(values, test_start, side="left")
    split = ChronologicalSplit(
        train=np.arange(train_end),
        val=np.arange(val_begin, max(val_begin, val_end)),
        test=np.arange(test_begin, len(values)),
        embargo=pd.Timedelta(embargo),
    )
    empty = [name for name, size in split.sizes().items() if size == 0]
    if empty:
        raise ValueError(f"embargo {embargo} leaves no rows in {empty}")
    return split
