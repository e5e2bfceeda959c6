"""The pipeline DAG's shape, pinned: every edge, trigger rule and gate, with and without the
fetch stages. Taken from the DAG as it was wired by hand (#32), before its edges were derived
from the stage registry: the derivation must reproduce it exactly."""

from __future__ import annotations

import airflow_env
import pytest

# with no SP500_SOURCES: the landing folders are filled outside the DAG
EDGES = {
    ("plan", "bronze_market"),
    ("plan", "bronze_news"),
    ("plan", "market_data"),
    ("plan", "silver_market"),
    ("plan", "silver_sentiment"),
    ("plan", "gold_news"),
    ("plan", "gold_training"),
    ("plan", "monitor"),
    ("plan", "monitoring_summary"),
    ("plan", "train"),
    ("bronze_market", "market_data"),
    ("market_data", "silver_market"),
    ("market_data", "gold_training"),
    ("bronze_news", "news_enabled"),
    ("news_enabled", "silver_sentiment"),
    ("silver_market", "gold_news"),
    ("silver_sentiment", "gold_news"),
    ("silver_market", "gold_training"),
    ("gold_news", "gold_training"),
    ("gold_training", "monitor"),
    ("monitor", "monitoring_summary"),
    ("gold_training", "retrain_enabled"),
    ("monitor", "retrain_enabled"),
    ("retrain_enabled", "train"),
    ("train", "promotion_report"),
}
FETCH_EDGES = {
    ("plan", "fetch_market"),
    ("plan", "fetch_news"),
    ("plan", "fetch_news_gkg"),
    ("plan", "fetch_news_rss"),
    ("fetch_market", "bronze_market"),
    ("fetch_news", "bronze_news"),
    ("fetch_news_gkg", "bronze_news"),
    ("fetch_news_rss", "bronze_news"),
}
TRIGGER_RULES = {
    "gold_training": "none_failed_min_one_success",
    "monitor": "none_failed",
    "monitoring_summary": "none_failed",
}
# the gates (short-circuit tasks); False: skip only the tasks right after the gate
GATES = {"market_data": False, "news_enabled": False, "retrain_enabled": True}
ALL_SOURCES = {
    "SP500_SOURCES": "oanda,gdelt,gdelt-gkg,rss",
    "SP500_RSS_FEEDS": "/opt/sp500/feeds.txt",
}


def _edges(dag) -> set[tuple[str, str]]:
    return {(up, task.task_id) for task in dag.tasks for up in task.upstream_task_ids}


@pytest.mark.parametrize(
    ("settings_env", "expected"),
    [({}, EDGES), (ALL_SOURCES, EDGES | FETCH_EDGES)],
    ids=["no-sources", "every-source"],
)
def test_the_pipeline_dag_has_exactly_its_edges(settings_env, expected) -> None:
    dag = airflow_env.load_dag(settings_env)
    assert _edges(dag) == expected
    assert set(dag.task_ids) == {task for edge in expected for task in edge}


def test_trigger_rules_and_gates() -> None:
    dag = airflow_env.load_dag(ALL_SOURCES)
    rules = {task.task_id: task.trigger_rule.value for task in dag.tasks}
    assert {task: rule for task, rule in rules.items() if rule != "all_success"} == TRIGGER_RULES
    gates = {
        task.task_id: task.ignore_downstream_trigger_rules
        for task in dag.tasks
        if hasattr(task, "ignore_downstream_trigger_rules")
    }
    assert gates == GATES


def test_the_edges_are_derived_from_the_stage_registry() -> None:
    """What each stage reads and writes gives the edges (the plan's come from its XCom)."""
    from src_clean.orchestration.pipeline_graph import edges
    from src_clean.orchestration.stages import STAGES, enabled_stages
    from src_clean.settings import Settings

    def without_plan(found: set[tuple[str, str]]) -> set[tuple[str, str]]:
        return {(up, down) for up, down in found if up != "plan"}

    assert set(edges(enabled_stages(Settings.defaults()))) == without_plan(EDGES)
    assert set(edges(STAGES.values())) == without_plan(EDGES | FETCH_EDGES)
    gkg_only = [s for s in STAGES.values() if s.source in (None, "gdelt-gkg")]
    assert ("fetch_news_gkg", "bronze_news") in edges(gkg_only)
    assert not {edge for edge in edges(gkg_only) if edge[0] in ("fetch_market", "fetch_news")}
