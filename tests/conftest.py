"""Test-session set-up shared by every tier.

``airflow_env`` points AIRFLOW_HOME at a throw-away folder; it must run before any module
imports airflow, because Airflow reads its configuration once, at import.
"""

from __future__ import annotations

import os

import airflow_env  # noqa: F401
from postgres_server import postgres_url  # noqa: F401  (session fixtures)
from serving_support import tiny_model  # noqa: F401

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests build their own checkpoints; no hub calls
os.environ.setdefault("MPLBACKEND", "Agg")
