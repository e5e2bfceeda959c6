"""``python -m src_clean train``: the verdict on news, then the challenger registered.

A purged walk-forward (``folds``) compares XGBoost with and without the news features,
with the same hyperparameter search, over several seeds, beside naive and ridge baselines,
against a shuffled-news null and net of trading costs (``walk_forward``). The final
models, trained on every session before the holdout, are scored once on it. Both models
see the same rows; they differ only in the feature set, so the uplift (with_news minus
market_only) isolates what the news adds. Nothing is fitted or chosen on a test block.

This module reads gold and runs the experiment; ``tracking`` logs it to MLflow,
``registry`` registers the challenger as ``promotion`` decides, ``verdict`` puts it in words
and ``config`` holds the settings (and the options below).
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from src_clean.cli_args import add_date_range, add_lake_argument
from src_clean.data_pipelines.gold.feature_list import FeatureSpec, read_feature_list
from src_clean.errors import UserError
from src_clean.feature_set import FeatureSet
from src_clean.lake import Lake
from src_clean.tables import SILVER_FEATURES
from src_clean.training.config import TrainConfig, add_options, config_from_args
from src_clean.training.experiment import GoldSnapshot, Outcome
from src_clean.training.lineage import fingerprint
from src_clean.training.verdict import build_summary, format_report

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
    """The run's feature matrix (market columns first), target, times and costs, once.

    Constant and all-missing columns, and exact copies of an earlier column, are dropped
    before anything is fitted (``Data.dropped`` says which and why): they carry nothing,
    yet would change which columns ``colsample_bytree`` draws, so the verdict would move
    with an irrelevant column. The rule reads only the features' own values, never a label.
    """
    from src_clean.data_pipelines.gold.news import empty_window_value
    from src_clean.training.costs import cost_bps
    from src_clean.training.walk_forward import Data

    dropped = irrelevant_columns(frame, spec.all_features)
    market = [c for c in spec.market_features if c not in dropped]
    news = [c for c in spec.all_features[len(spec.market_features) :] if c not in dropped]
    features = [*market, *news]
    return Data(
        x=frame[features].to_numpy(np.float32),
        y=frame[spec.return_target].to_numpy(np.float64),
        times=frame["time"].reset_index(drop=True),
        features=features,
        n_market=len(market),
        horizon=spec.horizon_minutes,
        cost_bps=cost_bps(prices, config.spread_points),
        empty_news=np.array([empty_window_value(c) for c in news], dtype=np.float32),
        fit_mask=fit_mask(frame["time"], config.fit_stride_minutes),
        dropped=dropped,
        prices=np.asarray(prices, dtype=np.float64),
    )


def irrelevant_columns(frame: pd.DataFrame, features: list[str]) -> dict[str, str]:
    """Columns that cannot inform a model, each with why: all missing, constant, or an
    exact copy of an earlier column (missing values compared as equal)."""
    dropped: dict[str, str] = {}
    kept: dict[int, list[str]] = {}
    for name in features:
        values = frame[name]
        if values.isna().all():
            dropped[name] = "all missing"
            continue
        if values.nunique(dropna=False) <= 1:
            dropped[name] = "constant"
            continue
        key = int(pd.util.hash_pandas_object(values, index=False).sum())
        twin = next((k for k in kept.get(key, []) if values.equals(frame[k])), None)
        if twin is not None:
            dropped[name] = f"a copy of {twin}"
            continue
        kept.setdefault(key, []).append(name)
    return dropped


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

    started_ms = int(time.time() * 1000)
    data = build_data(frame, spec, prices, config)
    embargo = pd.Timedelta(minutes=config.embargo(spec.horizon_minutes))
    plan = plan_folds(data.times, config.n_folds, config.holdout_frac, config.val_frac, embargo)
    verdict = walk_forward.walk_forward(data, plan, config)
    holdout, final = walk_forward.holdout(data, plan, config)
    return Outcome(spec, config, data, plan, verdict, holdout, final, started_ms)


# -- stage --------------------------------------------------------------------------


def train(lake: Lake, config: TrainConfig) -> dict[str, Any]:
    """Train, evaluate, track and register; write and return the training summary.

    A rerun on the same gold version, settings and code registers nothing: it records
    "unchanged" against the version that run registered.
    """
    from src_clean.training import registry, tear_sheet, tracking

    spec = read_feature_list(lake, config.feature_set)
    check_variant(spec, config.feature_set)
    snapshot = read_gold(lake, spec, config)
    key = fingerprint(snapshot, spec, config)
    with tracking.session(config, lake) as session:
        summary = registry.unchanged_summary(session.uri, config, key)
        if summary is None:
            prices = entry_prices(lake, snapshot.frame["time"])
            outcome = run_experiment(snapshot.frame, spec, config, prices)
            run = tracking.track(outcome, snapshot, lake, session, key)
            summary = build_summary(outcome, snapshot, run.to_summary(), key)
            summary["tear_sheet"] = tear_sheet.path_for(run.run_id)
            tracking.log_summary(run, summary)
            tracking.log_figures(run, outcome, lake)
            html = tear_sheet.render(summary, outcome.verdict.curves, outcome.verdict.curve_times)
            tracking.log_tear_sheet(run, html)
            lake.files.write_text(summary["tear_sheet"], html)
    lake.files.write_json(config.feature_set.training_summary, summary)
    return summary


# -- CLI ----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # argparse, not pydantic-settings' CLI source: every stage shares cli.py's argparse tree
    # and its --lake/--start/--end checks; the rest are TrainConfig's fields marked option()
    add_lake_argument(parser)
    add_date_range(parser, "gold date")
    add_options(parser)


def main(args: argparse.Namespace) -> int:
    summary = train(Lake(args.lake), config_from_args(args))
    print(format_report(summary))
    return 0
