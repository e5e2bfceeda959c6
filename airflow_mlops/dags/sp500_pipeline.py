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
from collections.abc import Sequence
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, Param, TriggerRule, dag, task

from src_clean.orchestration.alerts import notify_failure
from src_clean.orchestration.assets import outlets, written_key
from src_clean.orchestration.plan import MARKET_WINDOW
from src_clean.orchestration.stage_task import stage_task
from src_clean.orchestration.stages import enabled_stages
from src_clean.orchestration.task_policy import TaskRejected, default_args
from src_clean.orchestration.trigger_form import MAX_HORIZON_MINUTES, MAX_WINDOW_MINUTES, RunParams
from src_clean.settings import Settings

SETTINGS = Settings.from_env()
SETTINGS.validate()
DEFAULTS = RunParams()
STAGES = {stage.task_id: stage for stage in enabled_stages(SETTINGS)}


def pipeline_task(task_id: str, plan: Any, **kwargs: Any) -> Any:
    """The task of one stage: its argv (and, when routed, its tables) from the plan."""
    stage = STAGES[task_id]
    kwargs |= {"outlets": outlets(stage), "doc_md": stage.doc_md}
    if stage.pool:
        kwargs["pool"] = stage.pool
    written = plan[written_key(task_id)] if stage.route else ()
    return stage_task(
        task_id,
        plan[task_id],
        settings=SETTINGS,
        image_kind=stage.image,
        written=written,
        **kwargs,
    )


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
    @task(multiple_outputs=True)
    def plan(
        params: dict[str, Any] | None = None,
        data_interval_start: dt.datetime | None = None,
        data_interval_end: dt.datetime | None = None,
        dag_run: Any = None,
    ) -> dict[str, Any]:
        """Check the trigger form, resolve settings (environment, then Variables) and build
        every stage's argv (``build_plan``); bad parameters fail the run without retries."""
        from src_clean.orchestration.airflow_lookups import runtime_settings
        from src_clean.orchestration.plan import build_plan
        from src_clean.orchestration.trigger_form import InvalidRunParams

        try:
            return build_plan(
                RunParams.from_params(params or {}),
                runtime_settings(),
                data_interval_start,
                data_interval_end,
                getattr(dag_run, "run_after", None),
            )
        except InvalidRunParams as exc:
            raise TaskRejected(f"invalid trigger parameters: {exc}") from None

    # only the tasks right after it are skipped on a closed day; the rest follow their
    # trigger rules, so `monitor` (none_failed) still runs and reports "market closed"
    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def market_data(window: Sequence[str]) -> bool:
        """Skip silver, gold and train when the market was closed; fail at once, naming
        the session and the landing folder, when a session has no candles in bronze."""
        import logging

        from src_clean.errors import UserError
        from src_clean.market_sessions import check_market_data
        from src_clean.orchestration.airflow_lookups import runtime_settings

        settings = runtime_settings()
        start, end = (dt.datetime.fromisoformat(moment) for moment in window)
        try:
            check = check_market_data(
                settings.lake_root,
                settings.landing_market,
                settings.market_calendar,
                start,
                end,
                settings.market_hours,
            )
        except UserError as exc:
            logging.getLogger(__name__).error("%s", exc)
            raise TaskRejected(str(exc)) from None
        logging.getLogger(__name__).info("%s", check.note)
        return check.open

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def news_enabled(params: dict[str, Any] | None = None) -> bool:
        """Skip `silver_sentiment` and `gold_news` when the run has `skip_news`."""
        return not (params or {}).get("skip_news", DEFAULTS.skip_news)

    @task.short_circuit
    def retrain_enabled(params: dict[str, Any] | None = None) -> bool:
        """Skip `train` and its report when the run has `retrain: false`."""
        return bool((params or {}).get("retrain", DEFAULTS.retrain))

    @task
    def promotion_report(params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Log the champion decision from the run's training summary (also the XCom):
        `reports/training_summary.json`, a variant's under `reports/variants/<variant>/`."""
        import logging

        from src_clean.orchestration.airflow_lookups import runtime_settings
        from src_clean.orchestration.runner import champion_decision

        variant = RunParams.from_params(params or {}).variant
        decision = champion_decision(runtime_settings().lake_root, variant)
        logging.getLogger(__name__).info("champion decision: %s", decision)
        return decision

    @task(trigger_rule=TriggerRule.NONE_FAILED)
    def monitoring_summary(monitor_argv: Sequence[str]) -> dict[str, Any]:
        """The day's monitoring status in the run (this task's return value), and an alert
        through `SP500_ALERT_CONN_ID` when a check warned or failed."""
        import logging

        from airflow.sdk import get_current_context

        from src_clean.lake import Lake
        from src_clean.monitoring.summary import alert_message, day_summary, end_of
        from src_clean.orchestration.airflow_lookups import runtime_settings
        from src_clean.orchestration.alerts import send_alert

        lake = Lake(runtime_settings().lake_root)
        day = end_of(monitor_argv) or lake.partitions("monitoring/checks")[-1]
        summary = day_summary(lake, day)
        logging.getLogger(__name__).info("monitoring: %s", summary)
        if summary["status"] != "ok":
            summary["alerted"] = send_alert(*alert_message(summary), get_current_context())
        return summary

    argv = plan()
    # gold_training runs when gold_news was skipped (skip_news) but nothing upstream failed;
    # monitor runs on a closed day too (gold skipped), never after a failure.
    rules = {
        "gold_training": {"trigger_rule": TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS},
        "monitor": {"trigger_rule": TriggerRule.NONE_FAILED},
    }
    tasks = {task_id: pipeline_task(task_id, argv, **rules.get(task_id, {})) for task_id in STAGES}
    for fetch, ingest in (
        ("fetch_market", "bronze_market"),
        ("fetch_news", "bronze_news"),
        ("fetch_news_gkg", "bronze_news"),
        ("fetch_news_rss", "bronze_news"),
    ):
        if fetch in tasks:
            tasks[fetch] >> tasks[ingest]

    market_open = market_data(argv[MARKET_WINDOW])
    # a closed day skips these two (gold_training directly: its trigger rule alone would
    # run it after the plan), and what follows them by its trigger rule
    tasks["bronze_market"] >> market_open >> [tasks["silver_market"], tasks["gold_training"]]
    tasks["bronze_news"] >> news_enabled() >> tasks["silver_sentiment"]
    [tasks["silver_market"], tasks["silver_sentiment"]] >> tasks["gold_news"]
    [tasks["silver_market"], tasks["gold_news"]] >> tasks["gold_training"]
    tasks["gold_training"] >> tasks["monitor"] >> monitoring_summary(argv["monitor"])
    gate = retrain_enabled()
    [tasks["gold_training"], tasks["monitor"]] >> gate >> tasks["train"] >> promotion_report()


sp500_news_pipeline()
