"""One ``python -m src_clean`` command per DAG task, built from the run's data interval.

Pure functions: the same argv runs in-process (local mode) and as the ``command`` of a
container (docker mode). Dates are UTC partition dates and ranges are inclusive.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from src_clean import tables
from src_clean.orchestration.settings import Settings

ASSET_SCHEME = "sp500"


@dataclasses.dataclass(frozen=True)
class Stage:
    """A DAG task that runs one CLI subcommand in one image and writes ``outputs``."""

    task_id: str
    image: str
    outputs: tuple[str, ...]
    doc_md: str


STAGES: dict[str, Stage] = {
    stage.task_id: stage
    for stage in (
        Stage(
            "ingest_market",
            "etl",
            (tables.BRONZE_CANDLES,),
            "Ingest the candle files that are new in the market landing folder into bronze "
            "(`bronze-market --only-new`); rejected lines go to quarantine.",
        ),
        Stage(
            "ingest_news",
            "etl",
            (tables.BRONZE_NEWS,),
            "Ingest the article files that are new in the news landing folder into bronze "
            "(`bronze-news --only-new`); rejected records go to quarantine.",
        ),
        Stage(
            "silver_market",
            "etl",
            (tables.SILVER_FEATURES,),
            "Recompute the causal market features for the interval's UTC dates.",
        ),
        Stage(
            "score_sentiment",
            "etl",
            (tables.SILVER_SENTIMENT,),
            "Score the interval's articles with the sentiment model (FinBERT by default); "
            "skipped with `skip_news`.",
        ),
        Stage(
            "gold_news",
            "etl",
            (tables.GOLD_SIGNALS,),
            "Aggregate the sentiment of the articles published before each bar's decision "
            "time over the trailing `window` minutes; skipped with `skip_news`.",
        ),
        Stage(
            "gold_training",
            "etl",
            (tables.GOLD_TRAINING,),
            "Join features, news signals and forward labels (`target_*`) for the interval.",
        ),
        Stage(
            "train",
            "trainer",
            (tables.TRAINING_SUMMARY,),
            "Train the XGBoost models on the last `SP500_TRAIN_HISTORY_DAYS` days, log them to "
            "MLflow and move the champion alias only when the new model is better.",
        ),
    )
}


@dataclasses.dataclass(frozen=True)
class RunParams:
    """The DAG's trigger-form parameters; the defaults are the DAG's Param defaults."""

    start_date: str | None = None
    end_date: str | None = None
    skip_news: bool = False
    window: int = 60
    prediction_horizon: int = 30
    sentiment_model: str | None = None
    retrain: bool = True

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> RunParams:
        """The known keys of a run's ``params`` (anything else is ignored)."""
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in params.items() if key in names})


@dataclasses.dataclass(frozen=True)
class DateRange:
    """Inclusive range of UTC dates."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")

    def args(self) -> list[str]:
        """``--start D --end D`` for the CLI."""
        return ["--start", self.start.isoformat(), "--end", self.end.isoformat()]


def _utc(moment: dt.datetime) -> dt.datetime:
    """A plain ``datetime`` in UTC (Airflow passes pendulum instances)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment}: the data interval must be timezone-aware")
    return dt.datetime.fromtimestamp(moment.timestamp(), tz=dt.UTC)


def interval_days(start: dt.datetime, end: dt.datetime) -> DateRange:
    """UTC dates touched by the half-open data interval ``[start, end)``."""
    first, stop = _utc(start), _utc(end)
    last = max(first, stop - dt.timedelta(microseconds=1))
    return DateRange(first.date(), last.date())


def processing_range(interval: DateRange, params: RunParams) -> DateRange:
    """The interval's dates, or the dates the trigger form asked for instead."""
    start = dt.date.fromisoformat(params.start_date) if params.start_date else interval.start
    end = dt.date.fromisoformat(params.end_date) if params.end_date else interval.end
    return DateRange(start, end)


def training_range(processing: DateRange, history_days: int) -> DateRange:
    """The last ``history_days`` dates ending at the end of ``processing``."""
    return DateRange(processing.end - dt.timedelta(days=history_days - 1), processing.end)


def asset_uri(table: str) -> str:
    """Stable lineage URI of a lake table, independent of where the lake lives."""
    return tables.asset_uri(table)


def _ingest(subcommand: str, landing: str, lake: list[str], run_ts: str) -> list[str]:
    return [subcommand, "--input", landing, *lake, "--only-new", "--run-ts", run_ts]


def build_plan(
    data_interval_start: dt.datetime,
    data_interval_end: dt.datetime,
    params: RunParams,
    settings: Settings,
) -> dict[str, list[str]]:
    """The argv of every stage for one run, keyed by task id."""
    days = processing_range(interval_days(data_interval_start, data_interval_end), params)
    run_ts = _utc(data_interval_end).isoformat()
    lake = ["--lake", settings.lake_root]
    sentiment_model = params.sentiment_model or settings.sentiment_model
    mlflow = ["--mlflow-tracking-uri", settings.mlflow_tracking_uri]
    history = training_range(days, settings.train_history_days)
    return {
        "ingest_market": _ingest("bronze-market", settings.landing_market, lake, run_ts),
        "ingest_news": _ingest("bronze-news", settings.landing_news, lake, run_ts),
        "silver_market": ["silver-market", *lake, *days.args()],
        "score_sentiment": [
            "silver-sentiment",
            *lake,
            "--sentiment-model",
            sentiment_model,
            *(["--demo-fallback"] if settings.demo_fallback else []),
            "--no-progress",  # task logs are not a terminal
            *days.args(),
        ],
        "gold_news": [
            "gold-news",
            *lake,
            "--window",
            str(params.window),
            "--sentiment-model",
            sentiment_model,
            *days.args(),
        ],
        "gold_training": [
            "gold-training",
            *lake,
            "--prediction-horizon",
            str(params.prediction_horizon),
            *(["--skip-news"] if params.skip_news else []),
            *days.args(),
        ],
        "train": [
            "train",
            *lake,
            *(mlflow if settings.mlflow_tracking_uri else []),
            *history.args(),
        ],
    }
