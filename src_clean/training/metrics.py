"""Test-set metrics (IC, daily IC, directional accuracy, demeaned too), and the moving-block
bootstrap over whole sessions of the uplift's interval.

Returns and forecasts are in basis points. A forecast carries a value (the predicted return)
and a direction (the side it bets on), because a constant-zero forecast has no sign of its
own (see ``baselines``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

METRICS = (
    "test_rmse",
    "test_mae",
    "test_directional_accuracy",
    "test_directional_accuracy_demeaned",
    "test_ic",
)
CI_LEVEL = 0.95
_MAX_CELLS = 4_000_000  # bootstrap index-matrix cells materialised at once (bounds memory)
_EPS = 1e-12


@dataclass(frozen=True)
class Forecast:
    """A test-set forecast: predicted return (bps) and the direction (+1/-1/0) it bets on."""

    value: np.ndarray
    direction: np.ndarray

    @classmethod
    def from_values(cls, value: np.ndarray) -> Forecast:
        value = np.asarray(value, dtype=np.float64)
        return cls(value=value, direction=np.sign(value))


def rmse(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(y - pred))))


def mae(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(np.abs(y - pred)))


def directional_accuracy(y: np.ndarray, direction: np.ndarray) -> float:
    """Share of rows with a non-zero target whose sign the direction matches (NaN if none)."""
    nonzero = y != 0
    if not nonzero.any():
        return float("nan")
    return float(np.mean(np.sign(direction[nonzero]) == np.sign(y[nonzero])))


def ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank)."""
    return pd.Series(x).rank(method="average").to_numpy()


def row_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis; 0.0 where either side is constant."""
    ac = a - a.mean(axis=-1, keepdims=True)
    bc = b - b.mean(axis=-1, keepdims=True)
    denom = np.sqrt(np.sum(ac * ac, axis=-1) * np.sum(bc * bc, axis=-1))
    num = np.sum(ac * bc, axis=-1)
    return np.divide(num, denom, out=np.zeros_like(num), where=denom > _EPS)


def information_coefficient(y: np.ndarray, pred: np.ndarray) -> float:
    """Spearman rank correlation; 0.0 for a constant forecast."""
    return float(row_correlation(ranks(y), ranks(pred)))


def demeaned_directional_accuracy(y: np.ndarray, pred: np.ndarray, train_mean: float) -> float:
    """How often ``sign(pred - m)`` matches ``sign(y - m)``, ``m`` the train mean return; a
    row without a call (pred or y equal to ``m``) counts a half. A constant forecast scores
    0.5 whatever the drift, so an always-long model cannot pass off the intercept as skill."""
    calls = np.sign(pred - train_mean) * np.sign(y - train_mean)
    return float(np.mean((calls + 1) / 2)) if len(y) else float("nan")


def evaluate(y: np.ndarray, forecast: Forecast, train_mean: float = 0.0) -> dict[str, float]:
    """The test metrics of a forecast (``train_mean``: the training rows' mean return)."""
    return {
        "test_rmse": rmse(y, forecast.value),
        "test_mae": mae(y, forecast.value),
        "test_directional_accuracy": directional_accuracy(y, forecast.direction),
        "test_directional_accuracy_demeaned": demeaned_directional_accuracy(
            y, forecast.value, train_mean
        ),
        "test_ic": information_coefficient(y, forecast.value),
    }


def daily_ic(sessions: np.ndarray, y: np.ndarray, pred: np.ndarray) -> pd.Series:
    """Spearman IC of ``pred`` against ``y`` within each session (0.0 where either side is
    constant), indexed by session."""
    return DailyIC(sessions, y)(pred)


class DailyIC:
    """``daily_ic`` against one ``y``, its ranks computed once: the null scores hundreds of
    shuffled factors against the same test rows."""

    def __init__(self, sessions: np.ndarray, y: np.ndarray) -> None:
        self.sessions = sessions
        self.y = self._centred_ranks(np.asarray(y))
        self.yy = pd.Series(self.y**2).groupby(sessions).sum()

    def _centred_ranks(self, values: np.ndarray) -> np.ndarray:
        grouped = pd.Series(values).groupby(self.sessions)
        ranks = grouped.rank(method="average")
        return (ranks - ranks.groupby(self.sessions).transform("mean")).to_numpy()

    def __call__(self, pred: np.ndarray) -> pd.Series:
        p = self._centred_ranks(np.asarray(pred))
        sums = pd.DataFrame({"yp": self.y * p, "pp": p**2}).groupby(self.sessions).sum()
        denom = np.sqrt(self.yy * sums["pp"])
        return (sums["yp"] / denom).where(denom > _EPS, 0.0)


def session_bootstrap(values: np.ndarray, block: int, n_boot: int, seed: int) -> dict[str, float]:
    """Mean of per-session ``values`` with a 95% moving-block bootstrap interval over whole
    sessions (``block`` consecutive sessions per draw: serial correlation survives). The
    block is at most half the sessions: a circular block as long as the sample redraws the
    sample itself, and the interval would collapse onto the estimate."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return {"estimate": float("nan"), "low": float("nan"), "high": float("nan")}
    block = max(1, min(block, len(values) // 2))
    replicates = block_bootstrap(
        lambda idx: values[idx].mean(axis=1, keepdims=True), len(values), block, n_boot, seed
    )[:, 0]
    interval = percentile_interval(float(values.mean()), replicates)
    return {
        "estimate": interval["estimate"],
        "low": interval["ci_low"],
        "high": interval["ci_high"],
    }


def block_bootstrap(
    statistic: Callable[[np.ndarray], np.ndarray], n: int, block: int, n_boot: int, seed: int
) -> np.ndarray:
    """Replicates of ``statistic`` over circular-block resamples of rows ``0..n-1``.

    ``statistic`` maps an index matrix (resamples x n) to an array (resamples, k). Blocks
    wrap around the end (Politis and Romano's circular block bootstrap), so every row is
    drawn equally often and the replicates are centred on the estimate; a moving block
    that may not wrap under-draws the first and last rows. Block starts are drawn once from
    a seeded generator; the index matrix is expanded in chunks to bound memory, so the
    result does not depend on the chunk size.
    """
    block = max(1, min(block, n))
    n_blocks = -(-n // block)
    starts = np.random.default_rng(seed).integers(0, n, size=(n_boot, n_blocks))
    offsets = np.arange(block)
    chunk = max(1, _MAX_CELLS // n)
    replicates = [
        statistic(((part[:, :, None] + offsets) % n).reshape(len(part), -1)[:, :n])
        for part in np.array_split(starts, range(chunk, n_boot, chunk))
    ]
    return np.concatenate(replicates)


def percentile_interval(
    estimate: float, replicates: np.ndarray, level: float = CI_LEVEL
) -> dict[str, float]:
    """Point estimate with the percentile bootstrap interval at ``level``."""
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(replicates, [tail, 100 - tail])
    return {"estimate": float(estimate), "ci_low": float(low), "ci_high": float(high)}
