"""Silver market features: causal per-bar features from the bronze M1 candles.

``python -m src_clean silver-market --lake DIR [--start D] [--end D]`` recomputes the silver
partitions of the requested UTC days (default: every day in bronze) and replaces the range
in one commit, so rerunning a day is idempotent.

A bar's features use the candles up to and including that bar only, and every window
restarts at a segment start (``time_convention``). Warm-up is therefore "back to the start
of the current trading segment": a run reads the requested days plus the earlier bronze
partitions until the first bar it holds follows a gap longer than ``MAX_GAP`` (at most a
few days, since the daily break ends every segment), and its values equal a full-history
recompute bit for bit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pandas as pd

from src_clean.cli_args import add_date_range, add_lake_argument, require_tables
from src_clean.data_pipelines.silver import (
    calendar_features,
    indicators,
    microstructure,
    volatility,
)
from src_clean.data_pipelines.silver.bars import Bars
from src_clean.lake import Lake
from src_clean.tables import BRONZE_CANDLES, FEATURES_SPEC, SILVER_FEATURES
from src_clean.time_convention import MAX_GAP

logger = logging.getLogger(__name__)

CHUNK_DAYS = 31  # bronze days computed together (bounds memory on multi-year runs)
CANDLE_COLUMNS = ["time", "instrument", "open", "high", "low", "close", "volume"]
KEY_COLUMNS = list(FEATURES_SPEC.keys)
FEATURE_COLUMNS: list[str] = [
    *indicators.RETURN_COLUMNS,
    *indicators.TECHNICAL_COLUMNS,
    *volatility.COLUMNS,
    *microstructure.COLUMNS,
    *calendar_features.COLUMNS,
]
OUTPUT_COLUMNS = [*KEY_COLUMNS, "close", *FEATURE_COLUMNS]  # close: for gold labels only


@dataclass(frozen=True)
class FeatureRunReport:
    """What a run did: bronze days recomputed, feature rows written, wall time."""

    days: int
    rows: int
    seconds: float

    def summary(self) -> str:
        return f"{SILVER_FEATURES}: days={self.days} rows={self.rows} seconds={self.seconds:.1f}"


def compute_features(candles: pd.DataFrame) -> pd.DataFrame:
    """Causal features of one instrument's candles, sorted by strictly increasing ``time``.

    Returns one row per candle in the same order: ``time``, ``instrument``, ``close`` (kept
    for the gold labels, not a feature) and ``FEATURE_COLUMNS`` (float64, the flag int8).
    """
    if candles["instrument"].nunique() > 1:
        raise ValueError("compute_features takes the candles of one instrument")
    bars = Bars.from_candles(candles)
    atr = indicators.average_true_range(bars)
    features = {
        **indicators.log_returns(bars),
        **indicators.technical_features(bars, atr),
        **volatility.volatility_features(bars),
        **microstructure.microstructure_features(bars, atr),
        **calendar_features.calendar_features(bars),
    }
    keys = candles[OUTPUT_COLUMNS[:3]].reset_index(drop=True)
    return pd.concat([keys, pd.DataFrame({c: features[c] for c in FEATURE_COLUMNS})], axis=1)


def build_market_features(
    lake: Lake, start: dt.date | None = None, end: dt.date | None = None
) -> FeatureRunReport:
    """Recompute the silver feature partitions of the bronze days in ``[start, end]``.

    The range is replaced in one commit, chunk by chunk as they are computed; silver days
    in the range whose bronze day no longer exists end up empty, so the range always
    mirrors bronze.
    """
    if start and end and start > end:
        raise ValueError(f"--start {start} is after --end {end}")
    began = time.perf_counter()
    bronze_days = lake.partitions(BRONZE_CANDLES)
    days = _in_range(bronze_days, start, end)

    def chunks() -> Iterator[pd.DataFrame]:
        for chunk in _chunks(days):
            yield _build_chunk(lake, bronze_days, chunk)

    rows = lake.replace_range(SILVER_FEATURES, chunks, start, end).rows
    return FeatureRunReport(days=len(days), rows=rows, seconds=time.perf_counter() - began)


def _in_range(days: Sequence[dt.date], start: dt.date | None, end: dt.date | None) -> list[dt.date]:
    return [d for d in days if (start is None or d >= start) and (end is None or d <= end)]


def _chunks(days: list[dt.date]) -> Iterator[list[dt.date]]:
    for i in range(0, len(days), CHUNK_DAYS):
        yield days[i : i + CHUNK_DAYS]


def _build_chunk(lake: Lake, bronze_days: list[dt.date], days: list[dt.date]) -> pd.DataFrame:
    """The feature rows of the consecutive bronze ``days`` (warm-up days left out)."""
    candles = read_with_warmup(lake, bronze_days, days[0], days[-1])
    features = features_by_instrument(candles)
    features = features.loc[features["time"].dt.date.between(days[0], days[-1])]
    features = features.sort_values(KEY_COLUMNS, kind="stable", ignore_index=True)
    logger.info("%s %s..%s: %d rows", SILVER_FEATURES, days[0], days[-1], len(features))
    return features


def read_with_warmup(
    lake: Lake, bronze_days: list[dt.date], first: dt.date, last: dt.date
) -> pd.DataFrame:
    """Candles of ``[first, last]`` plus earlier days back to the start of their segment."""
    candles = lake.read(BRONZE_CANDLES, first, last, columns=CANDLE_COLUMNS)
    for day in reversed(_in_range(bronze_days, None, first - dt.timedelta(days=1))):
        earlier = lake.read(BRONZE_CANDLES, day, day, columns=CANDLE_COLUMNS)
        if not _continues_into(earlier, candles):
            break
        candles = pd.concat([earlier, candles], ignore_index=True)
    return candles


def _continues_into(earlier: pd.DataFrame, later: pd.DataFrame) -> bool:
    """Whether some instrument's first bar in ``later`` is in the segment of ``earlier``'s
    last bar (gap between their opens at most ``MAX_GAP``)."""
    last = earlier.groupby("instrument")["time"].max()
    first = later.groupby("instrument")["time"].min()
    return bool((first - last.reindex(first.index) <= MAX_GAP).any())


def features_by_instrument(candles: pd.DataFrame) -> pd.DataFrame:
    candles = candles.sort_values(["instrument", "time"], kind="stable", ignore_index=True)
    parts = [compute_features(group) for _, group in candles.groupby("instrument")]
    return pd.concat(parts, ignore_index=True) if parts else compute_features(candles)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_lake_argument(parser)
    add_date_range(parser, "UTC day (default: all bronze days)")


def main(args: argparse.Namespace) -> FeatureRunReport:
    lake = Lake(args.lake)
    require_tables(lake, BRONZE_CANDLES, produced_by="bronze-market")
    return build_market_features(lake, args.start, args.end)
