"""Test-session set-up shared by every tier.

Tiers are folders, and each folder is a pytest marker (``-m unit``, ``-m "unit or
contract"``): ``unit`` (pure functions, no server), ``contract`` (layer boundaries: what a
stage reads and writes in the lake), ``dag`` (DAG validity and policy, ``dag.test()`` of
single behaviours), ``integration`` (real servers: Postgres, moto S3/DynamoDB, HTTP fakes,
MLflow), ``e2e`` (whole pipelines on tiny data). The shared helpers (``airflow_env``,
``serving_support``, ...) live here, beside this file, importable from every tier.

``airflow_env`` points AIRFLOW_HOME at a throw-away folder; it must run before any module
imports airflow, because Airflow reads its configuration once, at import.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TIERS = ("unit", "contract", "dag", "integration", "e2e")
# helpers and the tier folders (a test may reuse another tier's builders)
sys.path[:0] = [str(HERE), *(str(HERE / tier) for tier in TIERS)]

import airflow_env  # noqa: E402, F401
from postgres_server import postgres_url  # noqa: E402, F401  (session fixtures)
from serving_support import tiny_model  # noqa: E402, F401

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests build their own checkpoints; no hub calls
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its tier (the folder it lives in)."""
    for item in items:
        tier = Path(str(item.fspath)).parent.name
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))
