"""Volume and bar-shape features.

``volume`` is the broker's tick count (price updates per bar), not traded volume, so the
illiquidity measure is named ``amihud_tick_illiq`` to say so.
"""

from __future__ import annotations

import numpy as np

from src_clean.data_pipelines.silver.bars import Bars, divide

VOLUME_WINDOW = 60  # bars
BPS = 1e4

COLUMNS = [
    f"volume_z_{VOLUME_WINDOW}",
    f"volume_ratio_{VOLUME_WINDOW}",
    "range_atr_ratio",
    "clv",
    "bar_imbalance",
    f"amihud_tick_illiq_{VOLUME_WINDOW}",
]


def volume_features(bars: Bars) -> dict[str, np.ndarray]:
    """Tick-volume z-score and ratio to its trailing ``VOLUME_WINDOW``-bar mean."""
    window = bars.rolling(bars.volume, VOLUME_WINDOW)
    mean = window.mean().to_numpy()
    std = window.std(ddof=1).to_numpy()
    return {
        f"volume_z_{VOLUME_WINDOW}": divide(bars.volume - mean, std),
        f"volume_ratio_{VOLUME_WINDOW}": divide(bars.volume, mean),
    }


def bar_shape(bars: Bars, atr: np.ndarray) -> dict[str, np.ndarray]:
    """Range over ATR, close location value and body imbalance (both 0 when high == low)."""
    span = bars.high - bars.low
    return {
        "range_atr_ratio": divide(span, atr),
        "clv": divide((bars.close - bars.low) - (bars.high - bars.close), span, fill=0.0),
        "bar_imbalance": divide(bars.close - bars.open, span, fill=0.0),
    }


def amihud_tick_illiquidity(bars: Bars) -> np.ndarray:
    """Trailing mean of ``|bar log return| in bps / tick count`` (NaN on a zero tick count)."""
    impact = divide(BPS * np.abs(bars.log_return), bars.volume)
    return bars.rolling(impact, VOLUME_WINDOW).mean().to_numpy()


def microstructure_features(bars: Bars, atr: np.ndarray) -> dict[str, np.ndarray]:
    """All microstructure ``COLUMNS``; ``atr`` is the Wilder ATR in price units."""
    return {
        **volume_features(bars),
        **bar_shape(bars, atr),
        f"amihud_tick_illiq_{VOLUME_WINDOW}": amihud_tick_illiquidity(bars),
    }
