"""The bodies of the pipeline DAG's own tasks (its stages are ``stage_task``s): plain
functions that ``sp500_pipeline.py`` wraps with ``@task``; the task id is the function's
name, its docstring the task's documentation.

Settings are resolved when a task runs (the environment, then Airflow Variables). The DAG
file imports this module when it is parsed: anything heavy is imported inside a function.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from src_clean.errors import UserError
from src_clean.orchestration.airflow_lookups import runtime_settings
from src_clean.orchestration.task_policy import TaskRejected
from src_clean.orchestration.trigger_form import InvalidRunParams, RunParams

log = logging.getLogger(__name__)
DEFAULTS = RunParams()


def plan(
    params: dict[str, Any] | None = None,
    data_interval_start: dt.datetime | None = None,
    data_interval_end: dt.datetime | None = None,
    dag_run: Any = None,
) -> dict[str, Any]:
    """Check the trigger form, resolve settings (environment, then Variables) and build
    every stage's argv (``build_plan``); bad parameters fail the run without retries."""
    from src_clean.orchestration.plan import build_plan

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


def market_data(window: Sequence[str]) -> bool:
    """Skip silver, gold and train when the market was closed; fail at once, naming
    the session and the landing folder, when a session has no candles in bronze."""
    from src_clean.market_sessions import check_market_data

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
        log.error("%s", exc)
        raise TaskRejected(str(exc)) from None
    log.info("%s", check.note)
    return check.open


def news_enabled(params: dict[str, Any] | None = None) -> bool:
    """Skip `silver_sentiment` and `gold_news` when the run has `skip_news`."""
    return not (params or {}).get("skip_news", DEFAULTS.skip_news)


def retrain_enabled(params: dict[str, Any] | None = None) -> bool:
    """Skip `train` and its report when the run has `retrain: false`."""
    return bool((params or {}).get("retrain", DEFAULTS.retrain))


def promotion_report(params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Log the champion decision from the run's training summary (also the XCom):
    `reports/training_summary.json`, a variant's under `reports/variants/<variant>/`."""
    from src_clean.orchestration.runner import champion_decision

    variant = RunParams.from_params(params or {}).variant
    decision = champion_decision(runtime_settings().lake_root, variant)
    log.info("champion decision: %s", decision)
    return decision


def monitoring_summary(monitor_argv: Sequence[str]) -> dict[str, Any]:
    """The day's monitoring status in the run (this task's return value), and an alert
    through `SP500_ALERT_CONN_ID` when a check warned or failed."""
    from airflow.sdk import get_current_context

    from src_clean import tables
    from src_clean.lake import Lake
    from src_clean.monitoring.summary import alert_message, day_summary, end_of
    from src_clean.orchestration.alerts import send_alert

    lake = Lake(runtime_settings().lake_root)
    day = end_of(monitor_argv) or lake.partitions(tables.MONITORING_CHECKS)[-1]
    summary = day_summary(lake, day)
    log.info("monitoring: %s", summary)
    if summary["status"] != "ok":
        summary["alerted"] = send_alert(*alert_message(summary), get_current_context())
    return summary
