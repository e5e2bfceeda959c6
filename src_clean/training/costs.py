"""Cost-aware score: forecasts traded on non-overlapping, horizon-long trades after a spread.

Trades: from the first bar, the next entry is the first bar at least ``horizon`` minutes
after the previous entry, so no two trades overlap and each earns its bar's forward
``horizon``-minute return (``target_return``, bps). Each round trip pays the spread
(``spread_points`` index points, converted to bps at the entry bar's close).

Strategies:

- ``sign``: long when the forecast is above 0, short when below, flat at exactly 0;
- ``threshold``: trades only when the forecast's magnitude exceeds the round-trip cost;
- ``buy_and_hold``: long through every slot, paying one round trip over the whole span.

Per strategy: net mean and its standard error per trade slot (slots are non-overlapping,
so close to independent), hit rate of the trades taken, turnover (share of slots traded),
the max drawdown of the cumulative net bps, and the net equity curve.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BPS = 10_000.0
DEFAULT_SPREAD_POINTS = 0.5


def trade_slots(times: pd.Series, horizon_minutes: int) -> np.ndarray:
    """Row positions of non-overlapping trade entries (rows sorted by time)."""
    values = pd.DatetimeIndex(times).as_unit("ns").asi8
    step = pd.Timedelta(minutes=horizon_minutes).value
    slots, next_time = [], np.iinfo(np.int64).min
    position = 0
    while position < len(values):
        position = int(np.searchsorted(values, max(next_time, values[position]), side="left"))
        if position >= len(values):
            break
        slots.append(position)
        next_time = values[position] + step
        position += 1
    return np.asarray(slots, dtype=np.int64)


def cost_bps(close: np.ndarray, spread_points: float) -> np.ndarray:
    """A round trip's spread in bps of each entry price."""
    return spread_points / np.asarray(close, dtype=np.float64) * BPS


def _max_drawdown(curve: np.ndarray) -> float:
    if len(curve) == 0:
        return 0.0
    peaks = np.maximum.accumulate(np.concatenate([[0.0], curve]))[1:]
    return float(np.max(peaks - curve))


def trade(returns: np.ndarray, position: np.ndarray, costs: np.ndarray) -> dict[str, object]:
    """Score ``position`` (+1/-1/0 per slot) on the slots' ``returns`` after ``costs``."""
    net = position * returns - np.abs(position) * costs
    traded = position != 0
    n = len(net)
    return {
        "net_mean_bps": float(net.mean()) if n else float("nan"),
        "net_se_bps": float(net.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan"),
        "hit_rate": float(np.mean(net[traded] > 0)) if traded.any() else float("nan"),
        "turnover": float(traded.mean()) if n else 0.0,
        "max_drawdown_bps": _max_drawdown(np.cumsum(net)),
        "trades": int(traded.sum()),
        "slots": n,
        "equity_bps": np.cumsum(net),
    }


def strategies(
    returns: np.ndarray, forecast: np.ndarray, costs: np.ndarray
) -> dict[str, dict[str, object]]:
    """``sign``, ``threshold`` and ``buy_and_hold`` on the trade slots."""
    sign = np.sign(forecast)
    threshold = np.where(np.abs(forecast) > costs, sign, 0.0)
    hold = np.ones(len(returns))
    spread_once = np.zeros(len(returns))
    if len(returns):
        spread_once[0] = costs[0]
    return {
        "sign": trade(returns, sign, costs),
        "threshold": trade(returns, threshold, costs),
        "buy_and_hold": trade(returns, hold, spread_once),
    }


def without_curves(results: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    """``strategies`` results without the equity arrays (for JSON and MLflow)."""
    return {
        name: {key: value for key, value in scores.items() if key != "equity_bps"}
        for name, scores in results.items()
    }
