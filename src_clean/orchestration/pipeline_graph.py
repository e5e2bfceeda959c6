"""The pipeline DAG's edges, derived from the stage registry; its gates and reports.

A stage runs after the stages that write what it reads (``Stage.inputs``, or
``Stage.waits_for``; a fetch stage writes its landing folder, ``Stage.lands``, which an
ingest reads). Three gates (short-circuit tasks) stand between stages and the writers of
what the gate reads, and two reports follow a stage. The ``plan`` task's edges come from
its XCom: every stage task, ``market_data`` and ``monitoring_summary`` take their argument
from it.

Pure: no Airflow. The DAG file builds one task per name and applies ``edges``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from src_clean import tables
from src_clean.orchestration.stages import Stage


@dataclasses.dataclass(frozen=True)
class Gate:
    """A short-circuit task: ``guards`` run after it and are skipped when it returns False.

    It runs after the writers of ``reads``; a guarded stage's own edges from those writers
    go through it. ``skip_only_guarded``: skip the guarded tasks only, and let the tasks
    after them follow their trigger rules (Airflow's ``ignore_downstream_trigger_rules``
    False); otherwise everything downstream is skipped.
    """

    task_id: str
    reads: tuple[str, ...]
    guards: tuple[str, ...]
    skip_only_guarded: bool


GATES: dict[str, Gate] = {
    gate.task_id: gate
    for gate in (
        # a closed day skips silver_market and gold_training (directly: its trigger rule
        # alone would run it after the plan); monitor still runs and reports it
        Gate("market_data", (tables.BRONZE_CANDLES,), ("silver_market", "gold_training"), True),
        # skip_news skips silver_sentiment, and gold_news after it
        Gate("news_enabled", (tables.BRONZE_NEWS,), ("silver_sentiment",), True),
        # retrain: false skips train and its report
        Gate(
            "retrain_enabled",
            (tables.GOLD_TRAINING, tables.MONITORING_CHECKS),
            ("train",),
            False,
        ),
    )
}
# the tasks that report on a stage once it ran: report -> stage
REPORTS = {"monitoring_summary": "monitor", "promotion_report": "train"}
# What a report task reads, as Assets: declaring them registers them in Airflow, so the
# routed stage's alias events for them find their Asset ("AssetModel ... not found;
# cannot create asset event" otherwise)
REPORT_INLETS = {"promotion_report": (tables.TRAINING_SUMMARY,)}
TRIGGER_RULES = {
    # runs when gold_news was skipped (skip_news) but nothing upstream failed
    "gold_training": "none_failed_min_one_success",
    # runs on a closed day too (gold skipped), never after a failure
    "monitor": "none_failed",
    "monitoring_summary": "none_failed",
}


def task_options(task_id: str) -> dict[str, Any]:
    """The operator arguments of a task of the pipeline DAG beyond its defaults: its
    trigger rule, and a gate's ``ignore_downstream_trigger_rules``."""
    options: dict[str, Any] = {}
    if task_id in REPORT_INLETS:
        from src_clean.orchestration.assets import asset

        options["inlets"] = [asset(name) for name in REPORT_INLETS[task_id]]
    if task_id in TRIGGER_RULES:
        options["trigger_rule"] = TRIGGER_RULES[task_id]
    if task_id in GATES:
        options["ignore_downstream_trigger_rules"] = not GATES[task_id].skip_only_guarded
    return options


def writers(stages: Iterable[Stage]) -> dict[str, list[str]]:
    """Each table or landing folder -> the task ids of the stages that write it."""
    found: dict[str, list[str]] = {}
    for stage in stages:
        for name in stage.writes():
            found.setdefault(name, []).append(stage.task_id)
    return found


def edges(
    stages: Iterable[Stage],
    gates: Mapping[str, Gate] = GATES,
    reports: Mapping[str, str] = REPORTS,
) -> list[tuple[str, str]]:
    """(upstream, downstream) task ids among ``stages`` (the enabled ones), their gates and
    reports, in pipeline order; without the plan's edges (its XCom makes them)."""
    stages = list(stages)
    enabled = {stage.task_id for stage in stages}
    by_name = writers(stages)
    found: list[tuple[str, str]] = []
    through_gate: dict[str, set[str]] = {}  # stage -> writers its gates stand before
    for gate in gates.values():
        fed = [task for name in gate.reads for task in by_name.get(name, ())]
        found += [(task, gate.task_id) for task in fed]
        for guarded in (g for g in gate.guards if g in enabled):
            found.append((gate.task_id, guarded))
            through_gate.setdefault(guarded, set()).update(fed)
    for stage in stages:
        bypassed = through_gate.get(stage.task_id, set())
        for name in stage.awaited():
            found += [(w, stage.task_id) for w in by_name.get(name, ()) if w not in bypassed]
    found += [(stage, report) for report, stage in reports.items() if stage in enabled]
    return list(dict.fromkeys(found))
