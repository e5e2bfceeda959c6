"""Purged, embargoed, expanding walk-forward folds over whole sessions, and the holdout.

A session is a trading session (``market_sessions.session_days``: CME Globex, 17:00-16:00
Chicago, named after the day it closes, so Sunday's evening open belongs to Monday's
session; cash-hours data gets its own date), never a UTC date. The last ``holdout_frac`` of
the sessions are the final holdout, read once at the end. The sessions before it are cut
into ``n_folds + 1`` contiguous blocks; fold ``k`` (1..K) trains on blocks ``0..k-1`` and
tests on block ``k`` (expanding window). Inside each training window the last ``val_frac``
of its sessions validate (early stopping and the hyperparameter choice); nothing is chosen
on a test block.

Purge and embargo, in time: every training row ``t`` satisfies ``t + embargo <`` the first
validation time, and every validation row ``t + embargo <`` the first test time, so no
label window ``[t, t + horizon]`` reaches the next part when ``embargo >= horizon``. The
holdout fold is built the same way with every pre-holdout session as its training window.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from src_clean.errors import UserError
from src_clean.market_sessions import session_days

PARTS = ("train", "val", "test")


@dataclass(frozen=True)
class Fold:
    """Row slices (into the time-sorted frame) of one fold's parts."""

    name: str
    train: slice
    val: slice
    test: slice

    def rows(self, part: str) -> slice:
        return getattr(self, part)

    def sizes(self) -> dict[str, int]:
        return {part: self.rows(part).stop - self.rows(part).start for part in PARTS}

    def time_ranges(self, times: pd.Series) -> dict[str, list[str]]:
        """First and last time of each part (ISO 8601)."""
        out = {}
        for part in PARTS:
            rows = self.rows(part)
            out[part] = [times.iloc[rows.start].isoformat(), times.iloc[rows.stop - 1].isoformat()]
        return out


@dataclass(frozen=True)
class FoldPlan:
    """The walk-forward folds, the holdout fold and the embargo that separates parts."""

    folds: tuple[Fold, ...]
    holdout: Fold
    embargo: pd.Timedelta

    @property
    def pre_holdout_rows(self) -> int:
        """Rows the walk-forward may read: everything before the holdout's test block."""
        return self.holdout.test.start

    def describe(self, times: pd.Series) -> list[dict[str, object]]:
        return [
            {"fold": f.name, **_counts(f), **f.time_ranges(times)}
            for f in (*self.folds, self.holdout)
        ]

    def fingerprint(self, times: pd.Series) -> str:
        """Identifies the plan (fold boundaries in time): same folds, same fingerprint."""
        text = json.dumps(self.describe(times), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _counts(fold: Fold) -> dict[str, int]:
    return {f"n_{part}": n for part, n in fold.sizes().items()}


def sessions_of(times: pd.Series) -> np.ndarray:
    """The trading session of every row (days since the epoch of the session's date)."""
    return session_days(times)


def min_sessions(before_holdout: int, holdout_frac: float) -> int:
    """The fewest sessions that leave ``before_holdout`` of them before a ``holdout_frac``
    holdout (at least one holdout session)."""
    n = before_holdout + 1
    while n - max(1, round(n * holdout_frac)) < before_holdout:
        n += 1
    return n


def plan_folds(
    times: pd.Series, n_folds: int, holdout_frac: float, val_frac: float, embargo: pd.Timedelta
) -> FoldPlan:
    """The fold plan of sorted bar ``times`` (see the module docstring)."""
    values = pd.DatetimeIndex(times).as_unit("ns").asi8
    if np.any(np.diff(values) < 0):
        raise ValueError("times must be sorted ascending")
    sessions = sessions_of(times)
    if np.any(np.diff(sessions) < 0):
        raise ValueError("sessions must follow the sorted times")
    days, starts = np.unique(sessions, return_index=True)
    n_holdout = max(1, round(len(days) * holdout_frac))
    pre = days[:-n_holdout]
    needed = 2 * (n_folds + 1)
    if len(pre) < needed:
        raise UserError(
            f"{len(days)} sessions are too few for {n_folds} walk-forward folds and a "
            f"{holdout_frac:.0%} holdout (need {needed} sessions before the holdout, "
            f"{min_sessions(needed, holdout_frac)} in all)",
            "train on a longer date range or pass fewer --folds",
        )
    blocks = np.array_split(pre, n_folds + 1)
    gap = pd.Timedelta(embargo).value
    first_row = {int(d): int(start) for d, start in zip(days, starts, strict=True)}
    row_after = dict(zip(days.tolist(), [*starts[1:].tolist(), len(values)], strict=True))

    def fold(name: str, train_days: np.ndarray, test_days: np.ndarray) -> Fold:
        n_val = max(1, round(len(train_days) * val_frac))
        val_start = values[first_row[int(train_days[-n_val])]]
        test_begin = first_row[int(test_days[0])]
        test_end = len(values) if name == "holdout" else first_row_after(test_days[-1])
        train_end = int(np.searchsorted(values, val_start - gap, side="left"))
        val_begin = first_row[int(train_days[-n_val])]
        val_end = int(np.searchsorted(values, values[test_begin] - gap, side="left"))
        made = Fold(
            name, slice(0, train_end), slice(val_begin, val_end), slice(test_begin, test_end)
        )
        empty = [part for part, size in made.sizes().items() if size <= 0]
        if empty:
            raise UserError(
                f"the embargo {embargo} leaves no rows in the {'/'.join(empty)} part of {name}",
                "train on a longer date range, or pass fewer --folds",
            )
        return made

    def first_row_after(day: np.int64) -> int:
        return int(row_after[int(day)])

    folds = tuple(
        fold(f"fold{k}", np.concatenate(blocks[:k]), blocks[k]) for k in range(1, n_folds + 1)
    )
    holdout = fold("holdout", pre, days[-n_holdout:])
    return FoldPlan(folds, holdout, pd.Timedelta(embargo))
