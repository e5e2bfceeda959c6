"""What the ``sp500_sentiment_backfill`` DAG runs: plan the shards, build their argv, summarize.

Every shard runs the same ``backfill-shard`` argv in all three execution modes: in the
Airflow worker's process (``local``), as the ``command`` of the ETL image (``docker``), or
as the ``command`` container override of an AWS Batch job (``batch``; the job definition
uses the ETL image, whose entrypoint is ``python -m src_clean``). ``plan`` and
``summarize`` are the bodies of the DAG's tasks of those names. Nothing heavy is imported
at module level: the DAG file imports this module when it is parsed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from src_clean.backfill.config import DEFAULT_CHECKPOINT_EVERY, ExecutionMode, ShardUnit
from src_clean.backfill.config import SHARD_UNITS as SHARD_UNITS
from src_clean.backfill.config import execution_mode as execution_mode
from src_clean.backfill.config import shard_concurrency as shard_concurrency
from src_clean.orchestration.airflow_lookups import runtime_settings
from src_clean.settings import Settings

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.operators.batch import BatchOperator

    from src_clean.backfill.shards import Shard

BATCH_JOB_QUEUE = "{{ var.value.sp500_batch_job_queue }}"
BATCH_JOB_DEFINITION = "{{ var.value.sp500_batch_job_definition }}"
# Batch job names allow letters, digits, - and _ (no run id: it holds ':' and '+').
BATCH_JOB_NAME = "sp500-sentiment-backfill-{{ ti.map_index }}"


@dataclasses.dataclass(frozen=True)
class BackfillParams:
    """The DAG's trigger-form parameters; the defaults are the DAG's Param defaults."""

    start: str | None = None
    end: str | None = None
    sentiment_model: str | None = None
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY
    shard: ShardUnit = "month"

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> BackfillParams:
        """The known keys of a run's ``params`` (anything else is ignored)."""
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in params.items() if key in names})

    def dates(self) -> tuple[dt.date, dt.date]:
        if not (self.start and self.end):
            raise ValueError("a backfill needs both `start` and `end` (UTC dates, inclusive)")
        return dt.date.fromisoformat(self.start), dt.date.fromisoformat(self.end)


def check_lake_reachable(settings: Settings, execution: ExecutionMode) -> None:
    """Raise ValueError when the shards could not see the lake in this execution mode."""
    if execution == "docker":
        settings.model_copy(update={"execution": "docker"}).validate()
    if execution == "batch" and not settings.lake_root.startswith("s3://"):
        raise ValueError(
            f"SP500_LAKE_ROOT={settings.lake_root!r}: AWS Batch shards need an s3:// lake"
        )


def shard_argv(shard: Shard, run_id: str, params: BackfillParams, settings: Settings) -> list[str]:
    """The ``backfill-shard`` argv of one shard."""
    return [
        "backfill-shard",
        "--lake",
        settings.lake_root,
        "--run-id",
        run_id,
        "--shard-id",
        shard.shard_id,
        "--start",
        shard.start.isoformat(),
        "--end",
        shard.end.isoformat(),
        "--sentiment-model",
        params.sentiment_model or settings.sentiment_model,
        "--checkpoint-every",
        str(params.checkpoint_every),
        *(["--demo-fallback"] if settings.demo_fallback else []),
        "--no-progress",  # task logs are not a terminal
    ]


def plan_run(
    params: BackfillParams, run_id: str, settings: Settings, execution: ExecutionMode
) -> list[list[str]]:
    """Write the run's shard manifest; the argv of every shard that has articles."""
    from src_clean.backfill.shards import plan_backfill
    from src_clean.lake import Lake

    check_lake_reachable(settings, execution)
    start, end = params.dates()
    shards = plan_backfill(Lake(settings.lake_root), run_id, start, end, params.shard)
    return [shard_argv(shard, run_id, params, settings) for shard in shards if shard.n_articles]


def summarize_run(lake_root: str, run_id: str) -> dict[str, Any]:
    """Refresh the manifest with the shards' checkpoint statuses; counts by status."""
    from src_clean.backfill.shards import refresh_manifest
    from src_clean.lake import Lake

    shards = refresh_manifest(Lake(lake_root), run_id)
    return {
        "shards": len(shards),
        "articles": sum(shard.n_articles for shard in shards),
        "status": dict(Counter(shard.status for shard in shards)),
    }


def plan(
    execution: ExecutionMode, params: Mapping[str, Any] | None = None, run_id: str | None = None
) -> list[list[str]]:
    """Cut start..end into shards, write the shard manifest, one argv per shard."""
    backfill = BackfillParams.from_params(params or {})
    return plan_run(backfill, run_id, runtime_settings(), execution)


def summarize(run_id: str | None = None) -> dict[str, Any]:
    """Write each shard's final checkpoint status into the shard manifest."""
    return summarize_run(runtime_settings().lake_root, run_id)


def batch_operator(argv: Sequence[str] | Any, **operator_kwargs: Any) -> BatchOperator:
    """An AWS Batch job running ``argv`` (a list or an XCom/mapped value) in the ETL image.

    Queue and job definition come from the Airflow Variables ``sp500_batch_job_queue`` and
    ``sp500_batch_job_definition``, as templates: resolved when the task runs, not parsed.
    """
    from airflow.providers.amazon.aws.operators.batch import BatchOperator

    return BatchOperator(
        job_name=BATCH_JOB_NAME,
        job_queue=BATCH_JOB_QUEUE,
        job_definition=BATCH_JOB_DEFINITION,
        container_overrides={"command": argv},
        awslogs_enabled=True,
        **operator_kwargs,
    )
