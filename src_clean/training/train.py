"""``python -m src_clean train``: the verdict on news, then the challenger registered.

A purged walk-forward (``folds``) compares XGBoost with and without the news features,
with the same hyperparameter search, over several seeds, beside naive and ridge baselines,
against a shuffled-news null and net of trading costs (``walk_forward``). The final
models, trained on every session before the holdout, are scored once on it. Both models
see the same rows; they differ only in the feature set, so the uplift (with_news minus
market_only) isolates what the news adds. Nothing is fitted or chosen on a test block.
"""

from __future__ import annotations

import argparse
import hashlib
import json
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
from src_clean.tables import SILVER_FEATURES
from src_clean.training.config import TrainConfig
from src_clean.training.experiment import MARKET_ONLY, WITH_NEWS, GoldSnapshot, Outcome
from src_clean.training.metrics import METRICS
from src_clean.training.walk_forward import ALPHA

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


def entry_prices(lake: Lake, times: pd.Series) -> np.ndarray:
    """The close of each bar (silver market features): the price a trade enters at, which
    turns the spread in index points into bps."""
    first, last = times.iloc[0].date(), times.iloc[-1].date()
    closes = lake.read(SILVER_FEATURES, first, last, columns=["time", "close"])
    price = closes.drop_duplicates("time").set_index("time")["close"].reindex(times)
    if price.isna().any():
        raise UserError(
            f"{int(price.isna().sum())} training bars have no close in {SILVER_FEATURES}",
            "rerun silver-market over the training range (the costs need the entry prices)",
        )
    return price.to_numpy(np.float64)


def build_data(frame: pd.DataFrame, spec: FeatureSpec, prices: np.ndarray, config: TrainConfig):
    """The run's feature matrix (market columns first), target, times and costs, once."""
    from src_clean.data_pipelines.gold.news import empty_window_value
    from src_clean.training.costs import cost_bps
    from src_clean.training.walk_forward import Data

    features = spec.all_features
    news = features[len(spec.market_features) :]
    return Data(
        x=frame[features].to_numpy(np.float32),
        y=frame[spec.return_target].to_numpy(np.float64),
        times=frame["time"].reset_index(drop=True),
        features=features,
        n_market=len(spec.market_features),
        horizon=spec.horizon_minutes,
        cost_bps=cost_bps(prices, config.spread_points),
        empty_news=np.array([empty_window_value(c) for c in news], dtype=np.float32),
        fit_mask=fit_mask(frame["time"], config.fit_stride_minutes),
    )


def fit_mask(times: pd.Series, stride_minutes: int) -> np.ndarray:
    """The bars models fit on: those whose minute (since the epoch) is a multiple of
    ``stride_minutes``, the same bars whatever the date range."""
    minutes = pd.DatetimeIndex(times).as_unit("ns").asi8 // 60_000_000_000
    return minutes % stride_minutes == 0


def run_experiment(
    frame: pd.DataFrame, spec: FeatureSpec, config: TrainConfig, prices: np.ndarray
) -> Outcome:
    """Plan the folds, run the walk-forward (holdout unread), then score the holdout once."""
    from src_clean.training import walk_forward
    from src_clean.training.folds import plan_folds

    data = build_data(frame, spec, prices, config)
    embargo = pd.Timedelta(minutes=config.embargo(spec.horizon_minutes))
    plan = plan_folds(data.times, config.n_folds, config.holdout_frac, config.val_frac, embargo)
    verdict = walk_forward.walk_forward(data, plan, config)
    holdout, final = walk_forward.holdout(data, plan, config)
    return Outcome(spec, config, data, plan, verdict, holdout, final)


# -- stage --------------------------------------------------------------------------


def _numbers(scores: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in scores.items() if isinstance(v, int | float) and k != "degenerate"}


