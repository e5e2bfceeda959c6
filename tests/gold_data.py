"""Small silver inputs for the gold-layer tests, following the silver table schemas."""

from __future__ import annotations

import numpy as np
import pandas as pd

from src_clean.lake import Lake
from src_clean.tables import SILVER_FEATURES, SILVER_SENTIMENT

MODEL = "test/finbert"
INSTRUMENT = "SPX500_USD"
LABELS = np.array(["positive", "negative", "neutral"])


def utc(values: str | list[str]) -> pd.Series:
    """UTC timestamps (ns) from ISO strings."""
    return pd.Series(pd.to_datetime(values, utc=True)).dt.as_unit("ns")


def session_minutes(first: str, last: str, break_hour: int = 21) -> pd.Series:
    """Minute bar opens from ``first`` to ``last`` with the daily break hour left out."""
    times = pd.Series(pd.date_range(first, last, freq="min", tz="UTC", unit="ns"))
    return times[times.dt.hour != break_hour].reset_index(drop=True)


def market_features(times: pd.Series, seed: int = 0) -> pd.DataFrame:
    """A silver market features frame: ``time``, ``instrument``, ``close`` and three features."""
    rng = np.random.default_rng(seed)
    log_returns = rng.normal(0.0, 5e-4, len(times))
    return pd.DataFrame(
        {
            "time": times.to_numpy(),
            "instrument": INSTRUMENT,
            "close": 5000.0 * np.exp(np.cumsum(log_returns)),
            "ret_1m": log_returns,
            "volatility_15m": np.abs(rng.normal(0.0, 1.0, len(times))),
            "segment_start": rng.integers(0, 2, len(times)).astype(np.int8),
        }
    )


def sentiment(
    published: pd.Series,
    seed: int = 0,
    model_id: str = MODEL,
    available: pd.Series | None = None,
) -> pd.DataFrame:
    """A silver sentiment frame with random but consistent probabilities, score and label;
    ``available_at`` is ``available`` (default: the publication times)."""
    rng = np.random.default_rng(seed)
    probabilities = rng.dirichlet([1.0, 1.0, 1.0], len(published))
    return pd.DataFrame(
        {
            "article_id": [f"a{seed}-{i}" for i in range(len(published))],
            "published_at": published.to_numpy(),
            "available_at": (published if available is None else available).to_numpy(),
            "model_id": model_id,
            "p_positive": probabilities[:, 0],
            "p_negative": probabilities[:, 1],
            "p_neutral": probabilities[:, 2],
            "label": LABELS[probabilities.argmax(axis=1)],
            "score": probabilities[:, 0] - probabilities[:, 1],
            "scored_at": pd.Timestamp("2024-06-01", tz="UTC"),
        }
    )


def random_times(first: str, last: str, n: int, seed: int) -> pd.Series:
    """``n`` random UTC timestamps (second resolution) between ``first`` and ``last``."""
    rng = np.random.default_rng(seed)
    start, stop = pd.Timestamp(first, tz="UTC"), pd.Timestamp(last, tz="UTC")
    seconds = rng.integers(0, int((stop - start).total_seconds()), n)
    return pd.Series(start + pd.to_timedelta(np.sort(seconds), unit="s")).dt.as_unit("ns")


def write_silver(lake: Lake, features: pd.DataFrame, articles: pd.DataFrame) -> None:
    """Write the two silver tables the gold stages read."""
    lake.replace_range(SILVER_FEATURES, features)
    lake.upsert(SILVER_SENTIMENT, articles)
