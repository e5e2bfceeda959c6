"""The DAG parses, parses cheaply, and follows the house policy (local execution mode)."""

from __future__ import annotations

import datetime as dt
import sys

import airflow_env
import pytest

from src_clean import tables
from src_clean.orchestration.stages import STAGES

LAYER_OUTLETS = {
    "bronze_market": tables.BRONZE_CANDLES,
    "bronze_news": tables.BRONZE_NEWS,
    "silver_market": tables.SILVER_FEATURES,
    "silver_sentiment": tables.SILVER_SENTIMENT,
    "gold_news": tables.GOLD_SIGNALS,
    "gold_training": tables.GOLD_TRAINING,
    "train": tables.TRAINING_SUMMARY,
    "monitor": (tables.MONITORING_CHECKS, tables.MONITORING_PREDICTIONS),
}
UPSTREAM = {
    "plan": set(),
    "bronze_market": {"plan"},
    "bronze_news": {"plan"},
    "market_data": {"plan", "bronze_market"},
    "silver_market": {"plan", "market_data"},
    "news_enabled": {"bronze_news"},
    "silver_sentiment": {"plan", "news_enabled"},
    "gold_news": {"plan", "silver_market", "silver_sentiment"},
    "gold_training": {"plan", "market_data", "silver_market", "gold_news"},
    "monitor": {"plan", "gold_training"},
    "monitoring_summary": {"plan", "monitor"},
    "retrain_enabled": {"gold_training", "monitor"},
    "train": {"plan", "retrain_enabled"},
    "promotion_report": {"train"},
}


@pytest.fixture(scope="module")
def dag():
    return airflow_env.load_dag()


def test_dag_folder_imports_without_errors(dag) -> None:
    assert dag.dag_id == airflow_env.DAG_ID
    assert {task.task_id for task in dag.tasks} == set(UPSTREAM)


def test_dag_policy(dag) -> None:
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    assert dag.doc_md and "data interval" in dag.doc_md
    assert {"sp500", "mlops"} <= set(dag.tags)
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"  # real intervals
    assert dag.start_date == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize("task_id", sorted(UPSTREAM))
def test_task_policy(dag, task_id: str) -> None:
    task = dag.get_task(task_id)
    assert task.owner == "sp500-mlops"
    assert task.retries >= 1
    assert task.retry_exponential_backoff > 1  # a multiplier in Airflow 3: 1 means constant
    assert task.retry_delay >= dt.timedelta(minutes=1)
    assert task.doc_md and task.doc_md.strip()
    assert task.upstream_task_ids == UPSTREAM[task_id]


def test_every_layer_table_is_an_outlet_of_its_producer(dag) -> None:
    from airflow.sdk import AssetAlias

    routed = {"gold_news", "gold_training", "train"}  # a variant run writes its own table
    for task_id, table in LAYER_OUTLETS.items():
        found = dag.get_task(task_id).outlets
        if task_id in routed:
            assert found == [AssetAlias(name=f"sp500-lake/{task_id}", group="sp500-lake")]
        else:
            names = table if isinstance(table, tuple) else (table,)
            assert [outlet.uri for outlet in found] == [tables.asset_uri(t) for t in names]
    assert {t for t, stage in STAGES.items() if stage.route} == routed
    others = {task.task_id for task in dag.tasks} - set(LAYER_OUTLETS)
    assert all(not dag.get_task(task_id).outlets for task_id in others)
    assert {t for t, stage in STAGES.items() if stage.outputs} == set(LAYER_OUTLETS)


def test_gold_training_runs_when_news_stages_are_skipped(dag) -> None:
    assert dag.get_task("gold_training").trigger_rule == "none_failed_min_one_success"
    assert dag.get_task("news_enabled").ignore_downstream_trigger_rules is False


