"""
### S&P 500 news-signal pipeline

`ingest_market`, `ingest_news` (new landing files into **bronze**) → `silver_market`,
`score_sentiment` (**silver**) → `gold_news` → `gold_training` (**gold**) → `train` (XGBoost
with and without news, tracked in MLflow; the champion alias moves only when the new model
is better) → `promotion_report`.

Every stage is one `python -m src_clean <subcommand>` command built by the `plan` task from
the run's data interval (never from the wall clock): ingestion takes only files not ingested
before, silver and gold recompute the interval's UTC dates (idempotent partition
replacement), training uses the last `SP500_TRAIN_HISTORY_DAYS` days. The default schedule,
17:30 America/New_York on weekdays, falls in the daily maintenance break, so one data
interval is one trading session.

**Execution** (`SP500_EXECUTION`, read when the file is parsed): `local` runs each command in
the worker's process; `docker` runs the same command in the pinned ETL or trainer image
(DockerOperator; the worker needs the Docker socket).

**Settings**: environment variables `SP500_*` and `MLFLOW_TRACKING_URI`; lake, landing
folders, sentiment model, demo fallback, training history and MLflow URI can also be set by
an Airflow Variable of the same name. **Trigger form**: `start_date`/`end_date` replace the
interval's dates (backfill), `skip_news` builds a market-only training set, `retrain: false`
stops after gold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from airflow.sdk import Asset, CronDataIntervalTimetable, Param, TriggerRule, dag, task

from src_clean.orchestration.commands import STAGES, RunParams, Stage, asset_uri, build_plan
from src_clean.orchestration.dag_defaults import default_args
from src_clean.orchestration.settings import Settings

SETTINGS = Settings.from_env()
SETTINGS.validate()
DEFAULTS = RunParams()


def outlets(stage: Stage) -> list[Asset]:
    """The lake tables ``stage`` writes, as Assets (their events trigger downstream DAGs)."""
    return [Asset(name=table, uri=asset_uri(table), group="sp500-lake") for table in stage.outputs]


@task
def run_stage(argv: Sequence[str]) -> None:
    """Run one stage in-process."""
    from src_clean.orchestration.runner import run_stage as run

    run(argv)


def stage_task(task_id: str, argv: Any, **kwargs: Any) -> Any:
    """The task for one stage: in-process in local mode, a container in docker mode."""
    stage = STAGES[task_id]
    kwargs |= {"task_id": task_id, "outlets": outlets(stage), "doc_md": stage.doc_md}
    if SETTINGS.execution == "docker":
        from src_clean.orchestration.docker import stage_operator

        return stage_operator(argv=argv, image_kind=stage.image, settings=SETTINGS, **kwargs)
    return run_stage.override(**kwargs)(argv)


@dag(
    dag_id="sp500_news_pipeline",
    schedule=CronDataIntervalTimetable(SETTINGS.schedule, timezone=SETTINGS.timezone),
    start_date=dt.datetime.combine(SETTINGS.start_date, dt.time(), tzinfo=dt.UTC),
    catchup=SETTINGS.catchup,
    max_active_runs=1,
    dagrun_timeout=dt.timedelta(hours=6),
    default_args=default_args(),
    tags=["sp500", "news-sentiment", "mlops", SETTINGS.execution],
    doc_md=__doc__,
    params={
        "start_date": Param(
            DEFAULTS.start_date,
            type=["null", "string"],
            format="date",
            description="First UTC date to process instead of the data interval's.",
        ),
        "end_date": Param(
            DEFAULTS.end_date,
            type=["null", "string"],
            format="date",
            description="Last UTC date to process (inclusive) instead of the data interval's.",
        ),
        "skip_news": Param(DEFAULTS.skip_news, type="boolean", description="Market features only."),
        "window": Param(
            DEFAULTS.window, type="integer", minimum=1, description="News window (minutes)."
        ),
        "prediction_horizon": Param(
            DEFAULTS.prediction_horizon,
            type="integer",
            minimum=1,
            description="Label horizon (minutes).",
        ),
        "sentiment_model": Param(
            DEFAULTS.sentiment_model,
            type=["null", "string"],
            description="Hub id, local folder or `lexicon`; empty: SP500_SENTIMENT_MODEL.",
        ),
        "retrain": Param(DEFAULTS.retrain, type="boolean", description="Run `train`."),
    },
)
def sp500_news_pipeline() -> None:
    @task(multiple_outputs=True)
    def plan(
        params: dict[str, Any] | None = None,
        data_interval_start: dt.datetime | None = None,
        data_interval_end: dt.datetime | None = None,
    ) -> dict[str, list[str]]:
        """Resolve settings (environment, then Variables) and build every stage's argv."""
        from src_clean.orchestration.settings import runtime_settings

        run_params = RunParams.from_params(params or {})
        return build_plan(data_interval_start, data_interval_end, run_params, runtime_settings())

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def news_enabled(params: dict[str, Any] | None = None) -> bool:
        """Skip `score_sentiment` and `gold_news` when the run has `skip_news`."""
        return not RunParams.from_params(params or {}).skip_news

    @task.short_circuit
    def retrain_enabled(params: dict[str, Any] | None = None) -> bool:
        """Skip `train` and its report when the run has `retrain: false`."""
        return RunParams.from_params(params or {}).retrain

    @task
    def promotion_report() -> dict[str, Any]:
        """Log the champion decision from `reports/training_summary.json` (also the XCom)."""
        import logging

        from src_clean.orchestration.runner import champion_decision
        from src_clean.orchestration.settings import runtime_settings

        decision = champion_decision(runtime_settings().lake_root)
        logging.getLogger(__name__).info("champion decision: %s", decision)
        return decision

    argv = plan()
    ingest_market = stage_task("ingest_market", argv["ingest_market"])
    ingest_news = stage_task("ingest_news", argv["ingest_news"])
    silver_market = stage_task("silver_market", argv["silver_market"])
    score_sentiment = stage_task("score_sentiment", argv["score_sentiment"])
    gold_news = stage_task("gold_news", argv["gold_news"])
    # Runs when gold_news was skipped (skip_news) but nothing upstream failed.
    gold_training = stage_task(
        "gold_training", argv["gold_training"], trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS
    )
    train = stage_task("train", argv["train"])

    ingest_market >> silver_market
    ingest_news >> news_enabled() >> score_sentiment
    [silver_market, score_sentiment] >> gold_news
    [silver_market, gold_news] >> gold_training
    gold_training >> retrain_enabled() >> train >> promotion_report()


sp500_news_pipeline()
