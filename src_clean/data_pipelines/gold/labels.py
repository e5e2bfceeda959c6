"""Forward-looking labels: the only columns allowed to look ahead (prefix ``target_``).

The label of the bar opening at ``t`` compares the close of the bar opening at exactly
``t + h`` with its own close. It is matched by time, not by row offset, and is NaN when
that bar is missing or lies in another trading segment (after the daily break, a weekend
or a holiday), so no label spans two segments.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from src_clean.time_convention import TARGET_PREFIX, segment_starts

BPS = 1e4


def target_columns(horizon_minutes: int) -> tuple[str, str]:
    """Names of the (return in bps, direction) targets for a horizon."""
    return (
        f"{TARGET_PREFIX}return_{horizon_minutes}m",
        f"{TARGET_PREFIX}direction_{horizon_minutes}m",
    )


def add_labels(features: pd.DataFrame, horizon_minutes: int) -> pd.DataFrame:
    """``features`` (``time``, ``close``, optional ``instrument``) plus the two targets.

    ``target_return_{h}m`` = ``1e4 * log(close(t + h) / close(t))`` in basis points;
    ``target_direction_{h}m`` = 1.0 if that return is positive, 0.0 if not, NaN where the
    return is NaN. Row order is preserved.
    """
    if horizon_minutes <= 0:
        raise ValueError(f"horizon_minutes must be positive, got {horizon_minutes}")
    keys = ["instrument"] if "instrument" in features.columns else []
    bars = (
        features[[*keys, "time"]]
        .reset_index(drop=True)
        .assign(
            segment=_segment_ids(features, keys),
            close=features["close"].to_numpy(dtype=np.float64),
        )
    )
    future = bars.assign(time=bars["time"] - pd.Timedelta(minutes=horizon_minutes))
    joined = bars.merge(
        future, on=[*keys, "time"], how="left", suffixes=("", "_future"), validate="one_to_one"
    )
    same_segment = (joined["segment"] == joined["segment_future"]).to_numpy()
    ratio = (joined["close_future"] / joined["close"]).to_numpy(dtype=np.float64)
    returns = np.where(same_segment, BPS * np.log(ratio), np.nan)
    direction = np.where(np.isnan(returns), np.nan, (returns > 0).astype(np.float64))
    return_column, direction_column = target_columns(horizon_minutes)
    return features.assign(**{return_column: returns, direction_column: direction})


def _segment_ids(features: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """Trading segment id per row (unique across instruments), in the rows' original order."""
    times = pd.DatetimeIndex(features["time"]).as_unit("ns")
    codes = pd.factorize(features[keys[0]])[0] if keys else np.zeros(len(features), np.int64)
    order = np.lexsort((times.asi8, codes))
    starts = segment_starts(times[order])
    starts[1:] |= codes[order][1:] != codes[order][:-1]
    ids = np.empty(len(features), dtype=np.int64)
    ids[order] = np.cumsum(starts) - 1
    return ids
