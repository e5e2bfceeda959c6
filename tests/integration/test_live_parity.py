"""Issue 38.5: the live path's features equal the batch pipeline's, bar by bar.

A sample lake is built by the batch stages (bronze to gold). For the bars of one day the
live path computes each bar's inputs from bronze and silver as they stand, and every
feature must equal the ``gold/training`` row bit for bit. A second lake holds only what
had arrived by a bar's decision time (later candles and articles removed): the bar's
inputs are the same there, so the batch rows are what the live path would have seen."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from src_clean import tables
from src_clean.data_pipelines.gold.feature_list import read_feature_list
from src_clean.feature_set import FeatureSet
from src_clean.lake import Lake
from src_clean.live.features import BarNotReady, bar_inputs, feature_hash
from src_clean.run_full_pipeline import PipelineConfig, run_pipeline
from src_clean.sample_data import generate_sample_data

START = dt.date(2024, 1, 1)
DAY = dt.date(2024, 1, 4)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    raw = tmp_path_factory.mktemp("raw")
    generate_sample_data(raw, START, 6, seed=5, articles_per_day=300)
    root = tmp_path_factory.mktemp("lake")
    run_pipeline(
        PipelineConfig(
            lake=root,
            bronze_market=raw / "market",
            bronze_news=raw / "news" / "jsonl",
            sentiment_model="lexicon",
            until="gold",
        )
    )
    return Lake(root)


def test_every_bar_of_a_day_has_the_batch_features_bit_for_bit(lake: Lake) -> None:
    spec = read_feature_list(lake, FeatureSet())
    gold = lake.read(tables.GOLD_TRAINING, DAY, DAY).set_index("time")
    names = [*spec.market_features, *spec.news_features]
    assert len(spec.news_features) >= 10 and len(gold) > 1000
    bars = gold.index[::7]  # every 7th bar of the day, from its first to its last
    for bar in bars:
        live = bar_inputs(lake, bar, spec)
        expected = gold.loc[bar, names].astype(np.float64)
        got = live.vector(names)
        mismatch = [n for n in names if expected[n].tobytes() != np.float64(got[n]).tobytes()]
        assert not mismatch, (bar, {n: (expected[n], got[n]) for n in mismatch})
        assert feature_hash(got) == feature_hash(expected)
        assert live.sentiment_model_id == spec.sentiment_model_id


def test_a_bar_sees_only_what_had_arrived_and_gets_the_same_row(lake: Lake, tmp_path: Path) -> None:
    """Remove from a copy every candle after the bar and every article not yet available
    at its decision time: the inputs are identical (nothing later was ever used)."""
    import shutil

    spec = read_feature_list(lake, FeatureSet())
    bar = pd.Timestamp(f"{DAY}T15:30Z")
    cut = bar + pd.Timedelta(minutes=1)
    copy = Lake(tmp_path / "arrived")
    shutil.copytree(lake.root, copy.root)
    candles = copy.read(tables.BRONZE_CANDLES, DAY, DAY)
    copy.replace_range(tables.BRONZE_CANDLES, candles.loc[candles["time"] <= bar], DAY, DAY)
    last = START + dt.timedelta(days=5)
    scores = copy.read(tables.SILVER_SENTIMENT, START, last)
    kept = scores.loc[scores["available_at"] < cut]
    copy.replace_range(tables.SILVER_SENTIMENT, kept, START, last)
    full, arrived = bar_inputs(lake, bar, spec), bar_inputs(copy, bar, spec)
    names = [*spec.market_features, *spec.news_features]
    assert feature_hash(full.vector(names)) == feature_hash(arrived.vector(names))
    assert arrived.market_data_time == bar
    with pytest.raises(BarNotReady):
        bar_inputs(copy, bar + pd.Timedelta(minutes=1), spec)
