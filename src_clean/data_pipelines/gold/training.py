"""Gold training set: silver market features + gold news signals + forward labels.

One row per silver market bar (``time``, ``instrument``), with the market feature columns,
the ``news_*`` signals (left join on the bar time; a bar without a signal row is an error
unless ``skip_news``) and ``target_return_{h}m`` / ``target_direction_{h}m``. ``close`` is
dropped: it only feeds the labels.

Labels of the last ``h`` minutes of day D need the first bars of day D + 1, so features are
read through ``end + 1 day``. A run whose ``end`` is the latest day leaves those labels NaN
until the next day's bars exist; rerun from D (``--start D``) to fill them in. Rows whose
target is NaN are kept: gold holds every bar, the trainer drops the unlabelled ones.

Also writes ``gold/training/_features.json``, which tells the trainer which columns are
features and targets, plus the news settings the signals were built with.
"""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd

from src_clean.cli_args import add_date_range, add_lake_argument, require_tables
from src_clean.data_pipelines.gold.feature_list import FeatureSpec, write_feature_list
from src_clean.data_pipelines.gold.labels import add_labels, target_columns
from src_clean.data_pipelines.gold.news import NEWS_PREFIX, PROVENANCE_COLUMNS
from src_clean.feature_set import FeatureSet
from src_clean.lake import Lake
from src_clean.tables import (
    CANONICAL_HORIZON,
    CANONICAL_WINDOW,
    GOLD_SIGNALS,
    GOLD_TRAINING,
    SILVER_FEATURES,
)
from src_clean.time_convention import TARGET_PREFIX

NON_FEATURE_COLUMNS = frozenset({"time", "instrument", "close"})


@dataclass(frozen=True)
class TrainingSetReport:
    """What one ``gold-training`` run wrote."""

    rows: int
    labelled_rows: int
    market_features: int
    news_features: int
    horizon_minutes: int
    partitions: tuple[str, ...]
    table: str = GOLD_TRAINING

    def summary(self) -> str:
        return (
            f"{self.table}: rows={self.rows} labelled={self.labelled_rows} "
            f"horizon={self.horizon_minutes}m market_features={self.market_features} "
            f"news_features={self.news_features} partitions={len(self.partitions)}"
        )


def market_feature_columns(df: pd.DataFrame) -> list[str]:
    """Feature columns of a silver market frame: all but ``time``, ``instrument``, ``close``."""
    return [
        c for c in df.columns if c not in NON_FEATURE_COLUMNS and not c.startswith(TARGET_PREFIX)
    ]


def build_training_set(
    lake: Lake,
    *,
    horizon_minutes: int = CANONICAL_HORIZON,
    skip_news: bool = False,
    window_minutes: int = CANONICAL_WINDOW,
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
) -> TrainingSetReport:
    """Build the gold training partitions for ``[start, end]`` (inclusive dates).

    The canonical feature spec writes ``gold/training``; ``skip_news``, another window or
    horizon write their own variant (``tables.training_table``), never the canonical one.
    """
    feature_set = FeatureSet(skip_news, window_minutes, horizon_minutes)
    features = _read_features(lake, start, end)
    market = market_feature_columns(features)
    labelled = _within(add_labels(features, horizon_minutes), start, end)
    if skip_news:
        news: list[str] = []
        provenance: dict[str, Any] = dict.fromkeys(PROVENANCE_COLUMNS)
    else:
        source = feature_set.signals_table
        signals = lake.read(source, start, end)
        news = sorted(c for c in signals.columns if c.startswith(NEWS_PREFIX))
        provenance = _provenance(signals, source)
        labelled = _join_news(labelled, signals[["time", *news]], source)
    targets = list(target_columns(horizon_minutes))
    identifiers = [c for c in ("time", "instrument") if c in labelled.columns]
    table = labelled[[*identifiers, *market, *news, *targets]]
    target = feature_set.training_table
    partitions = lake.replace_range(target, table, start, end).partitions
    spec = FeatureSpec(
        market_features=tuple(market),
        news_features=tuple(news),
        targets=tuple(targets),
        horizon_minutes=horizon_minutes,
        window_minutes=provenance["window_minutes"],
        sentiment_model_id=provenance["sentiment_model_id"],
        skip_news=skip_news,
        news_lag_minutes=provenance["lag_minutes"],
        news_half_life_minutes=provenance["half_life_minutes"],
        news_time=provenance["timed_by"],
    )
    write_feature_list(lake, feature_set, spec)
    return TrainingSetReport(
        rows=len(table),
        labelled_rows=int(table[targets[0]].notna().sum()),
        market_features=len(market),
        news_features=len(news),
        horizon_minutes=horizon_minutes,
        partitions=tuple(partitions),
        table=target,
    )