def verdict_line(walk: dict[str, Any]) -> str:
    """The verdict in one line: IC uplift with its interval, the null's p, net of costs."""
    pnl = walk["pnl"]
    spread = f"{pnl['spread_points']:g}-point spread"
    if "uplift_ic" not in walk["pooled"]:
        market = pnl[MARKET_ONLY]["sign"]
        daily = walk["pooled"][f"{MARKET_ONLY}_daily_ic"]["estimate"]
        return (
            f"market features only: daily IC {daily:+.4f}; "
            f"net of a {spread}, {market['net_mean_bps']:+.2f} bps/trade "
            f"(SE {market['net_se_bps']:.2f})"
        )
    uplift, null = walk["pooled"]["uplift_ic"], walk["null"]
    treated, control = pnl[WITH_NEWS]["sign"], pnl[MARKET_ONLY]["sign"]
    p = "n/a" if null["p_value"] is None else f"{null['p_value']:.3f}"
    return (
        f"news adds {uplift['estimate']:+.4f} daily IC (95% CI {uplift['low']:+.4f} to "
        f"{uplift['high']:+.4f}, {walk['pooled']['sessions']} test sessions, "
        f"{len(walk['seeds'])} seeds), p = {p} against shuffled news "
        f"({null['permutations']} permutations); net of a {spread}: with_news "
        f"{treated['net_mean_bps']:+.2f} bps/trade (SE {treated['net_se_bps']:.2f}) vs "
        f"market_only {control['net_mean_bps']:+.2f} (SE {control['net_se_bps']:.2f}); "
        + ("significant" if walk["significant"] else "not significant")
        + f" at {ALPHA:.0%} (CI above 0 and p <= {ALPHA:g})"
    )


def build_summary(
    outcome: Outcome, snapshot: GoldSnapshot, tracked: dict[str, Any], fingerprint: str
) -> dict[str, Any]:
    """The training summary (``reports/training_summary.json``, a variant's under
    ``reports/variants/<variant>/``): the walk-forward verdict first, then the holdout."""
    walk, holdout = outcome.verdict.summary, outcome.holdout
    models = {name: result.summary() for name, result in outcome.models.items()}
    uplift = walk["pooled"].get("uplift_ic")
    baselines = {
        name.removeprefix("baseline:"): _numbers(scores)
        for name, scores in holdout["models"].items()
        if name.startswith("baseline:")
    }
    return {
        "verdict": verdict_line(walk),
        "walk_forward": walk | {"plan": outcome.plan.describe(outcome.times)},
        "holdout": holdout,
        WITH_NEWS: models.get(WITH_NEWS),
        MARKET_ONLY: models[MARKET_ONLY],
        "baselines": baselines,
        "uplift": None
        if uplift is None
        else {
            "ic": {
                "estimate": uplift["estimate"],
                "ci_low": uplift["low"],
                "ci_high": uplift["high"],
                "p_value": walk["null"]["p_value"],
                "significant": walk["significant"],
            }
        },
        "sentiment_model_id": outcome.spec.sentiment_model_id,
        "news_time": outcome.spec.news_time,
        "horizon_minutes": outcome.spec.horizon_minutes,
        "feature_list_hash": outcome.spec.feature_list_hash,
        "variant": outcome.config.variant,
        "gold_table": snapshot.table,
        "gold_version": snapshot.version,
        "fingerprint": fingerprint,
        **{f"n_{part}": n for part, n in outcome.plan.holdout.sizes().items()},
        **tracked,
    }


