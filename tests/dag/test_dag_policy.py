"""DAG-wide policy, for every DAG of the folder: one stage-task factory, one retry policy
(user errors fail at once, with their one-line message and no traceback; anything else
retries), and no heavy import when a file is parsed."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import airflow_env
import pytest

DAG_FILES = sorted(airflow_env.DAGS_FOLDER.glob("*.py"))
# (boto3 is not in the list: Airflow's provider Asset-URI handlers import it for any Asset)
HEAVY_MODULES = (
    *("torch", "transformers", "xgboost", "mlflow", "pandas", "pyarrow", "deltalake"),
    *("matplotlib", "docker", "onnxruntime", "exchange_calendars"),
)
PARSE_BUDGET_S = 2.0
PARSE_PROBE = """
import importlib.util, json, sys, time
import airflow.sdk  # already imported in the DAG processor; not part of the file's budget
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("dag_file", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "heavy": [m for m in sys.argv[2:] if m in sys.modules]}))
"""
# the tasks that run a `python -m src_clean` stage, per DAG
STAGE_TASKS = {
    "sp500_news_pipeline": {
        *("bronze_market", "bronze_news", "silver_market", "silver_sentiment"),
        *("gold_news", "gold_training", "monitor", "train"),
    },
    "sp500_sentiment_backfill": {"shard.score_shard"},
    "sp500_sentiment_jobs": set(),
}


@pytest.fixture(scope="module", params=["local", "docker"])
def dags(request) -> dict:
    env = {"SP500_EXECUTION": request.param}
    if request.param == "docker":
        env |= {
            "SP500_ETL_IMAGE": "sp500-etl:1",
            "SP500_TRAINER_IMAGE": "sp500-trainer:1",
            "SP500_LAKE_ROOT": "/opt/sp500/lake",
            "SP500_LANDING_MARKET": "/opt/sp500/landing/market",
            "SP500_LANDING_NEWS": "/opt/sp500/landing/news",
        }
    bag = airflow_env.parse_dag_folder(env)
    assert not bag.import_errors, bag.import_errors
    return {"mode": request.param, "dags": bag.dags}


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=[f.stem for f in DAG_FILES])
def test_parsing_imports_no_heavy_library_and_fits_the_budget(dag_file: Path) -> None:
    env = {**os.environ, **airflow_env.AIRFLOW_ENV, "SP500_EXECUTION": "local"}
    probe = [sys.executable, "-c", PARSE_PROBE, str(dag_file), *HEAVY_MODULES]
    result = subprocess.run(probe, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    assert report["seconds"] < PARSE_BUDGET_S


def test_every_task_retries_transient_errors_and_never_a_user_error(dags) -> None:
    from airflow.sdk.definitions.retry_policy import RetryAction

    from src_clean.orchestration.task_policy import TaskRejected

    assert set(dags["dags"]) == {*STAGE_TASKS, "sp500_lake_maintenance", "sp500_live"}
    for dag in dags["dags"].values():
        for task in dag.tasks:
            where = f"{dag.dag_id}.{task.task_id}"
            assert task.owner == "sp500-mlops", where
            assert task.retries >= 1, where
            assert task.retry_exponential_backoff > 1, where
            policy = task.retry_policy
            rejected = policy.evaluate(TaskRejected("x"), try_number=1, max_tries=3)
            transient = policy.evaluate(RuntimeError("x"), try_number=1, max_tries=3)
            assert rejected.action is RetryAction.FAIL, where
            assert transient.action is RetryAction.DEFAULT, where


def test_every_stage_runs_through_the_one_stage_task(dags) -> None:
    """In-process, every stage is ``stage_task.run_stage``; in docker mode the one
    ``StageDockerOperator``; nothing else in any DAG runs a stage."""
    from src_clean.orchestration.docker_operator import StageDockerOperator
    from src_clean.orchestration.stage_task import run_stage

    for dag_id, dag in dags["dags"].items():
        expected = STAGE_TASKS.get(dag_id, {t for t in dag.task_ids if t != "plan"})
        if dags["mode"] == "local":
            found = {
                t.task_id
                for t in dag.tasks
                if getattr(t, "python_callable", None) is run_stage.function
            }
        else:
            found = {t.task_id for t in dag.tasks if isinstance(t, StageDockerOperator)}
        assert found == expected, dag_id


@pytest.mark.slow
def test_a_user_error_fails_once_with_its_message_and_no_traceback(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A real run: a session without candles fails `market_data` on its first try, its
    one-line message is the failure, and no traceback is printed."""
    airflow_env.migrated_db()
    (tmp_path / "landing" / "market").mkdir(parents=True)
    (tmp_path / "landing" / "news").mkdir(parents=True)
    env = {
        "SP500_EXECUTION": "local",
        "SP500_LAKE_ROOT": str(tmp_path / "lake"),
        "SP500_LANDING_MARKET": str(tmp_path / "landing" / "market"),
        "SP500_LANDING_NEWS": str(tmp_path / "landing" / "news"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    with pytest.MonkeyPatch.context() as patch:
        dag = airflow_env.load_dag(env)
        for name, value in env.items():
            patch.setenv(name, value)
        conf = {"start_date": "2024-01-02", "end_date": "2024-01-02"}
        run = dag.test(logical_date=dt.datetime(2024, 1, 3, tzinfo=dt.UTC), run_conf=conf)
    ti = run.get_task_instance("market_data")
    assert (str(ti.state), ti.try_number) == ("failed", 1)
    output = "".join(capfd.readouterr())
    assert "Task exited" in output
    assert "no candles in bronze/market/candles for the CMES session(s) 2024-01-02" in output
    assert "Traceback" not in output and "error_detail" not in output
