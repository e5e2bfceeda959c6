"""
### S&P 500 lake maintenance (weekly)

One task per Delta table of the lake (from the table-spec registry, `src_clean.tables`), plus
one for the gold variant tables that exist when it runs (its inlets: the aliases through
which `gold_news` and `gold_training` name the variant tables they write). Each runs
`python -m src_clean lake-maintain --table T`: `optimize` (compacts the small files daily
upserts leave), a log checkpoint, and `vacuum` of files unreferenced for longer than
`retention_hours` (7 days by default, so time travel within the week keeps working).
Every step is one Delta commit, retried on conflicts, so it can overlap the daily DAG.

Schedule: Saturday 04:00 UTC, while the futures market is closed. **Execution** follows
`SP500_EXECUTION` (in-process, or the ETL image in docker mode); the lake root is
`SP500_LAKE_ROOT` (or the Airflow Variable of that name). Each task lists its table as an
inlet Asset (`sp500://lake/<table>`): maintenance changes files, never rows, so it emits
no Asset events.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import Param, dag, task

from src_clean.orchestration import maintenance_tasks
from src_clean.orchestration.assets import asset
from src_clean.orchestration.dag_settings import parse_settings
from src_clean.orchestration.maintenance_tasks import (
    DEFAULT_RETENTION_HOURS,
    GOLD_VARIANTS_TASK,
    WEEKLY_SCHEDULE,
)
from src_clean.orchestration.stage_task import stage_task
from src_clean.orchestration.task_policy import default_args

SETTINGS = parse_settings()
TABLES = maintenance_tasks.table_tasks()


def maintain_task(name: str, argv: Any, what: str, inlets: list[Any]) -> Any:
    """``lake-maintain`` for one table (or the gold variants) in the configured mode."""
    doc = f"Optimize, checkpoint and vacuum {what}."
    return stage_task(name, argv, settings=SETTINGS, inlets=inlets, doc_md=doc)


@dag(
    dag_id="sp500_lake_maintenance",
    schedule=WEEKLY_SCHEDULE,
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["sp500", "lake", "maintenance", SETTINGS.execution],
    doc_md=__doc__,
    params={
        "retention_hours": Param(
            DEFAULT_RETENTION_HOURS,
            type="integer",
            minimum=DEFAULT_RETENTION_HOURS,
            description="Vacuum files unreferenced for longer than this many hours.",
        ),
    },
)
def sp500_lake_maintenance() -> None:
    argv = task(multiple_outputs=True)(maintenance_tasks.plan)()
    for name, table in TABLES.items():
        maintain_task(name, argv[name], f"`{table}`", [asset(table)])
    variants = maintenance_tasks.gold_variant_aliases()
    maintain_task(GOLD_VARIANTS_TASK, argv[GOLD_VARIANTS_TASK], "the gold variants", variants)


sp500_lake_maintenance()
