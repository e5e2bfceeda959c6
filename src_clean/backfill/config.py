"""Defaults and names shared by the backfill CLI, runner and DAG (stdlib only: cheap to import)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal, get_args

DEFAULT_RUN_ID = "manual"
DEFAULT_CHECKPOINT_EVERY = 500
ShardUnit = Literal["month", "day"]
SHARD_UNITS: tuple[ShardUnit, ...] = get_args(ShardUnit)
ExecutionMode = Literal["local", "docker", "batch"]
EXECUTION_MODES: tuple[ExecutionMode, ...] = get_args(ExecutionMode)
EXECUTION_ENV = "SP500_BACKFILL_EXECUTION"
PIPELINE_EXECUTION_ENV = "SP500_EXECUTION"
CONCURRENCY_ENV = "SP500_BACKFILL_CONCURRENCY"
DEFAULT_CONCURRENCY = 2


def execution_mode(env: Mapping[str, str] | None = None) -> ExecutionMode:
    """Where shards run: ``local``, ``docker`` or ``batch``.

    ``SP500_BACKFILL_EXECUTION`` overrides the pipeline's ``SP500_EXECUTION`` (``local`` or
    ``docker``) for the backfill, the only DAG that can also run on AWS Batch.
    """
    env = os.environ if env is None else env
    mode = env.get(EXECUTION_ENV) or env.get(PIPELINE_EXECUTION_ENV) or "local"
    if mode not in EXECUTION_MODES:
        raise ValueError(f"{EXECUTION_ENV}={mode!r}; expected one of {EXECUTION_MODES}")
    return mode


def shard_concurrency(env: Mapping[str, str] | None = None) -> int:
    """How many shards of one run score at once: ``SP500_BACKFILL_CONCURRENCY`` (default 2)."""
    env = os.environ if env is None else env
    value = int(env.get(CONCURRENCY_ENV, DEFAULT_CONCURRENCY))
    if value < 1:
        raise ValueError(f"{CONCURRENCY_ENV} must be at least 1, got {value}")
    return value
