"""Volatility estimators over trailing bar windows.

Unit: every column is a per-minute volatility, the standard deviation of a one-minute log
return (suffix ``_pm``). Multiply by sqrt(252 * 1380) (trading days times the 1380 trading
minutes of a day) for an annualized figure. Range estimators assume zero drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from src_clean.data_pipelines.silver.bars import Bars

WINDOWS = (30, 60)  # bars
EWMA_LAMBDA = 0.94  # RiskMetrics decay
EWMA_WARMUP = 30  # bars averaged to seed the EWMA variance
_ESTIMATORS = ("rv", "parkinson", "garman_klass", "rogers_satchell", "yang_zhang")

COLUMNS = [f"{name}_{w}_pm" for w in WINDOWS for name in _ESTIMATORS] + ["ewma_vol_pm"]


def _sqrt(variance: np.ndarray) -> np.ndarray:
    """Volatility from a variance estimate, clipping rounding-level negatives to 0."""
    return np.sqrt(np.maximum(variance, 0.0))


def _yang_zhang_k(window: int) -> float:
    """Yang-Zhang weight of the open-to-close variance (minimizes the estimator's variance)."""
    return 0.34 / (1.34 + (window + 1) / (window - 1))


@dataclass(frozen=True)
class _LogTerms:
    """Per-bar log-price terms the estimators average, computed once for all windows."""

    squared_return: np.ndarray  # bar-to-bar close log return, squared
    high_low_sq: np.ndarray  # log(high / low) ** 2
    close_open: np.ndarray  # log(close / open)
    gap: np.ndarray  # log(open / previous close)
    rogers_satchell: np.ndarray  # log(h/c) log(h/o) + log(l/c) log(l/o), >= 0

    @classmethod
    def of(cls, bars: Bars) -> _LogTerms:
        log_h, log_l, log_c = np.log(bars.high), np.log(bars.low), np.log(bars.close)
        log_o = np.log(bars.open)
        return cls(
            squared_return=bars.log_return**2,
            high_low_sq=(log_h - log_l) ** 2,
            close_open=log_c - log_o,
            gap=log_o - np.log(bars.previous(bars.close)),
            rogers_satchell=(log_h - log_c) * (log_h - log_o) + (log_l - log_c) * (log_l - log_o),
        )


def window_estimators(bars: Bars, terms: _LogTerms, window: int) -> dict[str, np.ndarray]:
    """Realized, Parkinson, Garman-Klass, Rogers-Satchell and Yang-Zhang vol over ``window``.

    Realized vol is the root mean square of bar-to-bar log returns. Yang-Zhang combines the
    sample variances of the gap ``log(open / previous close)`` and of ``log(close / open)``
    with the Rogers-Satchell variance.
    """

    def mean(values: np.ndarray) -> np.ndarray:
        return bars.rolling(values, window).mean().to_numpy()

    def var(values: np.ndarray) -> np.ndarray:
        return bars.rolling(values, window).var(ddof=1).to_numpy()

    high_low = mean(terms.high_low_sq)
    rs_var = mean(terms.rogers_satchell)
    k = _yang_zhang_k(window)
    return {
        f"rv_{window}_pm": _sqrt(mean(terms.squared_return)),
        f"parkinson_{window}_pm": _sqrt(high_low / (4.0 * np.log(2.0))),
        f"garman_klass_{window}_pm": _sqrt(
            0.5 * high_low - (2.0 * np.log(2.0) - 1.0) * mean(terms.close_open**2)
        ),
        f"rogers_satchell_{window}_pm": _sqrt(rs_var),
        f"yang_zhang_{window}_pm": _sqrt(
            var(terms.gap) + k * var(terms.close_open) + (1.0 - k) * rs_var
        ),
    }


def ewma_volatility(bars: Bars) -> np.ndarray:
    """RiskMetrics ``s2 = lambda * s2_prev + (1 - lambda) * r^2`` with lambda = 0.94, seeded
    with the mean of the first ``EWMA_WARMUP`` squared returns of the segment."""
    return _sqrt(bars.smooth(bars.log_return**2, EWMA_WARMUP, alpha=1.0 - EWMA_LAMBDA))


def volatility_features(bars: Bars) -> dict[str, np.ndarray]:
    """All volatility ``COLUMNS``."""
    terms = _LogTerms.of(bars)
    out: dict[str, np.ndarray] = {}
    for window in WINDOWS:
        out |= window_estimators(bars, terms, window)
    out["ewma_vol_pm"] = ewma_volatility(bars)
    return out
