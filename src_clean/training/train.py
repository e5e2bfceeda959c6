"""``python -m src_clean train``: XGBoost with and without news features on one chronological
split, scored against naive baselines, tracked in MLflow, the challenger registered.

Both models see the same rows; they differ only in the feature set, so the uplift (with_news
minus market_only) isolates what the news features add. Nothing is fitted on validation or
test rows: XGBoost handles missing values natively and validation only drives early stopping.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import fields
from typing import Any

import numpy as np
import pandas as pd

from src_clean.cli_args import add_date_range, add_lake_argument
from src_clean.data_pipelines.gold.feature_list import FeatureSpec, read_feature_list
from src_clean.errors import UserError
from src_clean.feature_set import FeatureSet
from src_clean.lake import Lake
from src_clean.training.baselines import compute_baselines
from src_clean.training.config import TrainConfig
from src_clean.training.experiment import (
    MARKET_ONLY,
    WITH_NEWS,
    GoldSnapshot,
    ModelResult,
    Outcome,
)
from src_clean.training.metrics import (
    METRICS,
    Forecast,
    classification_metrics,
    evaluate,
    paired_uplift,
)
from src_clean.training.splits import ChronologicalSplit, chronological_split

log = logging.getLogger(__name__)


# -- data ---------------------------------------------------------------------------


def check_variant(spec: FeatureSpec, feature_set: FeatureSet) -> None:
    """Refuse a table whose feature spec is not ``feature_set``.

    The canonical model only ever trains on the canonical spec, so a market-only or
    other-horizon table never becomes its challenger nor is compared with its champion.
    (A market-only spec that recorded no window can only be checked for not being canonical.)
    """
    table = feature_set.training_table
    found = spec.feature_set
    if found is None:  # only "not canonical" can be checked
        if not feature_set.is_canonical and not spec.has_news:
            return
        fix = (
            f"train the market-only variant (--variant market_only-w<window>-h"
            f"{spec.horizon_minutes}) or rebuild {table} with gold-training without --skip-news"
        )
    else:
        if found == feature_set:
            return
        fix = (
            "train without --variant"
            if found.is_canonical
            else f"train with --variant {found.name}"
        )
    described = (
        f"skip_news={not spec.has_news} window={spec.window_minutes} horizon={spec.horizon_minutes}"
    )
    raise UserError(
        f"{table} holds the feature set {described}, not variant {feature_set.label}", fix
    )


def read_gold(lake: Lake, spec: FeatureSpec, config: TrainConfig) -> GoldSnapshot:
    """Time-sorted gold rows in ``[start, end]`` with a known return target, read at one
    Delta version: ``config.gold_version``, else the latest (fixed before reading, so the
    recorded version is the one read even while gold-training writes)."""
    table = config.feature_set.training_table
    latest = lake.version(table)
    if latest is None:
        raise UserError(
            f"the lake {lake.root} has no table {table}", "check --lake, or run gold-training first"
        )
    version = latest if config.gold_version is None else config.gold_version
    if version > latest:
        raise UserError(
            f"{table} has no version {version} (latest is {latest})",
            "pass a --gold-version recorded by an earlier run (MLflow param gold_version)",
        )
    columns = ["time", *spec.all_features, spec.return_target, spec.direction_target]
    stored = {field.name for field in lake.delta_table(table, version).schema().fields}
    missing = [column for column in columns if column not in stored]
    if missing:
        raise UserError(
            f"{table}@v{version} has no columns {missing}, which "
            f"{config.feature_set.feature_list} lists (the feature set changed since)",
            "train on a version built with the current feature list, or rerun gold-training",
        )
    try:
        frame = lake.read(table, config.start, config.end, columns=columns, version=version)
    except FileNotFoundError as exc:
        if config.gold_version is None:
            raise
        raise UserError(
            f"{table}@v{version} can no longer be read: its data files were vacuumed",
            "retrain on a version younger than the vacuum retention, or rebuild the table",
        ) from exc
    frame = frame[frame[spec.return_target].notna()]
    if frame.empty:
        raise UserError(
            f"no labelled rows in {table}@v{version} for {config.start}..{config.end}",
            "run gold-training over these dates or widen --start/--end",
        )
    frame = frame.sort_values("time", kind="stable", ignore_index=True)
    return GoldSnapshot(table, lake.table_uri(table), version, frame)


def feature_matrix(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """Features as one float32 block: row and leading-column slices of it are views."""
    return pd.DataFrame(frame[features].to_numpy(np.float32), columns=features, copy=False)


# -- models -------------------------------------------------------------------------


def _fit(estimator: Any, x: pd.DataFrame, y: np.ndarray, split: ChronologicalSplit) -> Any:
    train, val = split.rows("train"), split.rows("val")
    estimator.fit(x.iloc[train], y[train], eval_set=[(x.iloc[val], y[val])], verbose=False)
    return estimator


def fit_model(
    name: str,
    x: pd.DataFrame,
    y: np.ndarray,
    up: np.ndarray,
    split: ChronologicalSplit,
    config: TrainConfig,
) -> ModelResult:
    """Fit the regressor (and with ``config.classifier`` the direction classifier) on ``x``."""
    from xgboost import XGBClassifier, XGBRegressor

    test = split.rows("test")
    regressor = _fit(XGBRegressor(**config.xgb_params(), eval_metric="rmse"), x, y, split)
    forecast = Forecast.from_values(regressor.predict(x.iloc[test]))
    result = ModelResult(name, x, regressor, forecast, evaluate(y[test], forecast))
    if config.classifier:
        clf = XGBClassifier(**config.xgb_params(), eval_metric="logloss")
        result.classifier = _fit(clf, x, up, split)
        p_up = result.classifier.predict_proba(x.iloc[test])[:, 1]
        result.classifier_metrics = classification_metrics(up[test], p_up)
    log.info("%s: best_iteration=%d %s", name, result.best_iteration, result.metrics)
    return result


def news_uplift(
    models: dict[str, ModelResult], y_test: np.ndarray, horizon: int, config: TrainConfig
) -> dict[str, dict[str, float]] | None:
    """with_news minus market_only with block-bootstrap CIs (block = horizon bars), or None."""
    if WITH_NEWS not in models:
        return None
    treated, control = models[WITH_NEWS].forecast, models[MARKET_ONLY].forecast
    return paired_uplift(y_test, treated, control, horizon, config.bootstrap, config.seed)


def run_experiment(frame: pd.DataFrame, spec: FeatureSpec, config: TrainConfig) -> Outcome:
    """Split, fit both feature sets, score baselines and the paired news uplift."""
    times = frame["time"]
    embargo = pd.Timedelta(minutes=config.embargo(spec.horizon_minutes))
    split = chronological_split(times, config.train_frac, config.val_frac, embargo)
    x = feature_matrix(frame, spec.all_features)
    y = frame[spec.return_target].to_numpy(np.float64)
    up = frame[spec.direction_target].to_numpy(np.float64)
    market = x.iloc[:, : len(spec.market_features)]
    feature_sets = {WITH_NEWS: x, MARKET_ONLY: market} if spec.has_news else {MARKET_ONLY: market}
    models = {name: fit_model(name, xs, y, up, split, config) for name, xs in feature_sets.items()}
    y_test = y[split.rows("test")]
    forecasts = compute_baselines(
        market.iloc[split.rows("test")], y[split.rows("train")], spec.horizon_minutes
    )
    baselines = {name: evaluate(y_test, forecast) for name, forecast in forecasts.items()}
    uplift = news_uplift(models, y_test, spec.horizon_minutes, config)
    return Outcome(spec, config, times, y, split, models, baselines, uplift)


# -- stage --------------------------------------------------------------------------


def build_summary(
    outcome: Outcome, snapshot: GoldSnapshot, tracked: dict[str, Any]
) -> dict[str, Any]:
    """The training summary (``reports/training_summary.json``, a variant's under
    ``reports/variants/<variant>/``)."""
    models = {name: result.summary() for name, result in outcome.models.items()}
    sizes = outcome.split.sizes()
    return {
        WITH_NEWS: models.get(WITH_NEWS),
        MARKET_ONLY: models[MARKET_ONLY],
        "baselines": outcome.baselines,
        "uplift": outcome.uplift,
        "sentiment_model_id": outcome.spec.sentiment_model_id,
        "horizon_minutes": outcome.spec.horizon_minutes,
        "feature_list_hash": outcome.spec.feature_list_hash,
        "variant": outcome.config.variant,
        "gold_table": snapshot.table,
        "gold_version": snapshot.version,
        **{f"n_{part}": n for part, n in sizes.items()},
        **tracked,
    }


def train(lake: Lake, config: TrainConfig) -> dict[str, Any]:
    """Train, evaluate, track and register; write and return the training summary."""
    from src_clean.training import tracking

    spec = read_feature_list(lake, config.feature_set)
    check_variant(spec, config.feature_set)
    snapshot = read_gold(lake, spec, config)
    outcome = run_experiment(snapshot.frame, spec, config)
    with tracking.session(config, lake) as uri:
        run = tracking.track(outcome, snapshot, lake, uri)
        summary = build_summary(outcome, snapshot, run.to_summary())
        tracking.log_summary(run, summary)
    lake.files.write_json(config.feature_set.training_summary, summary)
    return summary


# -- CLI ----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # argparse, not pydantic-settings' CLI source: every stage shares cli.py's argparse tree
    # and its --lake/--start/--end checks, and only these TrainConfig fields are user-facing.
    defaults = TrainConfig()
    add_lake_argument(parser)
    add_date_range(parser, "gold date")
    parser.add_argument(
        "--variant",
        help="non-canonical feature set, as gold-training names it (e.g. market_only-w60-h30):"
        " reads gold/variants/<variant>/training and registers <registered-model>-<variant>;"
        " default: the canonical gold/training (news, window 60, horizon 30)",
    )
    parser.add_argument(
        "--gold-version",
        type=int,
        help="Delta version of the training table to read (time travel; the MLflow param "
        "gold_version of an earlier run reproduces its data); default: the latest",
    )
    parser.add_argument(
        "--mlflow-tracking-uri",
        dest="tracking_uri",
        help="MLflow tracking URI; credentials in it are never logged or printed "
        "(default: $MLFLOW_TRACKING_URI, else sqlite:///<lake>/mlflow.db)",
    )
    parser.add_argument(
        "--experiment", default=defaults.experiment, help="MLflow experiment (default: %(default)s)"
    )
    parser.add_argument(
        "--registered-model",
        default=defaults.registered_model,
        help="registered-model name of the canonical model; a variant's is <name>-<variant> "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--train-frac",
        type=float,
        default=defaults.train_frac,
        help="share of the bar times, earliest first, that train (default: %(default)s)",
    )
    parser.add_argument(
        "--val-frac",
        type=float,
        default=defaults.val_frac,
        help="share that validates (early stopping) after the training part; the rest tests "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--embargo-minutes",
        type=int,
        default=defaults.embargo_minutes,
        help="gap dropped between split parts; the label horizon if larger (default: %(default)s)",
    )
    parser.add_argument(
        "--n-estimators",
        type=int,
        default=defaults.n_estimators,
        help="most boosting rounds; early stopping picks fewer (default: %(default)s)",
    )
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=defaults.n_jobs,
        help="XGBoost threads (default: %(default)s)",
    )
    parser.add_argument(
        "--classifier", action="store_true", help="also fit an XGBClassifier on direction"
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=defaults.bootstrap,
        help="block-bootstrap resamples of the news uplift interval (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=defaults.seed,
        help="seed of XGBoost and the bootstrap (default: %(default)s)",
    )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The ``TrainConfig`` of the flags ``add_arguments`` defines (each named as its field)."""
    given = vars(args)
    return TrainConfig(**{f.name: given[f.name] for f in fields(TrainConfig) if f.name in given})


