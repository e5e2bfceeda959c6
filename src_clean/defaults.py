"""Defaults shared by the stage CLIs, the settings model, the DAGs and the service (stdlib
only: the DAGs import this when they are parsed).

Each default is written here once; the feature-spec defaults (news window 60 minutes, label
horizon 30 minutes) are ``tables.CANONICAL_WINDOW`` / ``tables.CANONICAL_HORIZON``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from src_clean.errors import UserError

DEFAULT_SENTIMENT_MODEL = "ProsusAI/finbert"
DEFAULT_LAKE_ROOT = "data_clean"
DEFAULT_REGISTERED_MODEL = "sp500-news-xgb"
# How a sentiment checkpoint runs: torch (fp32/bf16/fp16) or ONNX Runtime (onnx*); auto picks.
# the trading hours a market source keeps (SP500_MARKET_HOURS; market_sessions.py)
MarketHours = Literal["auto", "full", "cash"]
Precision = Literal["auto", "fp32", "bf16", "fp16", "onnx", "onnx-fp32", "onnx-int8"]


def tracking_uri(lake_root: str, explicit: str | None = None) -> str:
    """The MLflow tracking URI of everything that reads or writes the registry (train, the
    pipeline, the service): ``explicit``, else ``$MLFLOW_TRACKING_URI``, else a SQLite
    store in a local lake (``sqlite:///<lake>/mlflow.db``). An ``s3://`` lake has no place
    for one: UserError."""
    uri = explicit or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    if lake_root.startswith("s3://"):
        raise UserError(
            f"the lake {lake_root} is not local and no MLflow tracking URI is set",
            "pass --mlflow-tracking-uri or set MLFLOW_TRACKING_URI",
        )
    return f"sqlite:///{Path(lake_root).resolve() / 'mlflow.db'}"