def fingerprint(snapshot: GoldSnapshot, spec: FeatureSpec, config: TrainConfig) -> str:
    """What makes a result: the gold snapshot, the feature contract, the settings, the code."""
    from src_clean.training.tracking import git_commit

    doc = {
        "gold": snapshot.label(),
        "gold_uri": snapshot.uri,  # table@version names other data in another lake
        "rows": len(snapshot.frame),
        "features": spec.feature_list_hash,
        "config": config.fingerprint_params(),
        "code": git_commit() or "unknown",
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def train(lake: Lake, config: TrainConfig) -> dict[str, Any]:
    """Train, evaluate, track and register; write and return the training summary.

    A rerun on the same gold version, settings and code registers nothing: it records
    "unchanged" against the version that run registered.
    """
    from src_clean.training import tracking

    spec = read_feature_list(lake, config.feature_set)
    check_variant(spec, config.feature_set)
    snapshot = read_gold(lake, spec, config)
    key = fingerprint(snapshot, spec, config)
    with tracking.session(config, lake) as uri:
        summary = tracking.unchanged_summary(uri, config, key)
        if summary is None:
            prices = entry_prices(lake, snapshot.frame["time"])
            outcome = run_experiment(snapshot.frame, spec, config, prices)
            run = tracking.track(outcome, snapshot, lake, uri, key)
            summary = build_summary(outcome, snapshot, run.to_summary(), key)
            tracking.log_summary(run, summary)
            tracking.log_figures(run, outcome, lake)
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
        "--folds",
        dest="n_folds",
        type=int,
        default=defaults.n_folds,
        help="walk-forward folds before the holdout (default: %(default)s)",
    )
    parser.add_argument(
        "--holdout-frac",
        type=float,
        default=defaults.holdout_frac,
        help="share of the latest sessions held out, scored once at the end (default: %(default)s)",
    )
    parser.add_argument(
        "--val-frac",
        type=float,
        default=defaults.val_frac,
        help="share of each training window's latest sessions that validate (early stopping"
        " and the hyperparameter choice) (default: %(default)s)",
    )
    parser.add_argument(
        "--embargo-minutes",
        type=int,
        default=defaults.embargo_minutes,
        help="gap dropped between parts; the label horizon if larger (default: %(default)s)",
    )
    parser.add_argument(
        "--fit-stride-minutes",
        type=int,
        default=defaults.fit_stride_minutes,
        help="models fit (and validate) on the bars whose minute is a multiple of this; the "
        "test scores every bar (default: %(default)s; 1 = every bar)",
    )
    parser.add_argument(
        "--seeds",
        dest="n_seeds",
        type=int,
        default=defaults.n_seeds,
        help="model seeds averaged in the verdict (default: %(default)s)",
    )
    parser.add_argument(
        "--null-permutations",
        type=int,
        default=defaults.null_permutations,
        help="shuffled-news refits of the null distribution (default: %(default)s)",
    )
    parser.add_argument(
        "--spread-points",
        type=float,
        default=defaults.spread_points,
        help="round-trip trading cost in index points (default: %(default)s)",
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
        "--bootstrap",
        type=int,
        default=defaults.bootstrap,
        help="session-bootstrap resamples of the uplift intervals (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=defaults.seed,
        help="first model seed (the others follow it) and the seed of the bootstrap and the "
        "null (default: %(default)s)",
    )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The ``TrainConfig`` of the flags ``add_arguments`` defines (each named as its field)."""
    given = vars(args)
    return TrainConfig(**{f.name: given[f.name] for f in fields(TrainConfig) if f.name in given})


_REPORT_COLUMNS = dict(zip(METRICS, ("rmse", "mae", "dir_acc", "dir_dm", "ic"), strict=True))


def _cell(value: float | None) -> str:
    return f"{'-':>10}" if value is None else f"{value:>10.4f}"


def format_report(summary: dict[str, Any]) -> str:
    """The verdict, the holdout's models x metrics table and the champion decision."""
    rows = {name: summary[name] for name in (WITH_NEWS, MARKET_ONLY)}
    rows |= {f"baseline:{name}": metrics for name, metrics in summary["baselines"].items()}
    lines = [f"verdict: {summary['verdict']}", "", "holdout (scored once, after the walk-forward):"]
    lines.append(f"{'model':<30}" + "".join(f"{_REPORT_COLUMNS[m]:>10}" for m in METRICS))
    for name, metrics in rows.items():
        cells = "".join(_cell(None if metrics is None else metrics[m]) for m in METRICS)
        lines.append(f"{name:<30}{cells}")
    decision = summary["champion_decision"]
    lines.append(f"data {summary['gold_table']}@v{summary['gold_version']}")
    lines.append(
        f"{decision['registered_model']} v{decision['challenger_version']}: {decision['reason']}"
    )
    lines.append(f"mlflow run {summary['mlflow_run_id']}")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    summary = train(Lake(args.lake), config_from_args(args))
    print(format_report(summary))
    return 0
