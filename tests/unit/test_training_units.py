"""Units of the trainer: split, metrics, baselines, bootstrap, champion rule, and the
planted-signal / zero-effect experiments (no MLflow here; see test_training_mlflow.py)."""

from __future__ import annotations

import argparse
import datetime as dt
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy.stats import spearmanr

from src_clean import tables
from src_clean.data_pipelines.gold.feature_list import FeatureSpec, read_feature_list
from src_clean.errors import UserError
from src_clean.feature_set import FeatureSet
from src_clean.lake import Lake
from src_clean.training import costs, metrics
from src_clean.training.baselines import compute_baselines, majority_direction
from src_clean.training.config import TrainConfig, config_from_args
from src_clean.training.lineage import airflow_tags
from src_clean.training.metrics import Forecast
from src_clean.training.tracking import split_credentials
from src_clean.training.train import (
    add_arguments,
    check_variant,
    read_gold,
    run_experiment,
)

HORIZON = 5
MARKET = ["ret_1m", "ret_5m", "ret_30m", "rv_30"]
NEWS = ["news_count", "news_mean_score", "news_decay_score"]
FAST = TrainConfig(
    fit_stride_minutes=1,  # synthetic labels are independent per bar: nothing overlaps
    n_estimators=300,
    learning_rate=0.1,
    early_stopping_rounds=20,
    bootstrap=300,
    n_folds=3,
    n_seeds=2,
    null_permutations=39,  # the least that can claim: Holm needs p <= 0.025
    news_lags=(0, 15),
)


def synthetic_gold(
    effect: float, days: int = 20, bars: int = 390, seed: int = 0, horizon: int = HORIZON
) -> pd.DataFrame:
    """Weekday sessions of M1 bars; target_return = effect * news_decay_score + noise (bps).

    The last ``horizon`` bars of each session have no label (labels never span sessions).
    """
    rng = np.random.default_rng(seed)
    opens = pd.date_range("2024-03-04 14:30", periods=days, freq="B", tz="UTC")
    times = opens.repeat(bars) + pd.to_timedelta(np.tile(np.arange(bars), days), unit="min")
    n = len(times)
    count = rng.poisson(0.7, n)
    decay = np.where(count > 0, rng.standard_normal(n), 0.0)
    target = effect * decay + 5.0 * rng.standard_normal(n)
    target[np.tile(np.arange(bars) >= bars - horizon, days)] = np.nan
    frame = pd.DataFrame({"time": times, "instrument": "SPX500_USD"})
    frame[MARKET] = rng.standard_normal((n, len(MARKET)))
    frame["news_count"] = count.astype(np.float64)
    frame["news_mean_score"] = np.where(count > 0, decay + rng.normal(0, 0.5, n), np.nan)
    frame["news_decay_score"] = decay
    frame[f"target_return_{horizon}m"] = target
    frame[f"target_direction_{horizon}m"] = np.where(np.isnan(target), np.nan, target > 0)
    return frame


def feature_doc(skip_news: bool = False, horizon: int = HORIZON, window: int | None = 60) -> dict:
    return {
        "market_features": MARKET,
        "news_features": [] if skip_news else NEWS,
        "targets": [f"target_return_{horizon}m", f"target_direction_{horizon}m"],
        "horizon_minutes": horizon,
        "window_minutes": window,
        "sentiment_model_id": None if skip_news else "ProsusAI/finbert@test",
        "skip_news": skip_news,
    }


def write_gold(lake: Lake, frame: pd.DataFrame, variant: str | None = None, **doc) -> int:
    """Replace a gold training table (and the silver closes the costs need) and write its
    ``_features.json``; the new Delta version of the gold table."""
    table = FeatureSet.from_name(variant).training_table
    lake.replace_range(table, frame)
    prices = frame[["time", "instrument"]].assign(close=5000.0 + np.arange(len(frame)) % 7)
    lake.replace_range(tables.SILVER_FEATURES, prices)  # the entry prices of the costs
    lake.files.write_json(FeatureSet.from_name(variant).feature_list, feature_doc(**doc))
    return lake.version(table)


def experiment(
    effect: float,
    skip_news: bool = False,
    seed: int = 0,
    config: TrainConfig = FAST,
    widen: Callable[[pd.DataFrame, dict], tuple[pd.DataFrame, dict]] | None = None,
):
    """``run_experiment`` on synthetic gold; ``widen`` may add columns to the frame and
    the feature list first."""
    frame = synthetic_gold(effect, seed=seed)
    frame = frame[frame[f"target_return_{HORIZON}m"].notna()].reset_index(drop=True)
    doc = feature_doc(skip_news)
    if widen is not None:
        frame, doc = widen(frame, doc)
    prices = np.full(len(frame), 5000.0)
    return run_experiment(frame, FeatureSpec.from_json(doc), config, prices)


