"""Gold labels and training set: values, segment breaks, join, feature list, causality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from gold_data import (
    INSTRUMENT,
    MODEL,
    market_features,
    random_times,
    sentiment,
    session_minutes,
    utc,
    write_silver,
)

from src_clean.cli import main as cli_main
from src_clean.data_pipelines.gold.labels import add_labels
from src_clean.data_pipelines.gold.news import build_news_signals
from src_clean.data_pipelines.gold.training import build_training_set, market_feature_columns
from src_clean.feature_set import FeatureSet
from src_clean.lake import Lake
from src_clean.tables import (
    CANONICAL_WINDOW,
    GOLD_SIGNALS,
    GOLD_TRAINING,
)
from src_clean.time_convention import TARGET_PREFIX

RETURN, DIRECTION = "target_return_2m", "target_direction_2m"


def _bars(times: list[str], closes: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"time": utc(times), "instrument": INSTRUMENT, "close": closes})


def test_label_value_and_direction() -> None:
    closes = [100.0, 101.0, 102.0, 100.0, 99.0]
    bars = _bars([f"2024-03-04T10:0{i}Z" for i in range(5)], closes)
    labelled = add_labels(bars, 2)
    expected = [1e4 * np.log(102 / 100), 1e4 * np.log(100 / 101), 1e4 * np.log(99 / 102)]
    np.testing.assert_allclose(labelled[RETURN].iloc[:3], expected, rtol=1e-12)
    assert labelled[RETURN].iloc[3:].isna().all()
    np.testing.assert_array_equal(labelled[DIRECTION], [1.0, 0.0, 0.0, np.nan, np.nan])
    pd.testing.assert_frame_equal(labelled[bars.columns], bars)


def test_labels_match_by_time_not_row_offset() -> None:
    times = ["10:00", "10:01", "10:02", "10:04", "10:05", "10:06"]
    bars = _bars([f"2024-03-04T{t}Z" for t in times], [100.0, 101, 102, 104, 105, 106])
    labelled = add_labels(bars, 2).set_index(bars["time"].dt.strftime("%H:%M"))[RETURN]
    assert np.isnan(labelled["10:01"]) and np.isnan(labelled["10:05"])  # 10:03, 10:07 missing
    assert labelled["10:02"] == pytest.approx(1e4 * np.log(104 / 102))
    assert labelled["10:04"] == pytest.approx(1e4 * np.log(106 / 104))


def test_labels_never_cross_a_session_break() -> None:
    # Gaps 5, 20, 10, 10 minutes: the 20 minute gap (> 15) starts a new segment at 10:25.
    times = ["10:00", "10:05", "10:25", "10:35", "10:45"]
    bars = _bars([f"2024-03-04T{t}Z" for t in times], [100.0, 101, 102, 103, 104])
    labelled = add_labels(bars, 20)
    returns = labelled[f"{TARGET_PREFIX}return_20m"]
    assert np.isnan(returns.iloc[1])  # 10:05 -> 10:25 exists but lies in the next segment
    assert np.isnan(returns.iloc[0])  # 10:20 is missing
    assert returns.iloc[2] == pytest.approx(1e4 * np.log(104 / 102))  # across 10 minute gaps
    assert (
        labelled[f"{TARGET_PREFIX}direction_20m"].isna().tolist()
        == [True, True, False] + [True] * 2
    )


def test_labels_per_instrument_and_row_order_preserved() -> None:
    times = utc([f"2024-03-04T10:0{i}Z" for i in range(4)])
    both = pd.concat(
        [
            pd.DataFrame({"time": times, "instrument": "A", "close": [1.0, 2.0, 3.0, 4.0]}),
            pd.DataFrame({"time": times, "instrument": "B", "close": [8.0, 4.0, 2.0, 1.0]}),
        ],
        ignore_index=True,
    )
    shuffled = both.sample(frac=1.0, random_state=0)
    labelled = add_labels(shuffled, 2)
    assert labelled.index.equals(shuffled.index)
    by_key = labelled.set_index(["instrument", labelled["time"].dt.minute])[RETURN]
    assert by_key[("A", 0)] == pytest.approx(1e4 * np.log(3.0))
    assert by_key[("B", 1)] == pytest.approx(1e4 * np.log(0.25))
    assert by_key.loc[[("A", 2), ("A", 3), ("B", 2), ("B", 3)]].isna().all()


CUTOFF = pd.Timestamp("2024-03-05T10:17Z")


def _pipeline_inputs(*, truncate: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Silver features and sentiment; truncated: only what is known at ``CUTOFF``.

    Articles sit right around the cutoff, so a signal that peeks past a decision time
    changes the last known bar.
    """
    bars = session_minutes("2024-03-04T19:00Z", "2024-03-06T01:00Z")
    features = market_features(bars, seed=7)
    near_cutoff = CUTOFF + pd.to_timedelta(["-1s", "0s", "30s"])
    published = pd.concat(
        [random_times("2024-03-04T00:00Z", "2024-03-06T01:00Z", 200, 8), pd.Series(near_cutoff)]
    )
    articles = sentiment(published.sort_values().reset_index(drop=True), 9)
    if truncate:
        features = features[features["time"] + pd.Timedelta(minutes=1) <= CUTOFF]
        articles = articles[articles["published_at"] < CUTOFF]
    return features, articles


def _gold_lake(path, *, truncate: bool = False, news: bool = True) -> Lake:
    lake = Lake(path)
    write_silver(lake, *_pipeline_inputs(truncate=truncate))
    if news:
        build_news_signals(lake, half_life_minutes=15.0)
    return lake


