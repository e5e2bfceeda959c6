"""One bar's model inputs, computed by the batch pipeline's own functions.

The live path never re-implements a feature: the market columns come from
``silver.market.features_by_instrument`` over the bar's trading segment (the same warm-up
``silver-market`` reads), the news columns from ``gold.news.compute_news_signals`` over the
articles ``gold.news.signal_articles`` returns (the batch stage's reader), with the window,
lag and half-life the training table recorded (``FeatureSpec``). Both functions are causal
and do not depend on the read range, so a bar's row equals its ``gold/training`` row once
the same articles are available (``tests/integration/test_live_parity.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pandas as pd

from src_clean.data_pipelines.gold.feature_list import FeatureSpec
from src_clean.data_pipelines.gold.news import (
    HALF_LIFE_MINUTES,
    NEWS_TIME,
    compute_news_signals,
    signal_articles,
)
from src_clean.data_pipelines.silver.market import features_by_instrument, read_with_warmup
from src_clean.lake import Lake
from src_clean.tables import BRONZE_CANDLES
from src_clean.time_convention import decision_time


class BarNotReady(LookupError):
    """The bar's candle is not in bronze yet (the market feed is behind)."""


@dataclasses.dataclass(frozen=True)
class BarInputs:
    """A bar's feature row and what it was computed from."""

    bar_time: pd.Timestamp
    instrument: str
    features: pd.Series  # every market and news feature of the training table
    sentiment_model_id: str | None
    market_data_time: pd.Timestamp  # the newest candle bronze held
    news_data_time: pd.Timestamp | None  # the newest article availability it held

    @property
    def decision_time(self) -> pd.Timestamp:
        return decision_time(self.bar_time)

    def vector(self, names: list[str]) -> pd.Series:
        """The values of ``names``, in that order (a model's inputs)."""
        return self.features[names].astype(np.float64)


def feature_hash(values: pd.Series) -> str:
    """SHA-256 of the names and exact float64 bits of ``values``: equal hashes, equal inputs."""
    payload = json.dumps(
        [[name, float(v).hex()] for name, v in values.astype(np.float64).items()]
    ).encode()
    return hashlib.sha256(payload).hexdigest()


def bar_inputs(lake: Lake, bar_time: pd.Timestamp, spec: FeatureSpec) -> BarInputs:
    """The features of the bar opening at ``bar_time`` (UTC), from what the lake holds now."""
    bar_time = pd.Timestamp(bar_time).tz_convert("UTC")
    day = bar_time.date()
    candles = read_with_warmup(lake, lake.partitions(BRONZE_CANDLES), day, day)
    newest_candle = candles["time"].max() if len(candles) else None
    candles = candles.loc[candles["time"] <= bar_time]
    if candles.empty or not (candles["time"] == bar_time).any():
        raise BarNotReady(f"no candle for {bar_time.isoformat()} in {BRONZE_CANDLES} yet")
    market = features_by_instrument(candles)
    row = market.loc[market["time"] == bar_time].iloc[0]
    features = row[list(spec.market_features)]
    model_id, news_time = spec.sentiment_model_id, None
    if not spec.skip_news:
        window = int(spec.window_minutes or 0)
        lag = int(spec.news_lag_minutes or 0)
        half_life = float(spec.news_half_life_minutes or HALF_LIFE_MINUTES)
        articles, model_id, _ = signal_articles(lake, bar_time, day, window, lag, model_id)
        signals = compute_news_signals(pd.Series([bar_time]), articles, window, lag, half_life)
        features = pd.concat([features, signals.iloc[0][list(spec.news_features)]])
        known = articles.loc[articles[NEWS_TIME] < decision_time(bar_time), NEWS_TIME]
        news_time = known.max() if len(known) else None
    return BarInputs(
        bar_time=bar_time,
        instrument=str(row["instrument"]),
        features=features,
        sentiment_model_id=model_id,
        market_data_time=newest_candle,
        news_data_time=news_time,
    )
