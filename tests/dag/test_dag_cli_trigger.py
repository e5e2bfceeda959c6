"""``airflow dags trigger`` (the README's command): no logical date, the plan still works (#13)."""

from __future__ import annotations

import datetime as dt
import json

import airflow_env
import pytest

pytestmark = pytest.mark.slow


def _airflow(*argv: str) -> None:
    """Run an ``airflow`` CLI command in this process (same metadata DB as the tests)."""
    from airflow.cli import cli_parser

    args = cli_parser.get_parser().parse_args(list(argv))
    args.func(args)


@pytest.fixture(scope="module")
def serialized(tmp_path_factory: pytest.TempPathFactory) -> None:
    airflow_env.migrated_db()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SP500_EXECUTION", "local")
        _airflow("dags", "reserialize")


def _latest_run():
    from airflow.models import DagRun

    runs = DagRun.find(dag_id=airflow_env.DAG_ID)
    return max(runs, key=lambda run: run.run_after)


def test_cli_trigger_without_a_logical_date_plans_the_form_dates(serialized, tmp_path) -> None:
    conf = {"skip_news": True, "start_date": "2024-01-02", "end_date": "2024-01-03"}
    _airflow("dags", "trigger", airflow_env.DAG_ID, "--conf", json.dumps(conf))
    run = _latest_run()
    assert run.logical_date is None and run.data_interval_start is None
    assert run.conf == conf

    plan = airflow_env.load_dag({"SP500_LAKE_ROOT": str(tmp_path)}).get_task("plan")
    params = {**plan.dag.params.dump(), **run.conf}
    argv = plan.python_callable(
        params=params,
        data_interval_start=run.data_interval_start,
        data_interval_end=run.data_interval_end,
        dag_run=run,
    )
    assert argv["silver_market"][-4:] == ["--start", "2024-01-02", "--end", "2024-01-03"]
    assert "--skip-news" in argv["gold_training"]
    assert argv["market_window"] == ["2024-01-02T00:00:00+00:00", "2024-01-04T00:00:00+00:00"]


def test_cli_trigger_without_dates_plans_the_day_it_ran(serialized, tmp_path) -> None:
    _airflow("dags", "trigger", airflow_env.DAG_ID)
    run = _latest_run()
    plan = airflow_env.load_dag({"SP500_LAKE_ROOT": str(tmp_path)}).get_task("plan")
    argv = plan.python_callable(params=plan.dag.params.dump(), dag_run=run)
    day = run.run_after.astimezone(dt.UTC).date().isoformat()
    assert argv["silver_market"][-4:] == ["--start", day, "--end", day]


def test_cli_trigger_rejects_an_out_of_range_window(serialized) -> None:
    from airflow.models import DagRun

    before = len(DagRun.find(dag_id=airflow_env.DAG_ID))
    with pytest.raises(Exception, match="window"):
        _airflow("dags", "trigger", airflow_env.DAG_ID, "--conf", '{"window": 0}')
    assert len(DagRun.find(dag_id=airflow_env.DAG_ID)) == before