def _training(horizon: int, skip_news: bool = False) -> tuple[str, str]:
    """(training table, feature list) of the 60-minute window's variant for ``horizon``."""
    feature_set = FeatureSet(skip_news, CANONICAL_WINDOW, horizon)
    return feature_set.training_table, feature_set.feature_list


def test_training_set_columns_and_feature_list(tmp_path) -> None:
    lake = _gold_lake(tmp_path)
    report = build_training_set(lake, horizon_minutes=15)
    table, features = _training(15)
    assert table == "gold/variants/news-w60-h15/training"
    assert not lake.partitions(GOLD_TRAINING)  # another horizon never writes the canonical
    gold = lake.read(table)
    spec = lake.files.read_json(features)
    news = sorted(c for c in gold.columns if c.startswith("news_"))
    assert spec == {
        "market_features": ["ret_1m", "segment_start", "volatility_15m"],
        "news_features": news,
        "targets": ["target_direction_15m", "target_return_15m"],
        "horizon_minutes": 15,
        "window_minutes": 60,
        "news_lag_minutes": 0,
        "news_half_life_minutes": 15.0,
        "sentiment_model_id": MODEL,
        "skip_news": False,
        "news_time": "available_at",
    }
    assert len(news) == 11
    assert list(gold.columns) == [
        "time",
        "instrument",
        "ret_1m",
        "volatility_15m",
        "segment_start",
        *news,
        "target_return_15m",
        "target_direction_15m",
    ]
    assert report.rows == len(gold) == len(lake.read("silver/market/features"))
    assert 0 < report.labelled_rows == gold["target_return_15m"].notna().sum() < len(gold)
    assert gold["news_count"].dtype == np.int64 and gold["news_count"].gt(0).any()


def test_market_feature_columns_excludes_identifiers_and_price() -> None:
    features, _ = _pipeline_inputs()
    assert market_feature_columns(features) == ["ret_1m", "volatility_15m", "segment_start"]


def test_skip_news_has_no_news_columns(tmp_path) -> None:
    lake = _gold_lake(tmp_path, news=False)
    assert cli_main(["gold-training", "--lake", lake.root, "--skip-news"]) == 0
    table, features = _training(30, skip_news=True)
    gold = lake.read(table)
    spec = lake.files.read_json(features)
    assert not lake.partitions(GOLD_TRAINING)
    assert not [c for c in gold.columns if c.startswith("news_")]
    assert spec["news_features"] == [] and spec["skip_news"] is True
    assert spec["sentiment_model_id"] is None and spec["targets"][1] == "target_return_30m"


def test_missing_news_rows_are_an_error(tmp_path) -> None:
    lake = _gold_lake(tmp_path, news=False)
    build_news_signals(lake, end="2024-03-05")
    with pytest.raises(
        ValueError, match=r"bars have no row in gold/news/signals \(first 2024-03-06"
    ):
        build_training_set(lake)


def test_signals_built_with_different_windows_are_not_mixed(tmp_path) -> None:
    lake = _gold_lake(tmp_path)
    canonical = lake.read(GOLD_SIGNALS)
    build_news_signals(lake, window_minutes=90, start="2024-03-06")
    pd.testing.assert_frame_equal(lake.read(GOLD_SIGNALS), canonical)
    assert set(lake.read(FeatureSet(window_minutes=90).signals_table)["window_minutes"]) == {90}
    with pytest.raises(ValueError, match=r"bars have no row in gold/variants/news-w90/signals"):
        build_training_set(lake, window_minutes=90)
    assert build_training_set(lake).rows == len(canonical)


def test_labels_of_the_last_day_use_the_next_day(tmp_path) -> None:
    lake = _gold_lake(tmp_path)
    build_training_set(lake, horizon_minutes=30)
    full = lake.read(GOLD_TRAINING)
    for day in lake.partitions(GOLD_TRAINING):
        lake.replace_range(GOLD_TRAINING, lambda: [], day, day)

    report = build_training_set(lake, horizon_minutes=30, start="2024-03-05", end="2024-03-05")
    assert report.partitions == ("2024-03-05",)
    one_day = lake.read(GOLD_TRAINING)
    late = one_day["time"] == pd.Timestamp("2024-03-05T23:50Z")
    assert one_day.loc[late, "target_return_30m"].notna().all()
    in_day = full["time"].dt.date == pd.Timestamp("2024-03-05").date()
    pd.testing.assert_frame_equal(one_day, full[in_day].reset_index(drop=True))


def test_rerun_is_idempotent(tmp_path) -> None:
    lake = _gold_lake(tmp_path)
    first = build_training_set(lake)
    table = lake.read(GOLD_TRAINING)
    assert build_training_set(lake) == first
    assert [str(d) for d in lake.partitions(GOLD_TRAINING)] == list(first.partitions)
    pd.testing.assert_frame_equal(lake.read(GOLD_TRAINING), table, check_exact=True)


def test_truncating_inputs_after_a_cutoff_leaves_earlier_rows_unchanged(tmp_path) -> None:
    full = _gold_lake(tmp_path / "full")
    truncated = _gold_lake(tmp_path / "truncated", truncate=True)
    build_training_set(full, horizon_minutes=15)
    build_training_set(truncated, horizon_minutes=15)

    def known(lake: Lake) -> pd.DataFrame:
        gold = lake.read(_training(15)[0])
        rows = gold["time"] + pd.Timedelta(minutes=1) <= CUTOFF
        return gold.loc[rows, [c for c in gold.columns if not c.startswith(TARGET_PREFIX)]]

    before = known(full)
    assert len(before) == len(known(truncated)) > 800
    assert before["news_minutes_since_last"].iloc[-1] == pytest.approx(1 / 60)
    pd.testing.assert_frame_equal(known(truncated), before)
