"""The one pipeline definition: every stage, its CLI subcommand and its argv for one run.

``STAGES`` drives the DAG's ``plan`` task, ``src_clean/run_full_pipeline.py`` and
``benchmarks/pipeline_scale.py``. Pure functions: the same argv runs in-process (local
mode), as the ``command`` of a container (docker mode) or on AWS Batch. Dates are UTC
partition dates and ranges are inclusive.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from src_clean import tables
from src_clean.orchestration.settings import Settings

# The trigger form's bounds: a window or horizon beyond a trading day is a typo.
MAX_WINDOW_MINUTES = 1440
MAX_HORIZON_MINUTES = 1440


class InvalidRunParams(ValueError):
    """The trigger form asks for something no retry can do (bad dates, unknown keys)."""


@dataclasses.dataclass(frozen=True)
class DateRange:
    """Inclusive range of UTC dates."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise InvalidRunParams(f"start date {self.start} is after end date {self.end}")

    def args(self) -> list[str]:
        """``--start D --end D`` for the CLI."""
        return ["--start", self.start.isoformat(), "--end", self.end.isoformat()]

    def window(self) -> tuple[dt.datetime, dt.datetime]:
        """The half-open UTC time window ``[start 00:00, end + 1 day 00:00)``."""
        first = dt.datetime.combine(self.start, dt.time(), tzinfo=dt.UTC)
        return first, dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), dt.UTC)


