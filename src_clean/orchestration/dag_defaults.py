"""Task defaults shared by every DAG of this project (owner, retries with backoff)."""

from __future__ import annotations

import datetime as dt
from typing import Any

OWNER = "sp500-mlops"


def default_args(retry_delay: dt.timedelta = dt.timedelta(minutes=5)) -> dict[str, Any]:
    """Owner and 2 retries whose delay doubles each time, capped at an hour."""
    return {
        "owner": OWNER,
        "retries": 2,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": 2.0,  # a multiplier in Airflow 3.3 (True would mean 1.0)
        "max_retry_delay": dt.timedelta(hours=1),
    }
