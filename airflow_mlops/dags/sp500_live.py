"""
### S&P 500 live signal, every 15 minutes

The scheduled variant of the live loop (`python -m src_clean live`), for where a decision
up to 15 minutes after a bar's close is fresh enough and no live service runs. Each run is
one tick: fetch the new candles and news from the sources the daily DAG fetches
(`SP500_SOURCES`: oanda, gdelt, rss), ingest them through bronze, score the new articles,
and decide every bar closed within `deadline_s` of now with the champion, one append-only
row each in `live/decisions`; older bars are written as `missed`. The minute-by-minute
mechanism is the compose service `live` (`docs/live.md`): it keeps the scorer and the
champion loaded, which a scheduled run reloads every time.

One writer per lake: a run gives up after 60 s when a live service holds the lake's lease
(a one-line error, no retries). A transient failure is retried once, a minute later; runs
never overlap (`max_active_runs=1`) and end before the next one is due. Created paused:
enable it only where the service does not run.
**Execution** follows `SP500_EXECUTION`; the lake root is `SP500_LAKE_ROOT`.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task

from src_clean.orchestration import live_tasks
from src_clean.orchestration.dag_settings import parse_settings
from src_clean.orchestration.stage_task import stage_task
from src_clean.orchestration.task_policy import default_args

SETTINGS = parse_settings()
RUN_TIMEOUT = dt.timedelta(seconds=live_tasks.INTERVAL_S - 60)


@dag(
    dag_id="sp500_live",
    schedule=live_tasks.SCHEDULE,
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=True,
    dagrun_timeout=RUN_TIMEOUT,
    default_args=default_args(retry_delay=dt.timedelta(minutes=1)) | {"retries": 1},
    tags=["sp500", "live", SETTINGS.execution],
    doc_md=__doc__,
    params={
        "deadline_s": Param(
            live_tasks.DEADLINE_S,
            type="integer",
            minimum=60,
            description="A bar not decided this many seconds after its close is missed.",
        ),
    },
)
def sp500_live() -> None:
    argv = task(live_tasks.plan)()
    stage_task(
        live_tasks.TASK_ID,
        argv,
        settings=SETTINGS,
        outlets=live_tasks.outlets(),
        execution_timeout=RUN_TIMEOUT,
        doc_md="One live tick: decide the bars closed since the last run.",
    )


sp500_live()