# -- split --------------------------------------------------------------------------


def test_embargo_is_at_least_the_horizon() -> None:
    assert TrainConfig().embargo(30) == 30
    assert TrainConfig(embargo_minutes=60).embargo(30) == 60
    with pytest.raises(UserError, match="holdout_frac"):
        TrainConfig(holdout_frac=0.6)


# -- metrics ------------------------------------------------------------------------


def test_metrics_on_known_values() -> None:
    y = np.array([1.0, -2.0, 3.0, 0.0])
    pred = np.array([2.0, -1.0, -1.0, 5.0])
    scores = metrics.evaluate(y, Forecast.from_values(pred))
    assert scores["test_rmse"] == pytest.approx(math.sqrt(43 / 4))
    assert scores["test_mae"] == pytest.approx(11 / 4)
    assert scores["test_directional_accuracy"] == pytest.approx(2 / 3)  # zero target excluded
    assert scores["test_ic"] == pytest.approx(spearmanr(y, pred).statistic)


def test_ic_of_a_constant_forecast_is_zero() -> None:
    y = np.array([1.0, -2.0, 3.0])
    assert metrics.information_coefficient(y, np.full(3, 0.5)) == 0.0


# -- baselines ----------------------------------------------------------------------


def test_baselines_on_known_values() -> None:
    y_train = np.array([2.0, -1.0, 3.0, -4.0, 5.0])  # 3 of 5 up, mean 1, mean |y| 3
    x_test = pd.DataFrame({"ret_5m": [0.5, -0.2, np.nan], "ret_30m": [-1.0, -1.0, -1.0]})
    baselines = compute_baselines(x_test, y_train, horizon=5)
    assert majority_direction(y_train) == 1.0
    assert baselines["zero_return"].value.tolist() == [0.0, 0.0, 0.0]
    assert baselines["zero_return"].direction.tolist() == [1.0, 1.0, 1.0]
    assert baselines["train_mean"].value.tolist() == [1.0, 1.0, 1.0]
    momentum = baselines["previous_return_sign"]
    assert momentum.direction.tolist() == [1.0, -1.0, 1.0]  # ret_5m sign; NaN -> majority
    assert momentum.value.tolist() == [3.0, -3.0, 3.0]


def test_previous_return_sign_falls_back_to_ret_30m_or_is_skipped() -> None:
    y_train = np.array([-1.0, -1.0, 2.0])
    fallback = compute_baselines(pd.DataFrame({"ret_30m": [2.0]}), y_train, horizon=15)
    assert fallback["previous_return_sign"].direction.tolist() == [1.0]
    assert "previous_return_sign" not in compute_baselines(
        pd.DataFrame({"rv_30": [2.0]}), y_train, horizon=15
    )


# -- bootstrap ----------------------------------------------------------------------


def test_block_bootstrap_draws_circular_blocks_within_range() -> None:
    seen = []

    def statistic(idx: np.ndarray) -> np.ndarray:
        seen.append(idx)
        return idx.mean(axis=1, keepdims=True)

    replicates = metrics.block_bootstrap(statistic, n=23, block=5, n_boot=40, seed=1)
    idx = np.concatenate(seen)
    assert replicates.shape == (40, 1) and idx.shape == (40, 23)
    assert idx.min() >= 0 and idx.max() <= 22
    blocks = idx[:, :20].reshape(40, 4, 5)
    assert np.all(np.diff(blocks, axis=2) % 23 == 1)  # contiguous, wrapping past the end
    assert np.any(np.diff(blocks, axis=2) == -22)  # some block does wrap


def test_block_bootstrap_replicates_are_centred_on_the_estimate() -> None:
    """Circular blocks draw every session equally often: a trend in the values no longer
    pulls the replicates off the estimate (moving blocks under-draw both ends)."""
    values = np.linspace(0.0, 1.0, 36)
    replicates = metrics.block_bootstrap(
        lambda idx: values[idx].mean(axis=1, keepdims=True), 36, 5, 20_000, 7
    )[:, 0]
    assert abs(replicates.mean() - values.mean()) < 0.005


def test_a_short_fold_still_gets_an_interval() -> None:
    """Five sessions with five-session blocks: each circular block would be the sample
    itself and the interval would collapse onto the estimate (it did, in every fold of a
    60-day demo). The block shrinks to half the sessions."""
    values = np.array([0.1, -0.2, 0.05, 0.3, -0.1])
    ci = metrics.session_bootstrap(values, block=5, n_boot=2000, seed=1)
    assert ci["low"] < ci["estimate"] - 0.05 and ci["high"] > ci["estimate"] + 0.05
    assert ci["estimate"] == pytest.approx(values.mean())


