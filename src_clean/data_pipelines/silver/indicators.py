"""Price features: exact-time log returns and classic technical indicators.

Every indicator is scale-free (a ratio, a percentage or a log return), so no raw price level
leaks into the features. Wilder-smoothed indicators (RSI, ATR, ADX) and EMAs are seeded with
the simple mean of their first ``n`` values, as in TA-Lib.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from src_clean.data_pipelines.silver.bars import Bars, divide

RETURN_HORIZONS = (1, 5, 15, 30, 60, 120, 240)  # minutes
RSI_WINDOW = 14
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
BOLLINGER_WINDOW, BOLLINGER_WIDTH = 20, 2.0
ATR_WINDOW = 14
STOCH_WINDOW, STOCH_SMOOTH = 14, 3
ADX_WINDOW = 14
MA_WINDOWS = (20, 60)

RETURN_COLUMNS = [f"ret_{h}m" for h in RETURN_HORIZONS]
TECHNICAL_COLUMNS = [
    f"rsi_{RSI_WINDOW}",
    "macd_line_ratio",
    "macd_signal_ratio",
    "macd_hist_ratio",
    f"bb_pct_b_{BOLLINGER_WINDOW}",
    f"bb_width_{BOLLINGER_WINDOW}",
    f"atr_{ATR_WINDOW}_ratio",
    f"stoch_k_{STOCH_WINDOW}",
    f"stoch_d_{STOCH_SMOOTH}",
    f"adx_{ADX_WINDOW}",
    *[f"dist_{kind}_{n}" for kind in ("ema", "sma") for n in MA_WINDOWS],
]


def _wilder(bars: Bars, values: np.ndarray, n: int) -> np.ndarray:
    return bars.smooth(values, n, alpha=1.0 / n)


def _ema(bars: Bars, values: np.ndarray, n: int) -> np.ndarray:
    return bars.smooth(values, n, alpha=2.0 / (n + 1))


def log_returns(bars: Bars) -> dict[str, np.ndarray]:
    """``ret_{h}m = log(close_t / close_{t-h min})`` using the bar that opened exactly ``h``
    minutes earlier in the same segment; NaN when that bar is missing (not the h-th row back)."""
    return {
        f"ret_{h}m": np.log(bars.close / bars.at_offset(bars.close, pd.Timedelta(minutes=h)))
        for h in RETURN_HORIZONS
    }


def true_range(bars: Bars) -> np.ndarray:
    """``max(h - l, |h - c_prev|, |l - c_prev|)``; NaN at a segment start (no previous close)."""
    prev_close = bars.previous(bars.close)
    return np.maximum.reduce(
        [bars.high - bars.low, np.abs(bars.high - prev_close), np.abs(bars.low - prev_close)]
    )


def average_true_range(bars: Bars, n: int = ATR_WINDOW) -> np.ndarray:
    """Wilder ATR in price units (divide by close before using it as a feature)."""
    return _wilder(bars, true_range(bars), n)


def rsi(bars: Bars, n: int = RSI_WINDOW) -> np.ndarray:
    """Wilder RSI in [0, 100]; 50 when the window has neither gains nor losses."""
    change = bars.close - bars.previous(bars.close)
    gain = _wilder(bars, np.maximum(change, 0.0), n)
    loss = _wilder(bars, np.maximum(-change, 0.0), n)
    return 100.0 * divide(gain, gain + loss, fill=0.5)


def macd(bars: Bars) -> dict[str, np.ndarray]:
    """MACD(12, 26, 9) line, signal and histogram, each divided by the close."""
    line = _ema(bars, bars.close, MACD_FAST) - _ema(bars, bars.close, MACD_SLOW)
    signal = _ema(bars, line, MACD_SIGNAL)
    return {
        "macd_line_ratio": line / bars.close,
        "macd_signal_ratio": signal / bars.close,
        "macd_hist_ratio": (line - signal) / bars.close,
    }


def bollinger(bars: Bars) -> dict[str, np.ndarray]:
    """Bollinger(20, 2) %B (position of the close in the band) and width relative to the SMA."""
    window = bars.rolling(bars.close, BOLLINGER_WINDOW)
    mid = window.mean().to_numpy()
    half_width = BOLLINGER_WIDTH * window.std(ddof=0).to_numpy()
    lower = mid - half_width
    return {
        f"bb_pct_b_{BOLLINGER_WINDOW}": divide(bars.close - lower, 2.0 * half_width),
        f"bb_width_{BOLLINGER_WINDOW}": 2.0 * half_width / mid,
    }


def stochastic(bars: Bars) -> dict[str, np.ndarray]:
    """Stochastic %K(14) in [0, 100] and its 3-bar SMA %D; NaN when the 14-bar range is 0."""
    lowest = bars.rolling(bars.low, STOCH_WINDOW).min().to_numpy()
    highest = bars.rolling(bars.high, STOCH_WINDOW).max().to_numpy()
    k = 100.0 * divide(bars.close - lowest, highest - lowest)
    d = bars.rolling(k, STOCH_SMOOTH).mean().to_numpy()
    return {f"stoch_k_{STOCH_WINDOW}": k, f"stoch_d_{STOCH_SMOOTH}": d}


def adx(bars: Bars, atr: np.ndarray, n: int = ADX_WINDOW) -> np.ndarray:
    """Wilder ADX in [0, 100]; ``atr`` is the Wilder ATR over the same ``n`` bars."""
    up = bars.high - bars.previous(bars.high)
    down = bars.previous(bars.low) - bars.low
    plus_dm = np.where(up > np.fmax(down, 0.0), up, 0.0)
    minus_dm = np.where(down > np.fmax(up, 0.0), down, 0.0)
    plus_dm[bars.is_segment_start] = minus_dm[bars.is_segment_start] = np.nan
    plus_di = divide(_wilder(bars, plus_dm, n), atr, fill=0.0)
    minus_di = divide(_wilder(bars, minus_dm, n), atr, fill=0.0)
    dx = 100.0 * divide(np.abs(plus_di - minus_di), plus_di + minus_di, fill=0.0)
    return _wilder(bars, dx, n)


def moving_average_distances(bars: Bars) -> dict[str, np.ndarray]:
    """``close / MA - 1`` for the EMA and SMA of each window in ``MA_WINDOWS``."""
    out = {}
    for n in MA_WINDOWS:
        out[f"dist_ema_{n}"] = bars.close / _ema(bars, bars.close, n) - 1.0
        out[f"dist_sma_{n}"] = bars.close / bars.rolling(bars.close, n).mean().to_numpy() - 1.0
    return out


def technical_features(bars: Bars, atr: np.ndarray) -> dict[str, np.ndarray]:
    """All ``TECHNICAL_COLUMNS``; ``atr`` is ``average_true_range(bars)``, computed once."""
    return {
        f"rsi_{RSI_WINDOW}": rsi(bars),
        **macd(bars),
        **bollinger(bars),
        f"atr_{ATR_WINDOW}_ratio": atr / bars.close,
        **stochastic(bars),
        f"adx_{ADX_WINDOW}": adx(bars, atr),
        **moving_average_distances(bars),
    }