def _read_features(
    lake: Lake, start: dt.date | str | None, end: dt.date | str | None
) -> pd.DataFrame:
    """Silver features for ``[start, end + 1 day]``: the extra day feeds the last labels."""
    through = None if end is None else pd.Timestamp(end).date() + dt.timedelta(days=1)
    features = lake.read(SILVER_FEATURES, start, through)
    if features.empty:
        raise ValueError(f"no bars in {SILVER_FEATURES} for start={start} end={end}")
    return features.sort_values(["time"], kind="stable").reset_index(drop=True)


def _within(
    df: pd.DataFrame, start: dt.date | str | None, end: dt.date | str | None
) -> pd.DataFrame:
    """Rows whose UTC date of ``time`` lies in ``[start, end]``."""
    days = df["time"].dt.tz_convert("UTC").dt.date
    keep = pd.Series(True, index=df.index)
    if start is not None:
        keep &= days >= pd.Timestamp(start).date()
    if end is not None:
        keep &= days <= pd.Timestamp(end).date()
    return df.loc[keep].reset_index(drop=True)


def _provenance(signals: pd.DataFrame, source: str = GOLD_SIGNALS) -> dict[str, Any]:
    """The single sentiment model and window settings the signals were built with."""
    if signals.empty:
        raise ValueError(f"no rows in {source}; run gold-news first or pass --skip-news")
    return {column: _single_value(signals[column], source) for column in PROVENANCE_COLUMNS}


def _single_value(values: pd.Series, source: str) -> Any:
    """The one distinct value of ``values``; an error if the range mixes several."""
    distinct = values.drop_duplicates().tolist()
    if len(distinct) != 1:
        raise ValueError(
            f"{source} mixes {values.name} values {distinct} in this range; rerun gold-news"
        )
    return distinct[0]


def _join_news(
    labelled: pd.DataFrame, signals: pd.DataFrame, source: str = GOLD_SIGNALS
) -> pd.DataFrame:
    """Left join of the news signals on the bar time; every bar must have a signal row."""
    joined = labelled.merge(signals, on="time", how="left", validate="many_to_one", indicator=True)
    missing = joined["_merge"] == "left_only"
    if missing.any():
        first = joined.loc[missing, "time"].min()
        raise ValueError(
            f"{int(missing.sum())} bars have no row in {source} (first {first}); "
            "run gold-news over the same dates or pass --skip-news"
        )
    return joined.drop(columns="_merge")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_lake_argument(parser)
    parser.add_argument(
        "--prediction-horizon",
        type=int,
        default=CANONICAL_HORIZON,
        help="label horizon in minutes (default: %(default)s)",
    )
    parser.add_argument(
        "--window",
        type=int,
        default=CANONICAL_WINDOW,
        help="news window of the gold-news signals to join (default: %(default)s)",
    )
    parser.add_argument("--skip-news", action="store_true", help="market features only")
    add_date_range(parser, "bar date")


def main(args: argparse.Namespace) -> TrainingSetReport:
    lake = Lake(args.lake)
    require_tables(lake, SILVER_FEATURES, produced_by="silver-market")
    if not args.skip_news:
        signals = FeatureSet(window_minutes=args.window).signals_table
        require_tables(lake, signals, produced_by="gold-news")
    report = build_training_set(
        lake,
        horizon_minutes=args.prediction_horizon,
        skip_news=args.skip_news,
        window_minutes=args.window,
        start=args.start,
        end=args.end,
    )
    return report
