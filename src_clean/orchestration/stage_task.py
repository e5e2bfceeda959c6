"""One stage task for every DAG: the same argv in-process (local mode) or in a container.

``stage_task`` builds the task of one ``python -m src_clean <argv>`` command for the
pipeline, maintenance and backfill DAGs alike, and ``default_args`` gives every task the
same retry policy (``retry_policy``): a user error (exit status 2: a missing input, lake
table or model, bad dates) fails the task at once, with its one-line message and fix as
the failure reason and no traceback; anything else retries with exponential backoff.

The failure reason: a user error leaves the task as ``TaskRejected``, a ``SystemExit``
whose code is the one-line message. Airflow's task runner logs a ``SystemExit`` as
``Task exited`` with that code, and no traceback, where any other exception (even
``AirflowFailException``) gets the runner's full traceback around it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import task

if TYPE_CHECKING:
    from airflow.sdk.definitions.retry_policy import ExceptionRetryPolicy

    from src_clean.settings import Settings

OWNER = "sp500-mlops"


class TaskRejected(SystemExit):
    """A stage's user error in a task: the one-line message is the failure, not retried."""


def retry_policy() -> ExceptionRetryPolicy:
    """User errors fail fast; every other failure takes the task's retries."""
    from airflow.sdk.definitions.retry_policy import ExceptionRetryPolicy, RetryAction, RetryRule

    return ExceptionRetryPolicy(
        rules=[
            RetryRule(
                exception=TaskRejected,
                action=RetryAction.FAIL,
                reason="a user error (exit status 2): retrying cannot help",
            )
        ]
    )


def default_args(retry_delay: dt.timedelta = dt.timedelta(minutes=5)) -> dict[str, Any]:
    """Every task's defaults: owner, 2 retries whose delay doubles up to an hour, and the
    retry policy that never retries a user error."""
    return {
        "owner": OWNER,
        "retries": 2,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": 2.0,  # a multiplier in Airflow 3.3 (True would mean 1.0)
        "max_retry_delay": dt.timedelta(hours=1),
        "retry_policy": retry_policy(),
    }


@task
def run_stage(
    argv: Sequence[str],
    written: Sequence[str] = (),
    ti: Any = None,
    outlet_events: Any = None,
) -> None:
    """Run one stage in-process (the MLflow URI by environment: argv is logged and in
    XCom). A user error raises ``TaskRejected``; on success its Asset events carry the
    tables' version, rows and dates (a routed stage names the tables it ``written``)."""
    from src_clean.orchestration.assets import emit
    from src_clean.orchestration.runner import StageRejected
    from src_clean.orchestration.runner import run_stage as run
    from src_clean.orchestration.airflow_lookups import runtime_settings

    settings = runtime_settings()
    uri = settings.mlflow_tracking_uri
    try:
        run(argv, {"MLFLOW_TRACKING_URI": uri} if uri else None)
    except StageRejected as exc:
        raise TaskRejected(str(exc)) from None
    emit(outlet_events, ti.task_id, written, argv, settings.lake_root)


def stage_task(
    task_id: str,
    argv: Sequence[str] | Any,
    *,
    settings: Settings,
    image_kind: str = "etl",
    execution: str | None = None,
    written: Sequence[str] | Any = (),
    **kwargs: Any,
) -> Any:
    """The task running ``argv`` (a list, or an XComArg resolved at run time): in-process
    in local mode, the ``image_kind`` image in docker mode, an AWS Batch job in batch mode
    (``execution``, default ``settings.execution``)."""
    execution = execution or settings.execution
    kwargs["task_id"] = task_id
    if execution == "docker":
        from src_clean.orchestration.docker import stage_operator

        return stage_operator(
            argv=argv, image_kind=image_kind, settings=settings, written=written, **kwargs
        )
    if execution == "batch":
        from src_clean.backfill.airflow_side import batch_operator

        return batch_operator(argv, **kwargs)
    return run_stage.override(**kwargs)(argv, written)
