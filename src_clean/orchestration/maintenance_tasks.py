"""What the ``sp500_lake_maintenance`` DAG runs: a ``lake-maintain`` task per spec table and
one for the gold variant tables; ``plan`` is the body of its task of that name.

Nothing heavy is imported: the DAG file imports this module when it is parsed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from src_clean import tables
from src_clean.lake_maintenance import DEFAULT_RETENTION_HOURS as DEFAULT_RETENTION_HOURS
from src_clean.lake_maintenance import GOLD_VARIANTS_TASK as GOLD_VARIANTS_TASK
from src_clean.lake_maintenance import WEEKLY_SCHEDULE as WEEKLY_SCHEDULE
from src_clean.lake_maintenance import maintenance_argv, task_id
from src_clean.orchestration.airflow_lookups import runtime_settings
from src_clean.orchestration.assets import alias
from src_clean.orchestration.stages import STAGES

if TYPE_CHECKING:
    from airflow.sdk import AssetAlias


def table_tasks() -> dict[str, str]:
    """Task id -> table, for every table of the spec registry."""
    return {task_id(spec.name): spec.name for spec in tables.all_specs()}


def gold_variant_aliases() -> list[AssetAlias]:
    """The aliases through which the gold stages name the variant tables they write: the
    inlets of the gold variants' task (their events' producers)."""
    return [alias(s.task_id) for s in STAGES.values() if s.route and s.layer == "gold"]


def plan(params: dict[str, Any] | None = None) -> dict[str, list[str]]:
    """The ``lake-maintain`` argv of every table (lake root resolved at run time)."""
    retention = int((params or {}).get("retention_hours", DEFAULT_RETENTION_HOURS))
    return maintenance_argv(runtime_settings().lake_root, retention)
