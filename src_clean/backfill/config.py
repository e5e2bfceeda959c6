"""Defaults and names shared by the backfill CLI, runner and DAG (cheap to import).

Its environment settings live in the one settings model, ``src_clean.settings``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

from src_clean.settings import Settings

DEFAULT_RUN_ID = "manual"
DEFAULT_CHECKPOINT_EVERY = 500
ShardUnit = Literal["month", "day"]
SHARD_UNITS: tuple[ShardUnit, ...] = get_args(ShardUnit)
ExecutionMode = Literal["local", "docker", "batch"]


def execution_mode(env: Mapping[str, str] | None = None) -> ExecutionMode:
    """Where shards run: ``local``, ``docker`` or ``batch``.

    ``SP500_BACKFILL_EXECUTION`` overrides the pipeline's ``SP500_EXECUTION`` (``local`` or
    ``docker``) for the backfill, the only DAG that can also run on AWS Batch.
    """
    return Settings.from_env(env).backfill_mode


def shard_concurrency(env: Mapping[str, str] | None = None) -> int:
    """How many shards of one run score at once: ``SP500_BACKFILL_CONCURRENCY`` (default 2)."""
    return Settings.from_env(env).backfill_concurrency
