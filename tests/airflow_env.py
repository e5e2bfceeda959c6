"""Airflow test environment: a throw-away AIRFLOW_HOME, set before Airflow is imported.

Import this module before anything that imports ``airflow``: Airflow reads its
configuration once, at import. ``migrated_db()`` creates the sqlite metadata DB once per
test session; ``load_dag()`` parses the DAG folder with a given environment.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import DAG

REPO = Path(__file__).resolve().parents[1]
DAGS_FOLDER = REPO / "airflow_mlops" / "dags"
DAG_FILE = DAGS_FOLDER / "sp500_pipeline.py"
DAG_ID = "sp500_news_pipeline"
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="sp500-airflow-home-"))
atexit.register(shutil.rmtree, AIRFLOW_HOME, ignore_errors=True)

AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
    "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(AIRFLOW_HOME / "logs"),
}
os.environ.update(AIRFLOW_ENV)


@functools.cache
def migrated_db() -> Path:
    """Create the metadata DB (``airflow db migrate``) once per process; return its path."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ)
    return AIRFLOW_HOME / "airflow.db"


def parse_dag_folder(settings_env: Mapping[str, str]) -> DagBag:
    """Parse the DAG folder with exactly ``settings_env`` as the ``SP500_*`` settings."""
    from airflow.dag_processing.dagbag import DagBag

    with pytest.MonkeyPatch.context() as patch:
        for name in os.environ:
            if name.startswith("SP500_") or name == "MLFLOW_TRACKING_URI":
                patch.delenv(name)
        for name, value in settings_env.items():
            patch.setenv(name, value)
        return DagBag(dag_folder=str(DAGS_FOLDER))


def load_dag(settings_env: Mapping[str, str] | None = None) -> DAG:
    """The pipeline DAG parsed with ``settings_env``; fail on any import error."""
    bag = parse_dag_folder(settings_env or {})
    assert not bag.import_errors, bag.import_errors
    return bag.dags[DAG_ID]