def test_params_have_defaults(dag) -> None:
    assert dag.params.dump() == {
        "start_date": None,
        "end_date": None,
        "skip_news": False,
        "window": 60,
        "prediction_horizon": 30,
        "sentiment_model": None,
        "rescore_sentiment": False,
        "retrain": True,
    }
    assert dag.params.get_param("start_date").schema["format"] == "date"
    assert dag.params.get_param("window").schema["type"] == "integer"


@pytest.mark.parametrize(
    "conf",
    [{"window": 0}, {"window": 100_000}, {"prediction_horizon": -5}, {"end_date": "20240101"}],
)
def test_the_trigger_form_rejects_out_of_range_values(dag, conf: dict) -> None:
    from airflow.sdk.definitions.param import ParamsDict
    from airflow.sdk.exceptions import ParamValidationError

    params = ParamsDict(dag.params)
    with pytest.raises(ParamValidationError, match="Invalid input for param"):
        params.update(conf)
        params.validate()


def test_no_fetch_tasks_without_sources(dag) -> None:
    assert not [task.task_id for task in dag.tasks if task.task_id.startswith("fetch_")]


def test_sources_add_fetch_tasks_in_their_pools() -> None:
    dag = airflow_env.load_dag({"SP500_SOURCES": "oanda,gdelt"})
    assert dag.get_task("fetch_market").pool == "oanda_api"
    assert dag.get_task("fetch_news").pool == "gdelt_api"
    assert dag.get_task("bronze_market").upstream_task_ids == {"plan", "fetch_market"}
    assert dag.get_task("bronze_news").upstream_task_ids == {"plan", "fetch_news"}
    assert "fetch_news_rss" not in dag.task_ids
    history = airflow_env.load_dag({"SP500_SOURCES": "gdelt-gkg"})
    assert history.get_task("fetch_news_gkg").pool == "gdelt_files"
    assert history.get_task("bronze_news").upstream_task_ids == {"plan", "fetch_news_gkg"}


def test_an_unknown_source_fails_at_parse_time() -> None:
    bag = airflow_env.parse_dag_folder({"SP500_SOURCES": "oanda,bloomberg"})
    assert "SP500_SOURCES" in "".join(bag.import_errors.values())


def test_a_failed_run_calls_the_alert_callback(dag) -> None:
    from src_clean.orchestration.alerts import notify_failure

    assert dag.on_failure_callback in (notify_failure, [notify_failure])


def test_bad_params_fail_the_plan_without_a_retry(dag) -> None:
    from src_clean.orchestration.task_policy import TaskRejected

    plan = dag.get_task("plan").python_callable
    for conf in ({"windw": 5}, {"start_date": "2024-03-02", "end_date": "2024-03-01"}):
        with pytest.raises(TaskRejected, match="invalid trigger parameters"):
            plan(params={**dag.params.dump(), **conf}, dag_run=None)


def test_a_stages_user_error_fails_the_task_without_a_retry(dag) -> None:
    from airflow.sdk.definitions.retry_policy import RetryAction

    from src_clean.orchestration.task_policy import TaskRejected

    task = dag.get_task("silver_market")
    with pytest.raises(TaskRejected, match="the lake /typo has no table") as error:
        task.python_callable(["silver-market", "--lake", "/typo"])
    decision = task.retry_policy.evaluate(error.value, try_number=1, max_tries=3)
    assert decision.action is RetryAction.FAIL


def test_run_full_pipeline_and_the_benchmark_use_the_dags_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    from src_clean.run_full_pipeline import PipelineConfig, pipeline_stages

    stages = pipeline_stages(PipelineConfig("lake", "m", "n"))
    assert [s.task_id for s in stages] == [t for t, s in STAGES.items() if s.layer != "acquire"]
    assert all(stage is STAGES[stage.task_id] for stage in stages)
    spec = importlib.util.spec_from_file_location(
        "pipeline_scale", airflow_env.REPO / "benchmarks" / "pipeline_scale.py"
    )
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "pipeline_scale", bench)
    spec.loader.exec_module(bench)
    assert bench.STAGES is STAGES