def test_block_bootstrap_does_not_depend_on_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    def statistic(idx: np.ndarray) -> np.ndarray:
        return idx.sum(axis=1, keepdims=True).astype(np.float64)

    whole = metrics.block_bootstrap(statistic, n=50, block=4, n_boot=30, seed=3)
    monkeypatch.setattr(metrics, "_MAX_CELLS", 120)  # 2 resamples per chunk
    assert np.array_equal(metrics.block_bootstrap(statistic, 50, 4, 30, 3), whole)


# -- experiments --------------------------------------------------------------------


def test_training_frame_drops_unlabelled_rows_and_is_sorted(tmp_path) -> None:
    lake = Lake(tmp_path)
    frame = synthetic_gold(1.0, days=3)
    version = write_gold(lake, frame.sample(frac=1.0, random_state=0))
    spec = read_feature_list(lake, FeatureSet())
    snapshot = read_gold(lake, spec, TrainConfig(start=dt.date(2024, 3, 5)))
    loaded = snapshot.frame
    assert loaded["time"].is_monotonic_increasing
    assert loaded[spec.return_target].notna().all()
    assert len(loaded) == 2 * (390 - HORIZON)
    assert set(spec.all_features) <= set(loaded.columns)
    assert (snapshot.table, snapshot.version) == (tables.GOLD_TRAINING, version)
    assert snapshot.uri == lake.table_uri(tables.GOLD_TRAINING)
    assert (snapshot.first_date, snapshot.last_date) == (dt.date(2024, 3, 5), dt.date(2024, 3, 6))


def test_missing_table_range_or_version_is_a_user_error(tmp_path) -> None:
    lake = Lake(tmp_path)
    with pytest.raises(UserError, match="has no table gold/training. Fix: check --lake"):
        read_feature_list(lake, FeatureSet())
    version = write_gold(lake, synthetic_gold(1.0, days=2))
    spec = read_feature_list(lake, FeatureSet())
    (tmp_path / FeatureSet().feature_list).unlink()
    with pytest.raises(UserError, match="has no gold/training/_features.json. Fix: check"):
        read_feature_list(lake, FeatureSet())
    with pytest.raises(UserError, match=f"no version {version + 1} .latest is {version}"):
        read_gold(lake, spec, TrainConfig(gold_version=version + 1))
    with pytest.raises(UserError, match=f"no labelled rows in gold/training@v{version} for 2025"):
        read_gold(lake, spec, TrainConfig(start=dt.date(2025, 1, 1)))
    evolved = Lake(tmp_path / "evolved")  # a feature added later, through Lake.evolve
    before = write_gold(evolved, synthetic_gold(1.0, days=2).drop(columns="news_count"))
    evolved.evolve(tables.GOLD_TRAINING, {"news_count": pa.float64()})
    write_gold(evolved, synthetic_gold(1.0, days=2))
    with pytest.raises(UserError, match=rf"@v{before} has no columns \['news_count'\]"):
        spec = read_feature_list(evolved, FeatureSet())
        read_gold(evolved, spec, TrainConfig(gold_version=before))
    write_gold(lake, synthetic_gold(1.0, days=2, seed=4))  # replaces every file of `version`
    lake.delta_table(tables.GOLD_TRAINING).vacuum(
        retention_hours=0, enforce_retention_duration=False, dry_run=False
    )
    with pytest.raises(UserError, match=f"gold/training@v{version} .*vacuumed"):
        read_gold(lake, spec, TrainConfig(gold_version=version))


# -- variants -----------------------------------------------------------------------


def test_variant_must_match_the_tables_feature_spec() -> None:
    canonical = FeatureSpec.from_json(feature_doc(horizon=30))
    check_variant(canonical, FeatureSet.from_name(None))
    market_only = FeatureSpec.from_json(feature_doc(skip_news=True, horizon=30))
    check_variant(market_only, FeatureSet.from_name("market_only-w60-h30"))
    with pytest.raises(UserError, match="skip_news=True.*Fix: train with --variant market_only"):
        check_variant(market_only, FeatureSet.from_name(None))  # never the canonical challenger
    short = FeatureSpec.from_json(feature_doc(horizon=5))
    check_variant(short, FeatureSet.from_name("news-w60-h5"))
    with pytest.raises(UserError, match="horizon=5, not variant canonical"):
        check_variant(short, FeatureSet.from_name(None))
    with pytest.raises(UserError, match="canonical feature set. Fix: train without --variant"):
        FeatureSet.from_name("news-w60-h30")
    windowless = FeatureSpec.from_json(feature_doc(skip_news=True, horizon=30, window=None))
    check_variant(windowless, FeatureSet.from_name("market_only-w60-h30"))
    with pytest.raises(UserError, match="not variant canonical. Fix: train the market-only"):
        check_variant(windowless, FeatureSet.from_name(None))


