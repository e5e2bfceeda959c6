"""Timestamps in frames: every datetime column as ``datetime64[ns, UTC]``."""

from __future__ import annotations

import pandas as pd

UTC_NS = pd.DatetimeTZDtype("ns", "UTC")


def normalize_timestamps(df: pd.DataFrame) -> pd.DataFrame:
    """Cast every datetime column to ``datetime64[ns, UTC]`` (naive values are UTC)."""
    out = df
    for col in df.columns:
        dtype = df[col].dtype
        if dtype == UTC_NS:
            continue
        if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
            series = df[col]
            if series.dt.tz is None:
                series = series.dt.tz_localize("UTC")
            if out is df:
                out = df.copy()
            out[col] = series.dt.tz_convert("UTC").astype(UTC_NS)
    return out