@dataclasses.dataclass(frozen=True)
class RunParams:
    """The DAG's trigger-form parameters; the defaults are the DAG's Param defaults."""

    start_date: str | None = None
    end_date: str | None = None
    skip_news: bool = False
    window: int = tables.CANONICAL_WINDOW
    prediction_horizon: int = tables.CANONICAL_HORIZON
    sentiment_model: str | None = None
    retrain: bool = True

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> RunParams:
        """The run's ``params``; an unknown key or an invalid value raises InvalidRunParams."""
        names = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise InvalidRunParams(
                f"unknown parameter(s) {', '.join(map(repr, unknown))}; "
                f"the trigger form takes {', '.join(names)}"
            )
        run = cls(**params)
        run.check()
        return run

    def check(self) -> None:
        """Raise InvalidRunParams on values no retry can fix."""
        for name, top in (
            ("window", MAX_WINDOW_MINUTES),
            ("prediction_horizon", MAX_HORIZON_MINUTES),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise InvalidRunParams(f"{name}={value!r}: expected minutes in 1..{top}")
        for name in ("start_date", "end_date"):
            value = getattr(self, name)
            try:
                value is None or dt.date.fromisoformat(value)
            except (TypeError, ValueError):
                raise InvalidRunParams(f"{name}={value!r}: expected YYYY-MM-DD") from None
        if self.start_date and self.end_date:
            DateRange(dt.date.fromisoformat(self.start_date), dt.date.fromisoformat(self.end_date))

    @property
    def variant(self) -> str | None:
        """The feature variant this run builds (None: the canonical training set)."""
        return tables.feature_variant(self.skip_news, self.window, self.prediction_horizon)


@dataclasses.dataclass(frozen=True)
class RunContext:
    """Everything a stage's argv depends on, for one run of the pipeline.

    ``days`` None processes every date (``run_full_pipeline.py``); ``label_start`` starts
    the training set earlier than ``days`` (the previous day's last bars get their labels).
    """

    lake_root: str
    landing_market: str
    landing_news: str
    days: DateRange | None = None
    train_days: DateRange | None = None
    label_start: dt.date | None = None
    run_ts: str | None = None
    params: RunParams = RunParams()
    sentiment_model: str = Settings.model_fields["sentiment_model"].default
    demo_fallback: bool = False
    progress: bool = False
    # fetch CLI options per source (Settings.fetch_options): API hosts, query, rate limit
    fetch_options: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    @classmethod
    def for_run(
        cls, settings: Settings, params: RunParams, days: DateRange, run_ts: str | None
    ) -> RunContext:
        """The context of a DAG run over ``days``, training on the history that ends there."""
        return cls(
            lake_root=settings.lake_root,
            landing_market=settings.landing_market,
            landing_news=settings.landing_news,
            days=days,
            train_days=training_range(days, settings.train_history_days),
            run_ts=run_ts,
            params=params,
            sentiment_model=params.sentiment_model or settings.sentiment_model,
            demo_fallback=settings.demo_fallback,
            fetch_options={s: settings.fetch_options(s) for s in ("oanda", "gdelt", "rss")},
        )

    def lake(self) -> list[str]:
        return ["--lake", self.lake_root]

    def dates(self) -> list[str]:
        return self.days.args() if self.days else []

    def no_progress(self) -> list[str]:
        return [] if self.progress else ["--no-progress"]  # task logs are not a terminal


@dataclasses.dataclass(frozen=True)
class Stage:
    """One pipeline stage: a task of the DAG, one CLI subcommand in one image.

    ``layer`` orders stages for ``run_full_pipeline.py --until``; ``news`` stages are
    skipped with ``skip_news``; ``source`` names the ``SP500_SOURCES`` entry a fetch stage
    needs (off otherwise); ``pool`` is its Airflow Pool. ``outputs`` are the canonical
    tables; ``route`` names the tables a run really writes when that depends on its
    feature set (another window or horizon, ``skip_news``: the variant's own tables).
    """

    task_id: str
    subcommand: str
    layer: str
    image: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    build: Callable[[RunContext], list[str]]
    doc_md: str
    news: bool = False
    source: str | None = None
    pool: str | None = None
    route: Callable[[RunContext], tuple[str, ...]] | None = None

    def written(self, ctx: RunContext) -> tuple[str, ...]:
        """The tables this stage writes in ``ctx``'s run."""
        return self.route(ctx) if self.route else self.outputs

    def argv(self, ctx: RunContext) -> list[str]:
        """The ``python -m src_clean`` arguments of this stage for ``ctx``."""
        argv = self.build(ctx)
        assert argv[0] == self.subcommand, (argv[0], self.subcommand)
        return argv


def _fetch_market(ctx: RunContext) -> list[str]:
    return [
        "fetch-market",
        *("--source", "oanda", "--instrument", "SPX500_USD", "--granularity", "M1"),
        *ctx.fetch_options.get("oanda", ()),
        *ctx.dates(),
        *("--out", ctx.landing_market),
        *ctx.no_progress(),
    ]


def _fetch_news(source: str) -> Callable[[RunContext], list[str]]:
    def build(ctx: RunContext) -> list[str]:
        return [
            "fetch-news",
            *("--source", source, *ctx.fetch_options.get(source, ())),
            *ctx.dates(),
            *("--out", ctx.landing_news),
            *ctx.no_progress(),
        ]

    return build


def _ingest(subcommand: str, landing: Callable[[RunContext], str]) -> Callable[..., list[str]]:
    def build(ctx: RunContext) -> list[str]:
        run_ts = ["--run-ts", ctx.run_ts] if ctx.run_ts else []
        return [subcommand, "--input", landing(ctx), *ctx.lake(), "--only-new", *run_ts]

    return build


def _score_sentiment(ctx: RunContext) -> list[str]:
    return [
        "silver-sentiment",
        *ctx.lake(),
        *("--sentiment-model", ctx.sentiment_model),
        *(["--demo-fallback"] if ctx.demo_fallback else []),
        *ctx.no_progress(),
        *ctx.dates(),
    ]


def _gold_news(ctx: RunContext) -> list[str]:
    return [
        "gold-news",
        *ctx.lake(),
        *("--window", str(ctx.params.window)),
        *("--sentiment-model", ctx.sentiment_model),
        *ctx.dates(),
    ]


def _gold_training(ctx: RunContext) -> list[str]:
    days = ctx.days
    if days and ctx.label_start:
        days = DateRange(ctx.label_start, days.end)
    return [
        "gold-training",
        *ctx.lake(),
        *("--window", str(ctx.params.window)),
        *("--prediction-horizon", str(ctx.params.prediction_horizon)),
        *(["--skip-news"] if ctx.params.skip_news else []),
        *(days.args() if days else []),
    ]


def _train(ctx: RunContext) -> list[str]:
    variant = ctx.params.variant
    return [
        "train",
        *ctx.lake(),
        *(["--variant", variant] if variant else []),
        *(ctx.train_days.args() if ctx.train_days else []),
    ]


STAGES: dict[str, Stage] = {
    stage.task_id: stage
    for stage in (
        Stage(
            "fetch_market",
            "fetch-market",
            "acquire",
            "etl",
            (),
            (),
            _fetch_market,
            "Fetch the interval's SPX500_USD M1 candles from OANDA v20 into the market landing "
            "folder (on when `SP500_SOURCES` names `oanda`; Pool `oanda_api`).",
            source="oanda",
            pool="oanda_api",
        ),
        Stage(
            "fetch_news",
            "fetch-news",
            "acquire",
            "etl",
            (),
            (),
            _fetch_news("gdelt"),
            "Fetch the interval's articles from the GDELT DOC API into the news landing folder "
            "(on when `SP500_SOURCES` names `gdelt`; Pool `gdelt_api`).",
            source="gdelt",
            pool="gdelt_api",
        ),
        Stage(
            "fetch_news_rss",
            "fetch-news",
            "acquire",
            "etl",
            (),
            (),
            _fetch_news("rss"),
            "Fetch the RSS feeds of `SP500_RSS_FEEDS` into the news landing folder (on when "
            "`SP500_SOURCES` names `rss`).",
            source="rss",
        ),
        Stage(
            "ingest_market",
            "bronze-market",
            "bronze",
            "etl",
            (),
            (tables.BRONZE_CANDLES,),
            _ingest("bronze-market", lambda ctx: ctx.landing_market),
            "Ingest the candle files that are new in the market landing folder into bronze "
            "(`bronze-market --only-new`); rejected lines go to quarantine.",
        ),
        Stage(
            "ingest_news",
            "bronze-news",
            "bronze",
            "etl",
            (),
            (tables.BRONZE_NEWS,),
            _ingest("bronze-news", lambda ctx: ctx.landing_news),
            "Ingest the article files that are new in the news landing folder into bronze "
            "(`bronze-news --only-new`); rejected records go to quarantine.",
        ),
        Stage(
            "silver_market",
            "silver-market",
            "silver",
            "etl",
            (tables.BRONZE_CANDLES,),
            (tables.SILVER_FEATURES,),
            lambda ctx: ["silver-market", *ctx.lake(), *ctx.dates()],
            "Recompute the causal market features for the interval's UTC dates.",
        ),
        Stage(
            "score_sentiment",
            "silver-sentiment",
            "silver",
            "etl",
            (tables.BRONZE_NEWS,),
            (tables.SILVER_SENTIMENT,),
            _score_sentiment,
            "Score the interval's articles with the sentiment model (FinBERT by default); "
            "skipped with `skip_news`.",
            news=True,
        ),
        Stage(
            "gold_news",
            "gold-news",
            "gold",
            "etl",
            (tables.SILVER_FEATURES, tables.SILVER_SENTIMENT),
            (tables.GOLD_SIGNALS,),
            _gold_news,
            "Aggregate the sentiment of the articles published before each bar's decision "
            "time over the trailing `window` minutes; skipped with `skip_news`. Another "
            "window writes its own table, `gold/variants/news-w<window>/signals`.",
            news=True,
            route=lambda ctx: (tables.signals_table(ctx.params.window),),
        ),
        Stage(
            "gold_training",
            "gold-training",
            "gold",
            "etl",
            (tables.SILVER_FEATURES, tables.GOLD_SIGNALS),
            (tables.GOLD_TRAINING,),
            _gold_training,
            "Join features, news signals and forward labels (`target_*`) for the interval. "
            "`skip_news`, another window or horizon write their own training set, "
            "`gold/variants/<variant>/training`, never the canonical one.",
            route=lambda ctx: (tables.training_table(ctx.params.variant),),
        ),
        Stage(
            "train",
            "train",
            "train",
            "trainer",
            (tables.GOLD_TRAINING,),
            (tables.TRAINING_SUMMARY,),
            _train,
            "Train the XGBoost models on the last `SP500_TRAIN_HISTORY_DAYS` days, log them to "
            "MLflow and move the champion alias only when the new model is better. A variant "
            "trains with `--variant`, registers under its own name and writes its summary to "
            "`reports/variants/<variant>/`.",
            route=lambda ctx: (tables.training_summary(ctx.params.variant),),
        ),
    )
}
LAYERS = ("acquire", "bronze", "silver", "gold", "train")


def enabled_stages(settings: Settings) -> list[Stage]:
    """The stages of the DAG in pipeline order: fetches only for the configured sources."""
    return [s for s in STAGES.values() if s.source is None or s.source in settings.sources]


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


@dataclasses.dataclass(frozen=True)
class RunWindow:
    """What one DAG run processes: its UTC dates and the time window market data must fill."""

    days: DateRange
    start: dt.datetime
    end: dt.datetime
    run_ts: str


def run_window(
    params: RunParams,
    data_interval_start: dt.datetime | None,
    data_interval_end: dt.datetime | None,
    run_after: dt.datetime | None,
) -> RunWindow:
    """The trigger form's dates, else the data interval, else the UTC date of ``run_after``.

    A run triggered without a logical date (REST ``"logical_date": null``, ``airflow dags
    trigger``) has no data interval in Airflow 3: it processes the form's dates, else the
    day it was triggered for.
    """
    has_interval = data_interval_start is not None and data_interval_end is not None
    if has_interval:
        interval = interval_days(data_interval_start, data_interval_end)
        start, end = _utc(data_interval_start), _utc(data_interval_end)
    elif run_after is not None:
        day = _utc(run_after).date()
        interval = DateRange(day, day)
        start, end = interval.window()
    elif params.start_date and params.end_date:
        interval = None
    else:
        raise InvalidRunParams("a run without a data interval needs start_date and end_date")
    first = dt.date.fromisoformat(params.start_date) if params.start_date else interval.start
    last = dt.date.fromisoformat(params.end_date) if params.end_date else interval.end
    days = DateRange(first, last)
    if params.start_date or params.end_date or not has_interval:
        start, end = days.window()
    # ingested_at of new bronze rows: the interval's end, else when the run was triggered.
    stamp = data_interval_end if has_interval else run_after or end
    run_ts = _utc(stamp).isoformat()
    return RunWindow(days, start, end, run_ts)


def training_range(processing: DateRange, history_days: int) -> DateRange:
    """The last ``history_days`` dates ending at the end of ``processing``."""
    return DateRange(processing.end - dt.timedelta(days=history_days - 1), processing.end)


def build_plan(
    data_interval_start: dt.datetime | None,
    data_interval_end: dt.datetime | None,
    params: RunParams,
    settings: Settings,
    run_after: dt.datetime | None = None,
) -> dict[str, list[str]]:
    """The argv of every enabled stage for one run, keyed by task id."""
    window = run_window(params, data_interval_start, data_interval_end, run_after)
    ctx = RunContext.for_run(settings, params, window.days, window.run_ts)
    return {stage.task_id: stage.argv(ctx) for stage in enabled_stages(settings)}