_REPORT_COLUMNS = dict(zip(METRICS, ("rmse", "mae", "dir_acc", "ic"), strict=True))


def _cell(value: float | None) -> str:
    return f"{'-':>10}" if value is None else f"{value:>10.4f}"


def format_report(summary: dict[str, Any]) -> str:
    """Models x metrics table, the uplift with its CI, and the champion decision."""
    rows = {name: summary[name] for name in (WITH_NEWS, MARKET_ONLY)}
    rows |= {f"baseline:{name}": metrics for name, metrics in summary["baselines"].items()}
    lines = [f"{'model':<30}" + "".join(f"{_REPORT_COLUMNS[m]:>10}" for m in METRICS)]
    for name, metrics in rows.items():
        cells = "".join(_cell(None if metrics is None else metrics[m]) for m in METRICS)
        lines.append(f"{name:<30}{cells}")
    for metric, ci in (summary["uplift"] or {}).items():
        lines.append(
            f"uplift {metric}: {ci['estimate']:+.4f} "
            f"[95% CI {ci['ci_low']:+.4f}, {ci['ci_high']:+.4f}]"
        )
    decision = summary["champion_decision"]
    lines.append(f"data {summary['gold_table']}@v{summary['gold_version']}")
    lines.append(
        f"registered {decision['registered_model']} v{decision['challenger_version']} "
        f"(challenger); {decision['reason']}"
    )
    lines.append(f"mlflow run {summary['mlflow_run_id']}")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    summary = train(Lake(args.lake), config_from_args(args))
    print(format_report(summary))
    return 0