def test_variant_reads_its_own_table_and_registers_its_own_name(tmp_path) -> None:
    lake = Lake(tmp_path)
    write_gold(lake, synthetic_gold(1.0, days=2), variant="news-w60-h5")
    config = TrainConfig(variant="news-w60-h5")
    assert config.model_name == "sp500-news-xgb-news-w60-h5"
    assert TrainConfig().model_name == "sp500-news-xgb"
    table = "gold/variants/news-w60-h5/training"
    snapshot = read_gold(lake, read_feature_list(lake, FeatureSet.from_name("news-w60-h5")), config)
    assert snapshot.table == table and len(snapshot.frame) == 2 * (390 - HORIZON)
    assert not lake.exists(tables.GOLD_TRAINING)


# -- secrets and lineage ------------------------------------------------------------


def test_params_never_hold_the_tracking_password() -> None:
    uri = "https://trainer:p%40ss-W0rd@mlflow.example:5000/prefix"
    params = TrainConfig(tracking_uri=uri).to_params()
    assert params["tracking_uri"] == "https://trainer:***@mlflow.example:5000/prefix"
    assert "W0rd" not in repr(params)


def test_credentials_move_out_of_http_uris_only() -> None:
    clean, user, password = split_credentials("https://trainer:p%40ss-W0rd@mlflow.example:5000/x")
    assert (clean, user, password) == ("https://mlflow.example:5000/x", "trainer", "p@ss-W0rd")
    assert split_credentials("http://[::1]:5000") == ("http://[::1]:5000", None, None)
    assert split_credentials("http://u:p@[::1]:5000")[0] == "http://[::1]:5000"
    database = "postgresql://mlflow:secret@db:5432/mlflow"
    assert split_credentials(database) == (database, None, None)


def test_airflow_tags_come_from_the_task_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DAG_ID", "DAG_RUN_ID", "LOGICAL_DATE", "TRY_NUMBER", "TASK_ID"):
        monkeypatch.delenv(f"AIRFLOW_CTX_{name}", raising=False)
    assert airflow_tags() == {}
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "sp500_news_pipeline")
    monkeypatch.setenv("AIRFLOW_CTX_DAG_RUN_ID", "manual__2024-03-05")
    monkeypatch.setenv("AIRFLOW_CTX_TRY_NUMBER", "2")
    assert airflow_tags() == {
        "airflow.dag_id": "sp500_news_pipeline",
        "airflow.dag_run_id": "manual__2024-03-05",
        "airflow.try_number": "2",
    }


def test_every_train_option_has_help_text() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    options = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    assert {"--variant", "--gold-version", "--mlflow-tracking-uri"} <= {
        flag for a in options for flag in a.option_strings
    }
    assert [a.dest for a in options if not (a.help and a.help.strip())] == []


def _train_options(argv: list[str]) -> TrainConfig:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return config_from_args(parser.parse_args(argv))


def test_train_options_are_the_config_fields_with_their_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("MLFLOW_TRACKING_URI", "SP500_MLFLOW_TRACKING_URI", "SP500_REGISTERED_MODEL"):
        monkeypatch.delenv(name, raising=False)
    assert _train_options([]) == TrainConfig()
    assert TrainConfig().spread_points == costs.DEFAULT_SPREAD_POINTS
    config = _train_options(
        ["--folds", "4", "--seeds", "2", "--spread-points", "0.25", "--gold-version", "2"]
        + ["--mlflow-tracking-uri", "sqlite:///x.db", "--variant", "market_only-w60-h30"]
    )
    assert (config.n_folds, config.n_seeds, config.spread_points) == (4, 2, 0.25)
    assert (config.gold_version, config.tracking_uri) == (2, "sqlite:///x.db")
    assert config.variant == "market_only-w60-h30"


def test_train_defaults_that_a_setting_changes_follow_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SP500_REGISTERED_MODEL", "desk-xgb")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    config = _train_options([])
    assert (config.registered_model, config.tracking_uri) == (
        "desk-xgb",
        "http://mlflow.example:5000",
    )
    assert _train_options(["--registered-model", "other"]).registered_model == "other"


def test_feature_list_hash_ignores_order() -> None:
    doc = feature_doc()
    shuffled = {**doc, "market_features": MARKET[::-1]}
    assert FeatureSpec.from_json(doc).feature_list_hash == (
        FeatureSpec.from_json(shuffled).feature_list_hash
    )
    assert FeatureSpec.from_json(doc).feature_list_hash != (
        FeatureSpec.from_json(feature_doc(skip_news=True)).feature_list_hash
    )
