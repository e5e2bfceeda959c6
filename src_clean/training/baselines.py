"""Naive test-set forecasts every model must beat.

- ``zero_return``: predicts a 0 bps return. Zero has no sign, so for directional accuracy it
  bets on the train-set majority direction.
- ``previous_return_sign``: bets that the trailing return continues: the sign of the
  ``ret_{h}m`` feature (h = label horizon) if the table has it, else ``ret_30m``; the predicted
  magnitude is the train mean of ``|target|``. Where the feature is missing or exactly zero it
  falls back to the train majority direction.
- ``train_mean``: predicts the train mean return (direction: its sign).
- ``ridge``: a ridge regression on the market features, standardised with the training
  rows' mean and spread (a missing value becomes the training mean), its penalty chosen
  on the validation rows by IC from ``RIDGE_ALPHAS``: the linear control a tree model
  must beat.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from src_clean.training.metrics import Forecast, information_coefficient

log = logging.getLogger(__name__)

FALLBACK_MOMENTUM_FEATURE = "ret_30m"
RIDGE_ALPHAS = (1.0, 100.0, 10_000.0)


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


def _standardise(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return np.nan_to_num((x - mean) / scale, nan=0.0, posinf=0.0, neginf=0.0)


def ridge_forecast(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    x_test: np.ndarray,
) -> Forecast:
    """The ridge baseline's test forecast (fitted on train, penalty chosen on validation)."""
    mean = np.nanmean(x_train, axis=0)
    scale = np.nanstd(x_train, axis=0)
    mean, scale = np.nan_to_num(mean), np.where(np.nan_to_num(scale) > 0, scale, 1.0)
    train = _standardise(x_train, mean, scale)
    gram, moment, intercept = train.T @ train, train.T @ (y_train - y_train.mean()), y_train.mean()
    best: tuple[float, np.ndarray] | None = None
    for alpha in RIDGE_ALPHAS:
        beta = np.linalg.solve(gram + alpha * np.eye(len(gram)), moment)
        score = information_coefficient(y_val, _standardise(x_val, mean, scale) @ beta)
        if best is None or score > best[0]:
            best = (score, beta)
    assert best is not None
    return Forecast.from_values(intercept + _standardise(x_test, mean, scale) @ best[1])
