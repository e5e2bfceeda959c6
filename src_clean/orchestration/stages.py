"""The one pipeline definition: every stage, its CLI subcommand and its argv for one run.

``STAGES`` drives the DAG's ``plan`` task and its edges (``pipeline_graph``: a stage runs
after the stages that write what it reads), ``src_clean/run_full_pipeline.py`` and
``benchmarks/pipeline_scale.py``. Pure functions: the same argv runs in-process (local
mode), as the ``command`` of a container (docker mode) or on AWS Batch.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping

from src_clean import tables
from src_clean.orchestration.run_window import DateRange, training_range
from src_clean.orchestration.trigger_form import RunParams
from src_clean.settings import FETCH_SOURCES, Settings

# The landing folders: a fetch stage fills one, an ingest reads it (names, not lake tables).
LANDING_MARKET = "landing/market"
LANDING_NEWS = "landing/news"


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
    market_calendar: str = Settings.model_fields["market_calendar"].default
    market_hours: str = Settings.model_fields["market_hours"].default
    demo_fallback: bool = False
    progress: bool = False
    # the [start, end) a run's sessions are read from (the data interval); None: its dates
    market_window: tuple[str, str] | None = None
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
            market_calendar=settings.market_calendar,
            market_hours=settings.market_hours,
            demo_fallback=settings.demo_fallback,
            fetch_options={s: settings.fetch_options(s) for s in FETCH_SOURCES},
        )

    def with_market_window(self, start: dt.datetime, end: dt.datetime) -> RunContext:
        return dataclasses.replace(self, market_window=(start.isoformat(), end.isoformat()))

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

    ``inputs`` are what it reads that another stage writes: lake tables, or a landing
    folder (an ingest); ``lands`` the landing folder a fetch stage fills. The DAG runs a
    stage after the stages that write its inputs (``pipeline_graph``), or only after
    those of ``waits_for`` when given: the inputs it waits for, the others being written
    before them.
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
    lands: tuple[str, ...] = ()
    waits_for: tuple[str, ...] | None = None

    def writes(self) -> tuple[str, ...]:
        """Everything this stage writes that another stage reads: tables and landing."""
        return (*self.outputs, *self.lands)

    def awaited(self) -> tuple[str, ...]:
        """The inputs whose writers run before this stage."""
        return self.inputs if self.waits_for is None else self.waits_for

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
        *(["--rescore"] if ctx.params.rescore_sentiment else []),
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


def _monitor(ctx: RunContext) -> list[str]:
    return [
        "monitor",
        *ctx.lake(),
        *ctx.dates(),
        *(["--run-ts", ctx.run_ts] if ctx.run_ts else []),
        *(["--sessions-between", *ctx.market_window] if ctx.market_window else []),
        *("--calendar", ctx.market_calendar, "--market-hours", ctx.market_hours),
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
            lands=(LANDING_MARKET,),
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
            lands=(LANDING_NEWS,),
        ),
        Stage(
            "fetch_news_gkg",
            "fetch-news",
            "acquire",
            "etl",
            (),
            (),
            _fetch_news("gdelt-gkg"),
            "Fetch the interval's articles from GDELT 2.0's GKG files (history older than the "
            "DOC API's 3 months) into the news landing folder (on when `SP500_SOURCES` names "
            "`gdelt-gkg`; Pool `gdelt_files`).",
            source="gdelt-gkg",
            pool="gdelt_files",
            lands=(LANDING_NEWS,),
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
            lands=(LANDING_NEWS,),
        ),
        Stage(
            "bronze_market",
            "bronze-market",
            "bronze",
            "etl",
            (LANDING_MARKET,),
            (tables.BRONZE_CANDLES,),
            _ingest("bronze-market", lambda ctx: ctx.landing_market),
            "Ingest the candle files that are new in the market landing folder into bronze "
            "(`bronze-market --only-new`); rejected lines go to quarantine.",
        ),
        Stage(
            "bronze_news",
            "bronze-news",
            "bronze",
            "etl",
            (LANDING_NEWS,),
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
            "silver_sentiment",
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
            route=lambda ctx: (ctx.params.feature_set.signals_table,),
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
            route=lambda ctx: (ctx.params.feature_set.training_table,),
        ),
        Stage(
            "monitor",
            "monitor",
            "monitor",
            "trainer",
            (tables.BRONZE_CANDLES, tables.BRONZE_NEWS, tables.GOLD_TRAINING),
            (tables.MONITORING_CHECKS, tables.MONITORING_PREDICTIONS),
            _monitor,
            "Check the interval's data quality, the drift of the features and the sentiment "
            "mix from the champion's training window, and the champion's live record; write "
            "`monitoring/checks` and `reports/monitoring/<date>.html`. Runs on market-closed "
            "days too; a data-quality `fail` stops `train` from promoting.",
            # it reads bronze too, written before gold/training on a trading day; on a
            # closed day gold_training is skipped early and monitor may run beside
            # bronze_news and silver_sentiment (the DAG's edges as they were before #32)
            waits_for=(tables.GOLD_TRAINING,),
        ),
        Stage(
            "train",
            "train",
            "train",
            "trainer",
            (tables.GOLD_TRAINING, tables.MONITORING_CHECKS),
            (tables.TRAINING_SUMMARY,),
            _train,
            "Train the XGBoost models on the last `SP500_TRAIN_HISTORY_DAYS` days, log them to "
            "MLflow and move the champion alias only when the new model is better. A variant "
            "trains with `--variant`, registers under its own name and writes its summary to "
            "`reports/variants/<variant>/`.",
            route=lambda ctx: (ctx.params.feature_set.training_summary,),
        ),
    )
}
LAYERS = ("acquire", "bronze", "silver", "gold", "monitor", "train")


def enabled_stages(settings: Settings) -> list[Stage]:
    """The stages of the DAG in pipeline order: fetches only for the configured sources."""
    return [s for s in STAGES.values() if s.source is None or s.source in settings.sources]
