"""Naive test-set forecasts every model must beat.

- ``zero_return``: predicts a 0 bps return. Zero has no sign, so for directional accuracy it
  bets on the train-set majority direction.
- ``previous_return_sign``: bets that the trailing return continues: the sign of the
  ``ret_{h}m`` feature (h = label horizon) if the table has it, else ``ret_30m``; the predicted
  magnitude is the train mean of ``|target|``. Where the feature is missing or exactly zero it
  falls back to the train majority direction.
- ``train_mean``: predicts the train mean return (direction: its sign).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from src_clean.training.metrics import Forecast

log = logging.getLogger(__name__)

FALLBACK_MOMENTUM_FEATURE = "ret_30m"


def majority_direction(y_train: np.ndarray) -> float:
    """+1 if at least half of the non-zero train targets are up, else -1."""
    nonzero = y_train[y_train != 0]
    return 1.0 if nonzero.size == 0 or np.mean(nonzero > 0) >= 0.5 else -1.0


def zero_return(n: int, y_train: np.ndarray) -> Forecast:
    return Forecast(value=np.zeros(n), direction=np.full(n, majority_direction(y_train)))


def train_mean(n: int, y_train: np.ndarray) -> Forecast:
    return Forecast.from_values(np.full(n, float(np.mean(y_train))))


def momentum_feature(columns: pd.Index, horizon: int) -> str | None:
    """The trailing-return feature ``previous_return_sign`` uses, or None if neither exists."""
    for name in (f"ret_{horizon}m", FALLBACK_MOMENTUM_FEATURE):
        if name in columns:
            return name
    return None


def previous_return_sign(trailing_return: np.ndarray, y_train: np.ndarray) -> Forecast:
    sign = np.sign(np.nan_to_num(trailing_return, nan=0.0))
    direction = np.where(sign == 0, majority_direction(y_train), sign)
    return Forecast(value=direction * float(np.mean(np.abs(y_train))), direction=direction)


def compute_baselines(
    x_test: pd.DataFrame, y_train: np.ndarray, horizon: int
) -> dict[str, Forecast]:
    """Every baseline's forecast for the test rows ``x_test`` (market features)."""
    n = len(x_test)
    baselines = {"zero_return": zero_return(n, y_train), "train_mean": train_mean(n, y_train)}
    feature = momentum_feature(x_test.columns, horizon)
    if feature is None:
        log.warning("no trailing-return feature: skipping previous_return_sign")
    else:
        trailing = x_test[feature].to_numpy(dtype=np.float64)
        baselines["previous_return_sign"] = previous_return_sign(trailing, y_train)
    return baselines
