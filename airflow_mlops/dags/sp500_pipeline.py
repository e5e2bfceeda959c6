"""
### S&P 500 news-signal pipeline

[`fetch_market`, `fetch_news`: OANDA candles and GDELT articles into the landing folders,
when `SP500_SOURCES` names them] → `bronze_market`, `bronze_news` (new landing files into
**bronze**) → `market_data` → `silver_market`, `silver_sentiment` (**silver**) → `gold_news`
→ `gold_training` (**gold**) → `monitor` (data quality, drift, the champion's live record;
`monitoring_summary` returns the day's status and alerts on a warning or failure) →
`train` (XGBoost with and without news, tracked in MLflow; the champion alias moves only
when the new model is better and the day's data quality did not fail) → `promotion_report`.

Every stage is one `python -m src_clean <subcommand>` command built by the `plan` task from
the run's data interval (never from the wall clock); a run triggered without a logical date
(REST `"logical_date": null`, `airflow dags trigger`) processes the trigger form's dates,
else the UTC date it was triggered for. Ingestion takes only files not ingested before,
silver and gold recompute the run's UTC dates (idempotent partition replacement), training
uses the last `SP500_TRAIN_HISTORY_DAYS` days. The default schedule, 17:30 America/New_York
on weekdays, falls in the daily maintenance break, so one data interval is one trading
session.

**Ordinary days end green.** `market_data` checks the CME equity calendar
(`SP500_MARKET_CALENDAR`, exchange_calendars `CMES`; the NYSE's cash sessions for
cash-hours data, `SP500_MARKET_HOURS`): no session in the run (a holiday)
logs "market closed" and skips silver, gold and train (`monitor` still runs); a session
without candles in bronze fails the run there, at once, naming the session and the landing folder.

**Failures.** Bad trigger-form values are rejected by the form's schema or by `plan`, and a
stage's user error (missing input, lake or model; exit status 2) fails without retries;
other errors retry with exponential backoff. `SP500_ALERT_CONN_ID` (an smtp or slackwebhook
connection) sends an alert when a run fails.

**Execution** (`SP500_EXECUTION`, read when the file is parsed): `local` runs each command in
the worker's process; `docker` runs the same command in the pinned ETL or trainer image
(DockerOperator; the worker needs the Docker socket). Fetch tasks run in the Pools
`oanda_api` and `gdelt_api` (create them: `airflow pools set oanda_api 1 OANDA`).

**Settings**: environment variables `SP500_*` and `MLFLOW_TRACKING_URI`; lake, landing
folders, sentiment model, demo fallback, training history and MLflow URI can also be set by
an Airflow Variable of the same name. **Trigger form**: `start_date`/`end_date` replace the
interval's dates (backfill); `skip_news`, another `window` or `prediction_horizon` build
their own training-set variant (`gold/variants/<variant>/training`) and register their own
model; `retrain: false` stops after gold.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from src_clean.orchestration import pipeline_tasks
from src_clean.orchestration.alerts import notify_failure
from src_clean.orchestration.dag_settings import parse_settings
from src_clean.orchestration.pipeline_graph import GATES, edges, task_options
from src_clean.orchestration.plan import MARKET_WINDOW
from src_clean.orchestration.stage_task import planned_stage_task
from src_clean.orchestration.stages import enabled_stages
from src_clean.orchestration.task_policy import default_args
from src_clean.orchestration.trigger_form import MAX_HORIZON_MINUTES, MAX_WINDOW_MINUTES, RunParams

SETTINGS = parse_settings()
DEFAULTS = RunParams()
STAGES = enabled_stages(SETTINGS)


def own_task(task_id: str, *args: Any) -> Any:
    """The task of ``pipeline_tasks.<task_id>`` (a gate: a short-circuit task) on ``args``."""
    decorator = task.short_circuit if task_id in GATES else task
    return decorator(**task_options(task_id))(getattr(pipeline_tasks, task_id))(*args)


def _minutes(default: int, top: int, description: str) -> Param:
    return Param(default, type="integer", minimum=1, maximum=top, description=description)


@dag(
    dag_id="sp500_news_pipeline",
    schedule=(
        CronDataIntervalTimetable(SETTINGS.schedule, timezone=SETTINGS.timezone)
        if SETTINGS.schedule
        else None
    ),
    start_date=dt.datetime.combine(SETTINGS.start_date, dt.time(), tzinfo=dt.UTC),
    catchup=SETTINGS.catchup,
    max_active_runs=1,
    dagrun_timeout=dt.timedelta(hours=6),
    default_args=default_args(),
    on_failure_callback=notify_failure,
    tags=["sp500", "news-sentiment", "mlops", SETTINGS.execution],
    doc_md=__doc__,
    params={
        "start_date": Param(
            DEFAULTS.start_date,
            type=["null", "string"],
            format="date",
            description="First UTC date to process. Empty: the run's data interval; "
            "without a schedule (SP500_SCHEDULE empty, as make airflow on the sample "
            "data), the last complete session in the landing data.",
        ),
        "end_date": Param(
            DEFAULTS.end_date,
            type=["null", "string"],
            format="date",
            description="Last UTC date to process (inclusive). Empty: as start_date.",
        ),
        "skip_news": Param(
            DEFAULTS.skip_news,
            type="boolean",
            description="Market features only (its own training-set variant).",
        ),
        "window": _minutes(DEFAULTS.window, MAX_WINDOW_MINUTES, "News window (minutes)."),
        "prediction_horizon": _minutes(
            DEFAULTS.prediction_horizon, MAX_HORIZON_MINUTES, "Label horizon (minutes)."
        ),
        "sentiment_model": Param(
            DEFAULTS.sentiment_model,
            type=["null", "string"],
            description="Hub id, local folder or `lexicon`; empty: SP500_SENTIMENT_MODEL.",
        ),
        "rescore_sentiment": Param(
            DEFAULTS.rescore_sentiment,
            type="boolean",
            description="Score the run's dates again with the engine `auto` picks now "
            "(`silver-sentiment --rescore`); off: keep the engine recorded for the model.",
        ),
        "retrain": Param(DEFAULTS.retrain, type="boolean", description="Run `train`."),
    },
)
def sp500_news_pipeline() -> None:
    plan = task(multiple_outputs=True)(pipeline_tasks.plan)()
    tasks = {
        stage.task_id: planned_stage_task(stage, plan, SETTINGS, **task_options(stage.task_id))
        for stage in STAGES
    }
    tasks |= {
        "market_data": own_task("market_data", plan[MARKET_WINDOW]),
        "news_enabled": own_task("news_enabled"),
        "retrain_enabled": own_task("retrain_enabled"),
        "monitoring_summary": own_task("monitoring_summary", plan["monitor"]),
        "promotion_report": own_task("promotion_report"),
    }
    for upstream, downstream in edges(STAGES):
        tasks[upstream] >> tasks[downstream]


sp500_news_pipeline()
