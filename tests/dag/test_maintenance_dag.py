"""The weekly lake-maintenance DAG: a task and an inlet per registry table, and a real
``dag.test()`` that compacts what exists and skips what does not."""

from __future__ import annotations

from pathlib import Path

import airflow_env
import pandas as pd
import pytest
from test_lake_admin import frame

from src_clean import tables
from src_clean.lake import Lake


def test_maintenance_dag_has_a_task_and_inlet_asset_per_spec_table(tmp_path: Path) -> None:
    bag = airflow_env.parse_dag_folder({"SP500_EXECUTION": "local"})
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags["sp500_lake_maintenance"]
    inlets = {
        t.task_id: [getattr(a, "uri", a.name) for a in t.inlets]
        for t in dag.tasks
        if t.task_id != "plan"
    }
    expected = {s.name.replace("/", "_"): [tables.asset_uri(s.name)] for s in tables.all_specs()}
    # the variants: through the aliases of the tasks that produce them, no producerless Asset
    expected["gold_variants"] = ["sp500-lake/gold_news", "sp500-lake/gold_training"]
    assert inlets == expected
    assert dag.max_active_runs == 1 and dag.catchup is False


@pytest.mark.slow
def test_the_weekly_dag_maintains_the_tables_that_exist_and_skips_the_rest(
    tmp_path: Path,
) -> None:
    """``dag.test()`` on a lake holding only gold/training, written as three small files:
    every task succeeds (tables not created yet are skipped) and the files are compacted."""
    airflow_env.migrated_db()
    lake = Lake(tmp_path / "lake")
    chunks = [
        frame([i], "2024-01-02")
        .assign(instrument="X", t=lambda f, i=i: f["t"] + pd.Timedelta(i, "min"))
        .rename(columns={"t": "time"})
        for i in range(3)
    ]
    lake.replace_range(tables.GOLD_TRAINING, lambda: iter(chunks))
    before, version = lake.read(tables.GOLD_TRAINING), lake.version(tables.GOLD_TRAINING)
    assert len(lake.delta_table(tables.GOLD_TRAINING).file_uris()) == 3
    env = {"SP500_EXECUTION": "local", "SP500_LAKE_ROOT": str(tmp_path / "lake")}
    dag = airflow_env.parse_dag_folder(env).dags["sp500_lake_maintenance"]
    for task in dag.tasks:
        task.retries = 0
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        run = dag.test(logical_date=None)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert set(states.values()) == {"success"}, states
    assert len(states) == len(tables.all_specs()) + 2  # plan, a task per table, variants
    assert lake.version(tables.GOLD_TRAINING) > version
    assert len(lake.delta_table(tables.GOLD_TRAINING).file_uris()) == 1
    pd.testing.assert_frame_equal(lake.read(tables.GOLD_TRAINING), before)
    assert not lake.exists(tables.BRONZE_CANDLES)  # skipped, not created
