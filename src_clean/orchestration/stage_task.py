"""One stage task for every DAG: the same argv in-process (local mode) or in a container.

``stage_task`` builds the task of one ``python -m src_clean <argv>`` command for the
pipeline, maintenance and backfill DAGs alike; every mode fails a user error without
retries (``task_policy``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import task

from src_clean.orchestration import runner
from src_clean.orchestration.airflow_lookups import runtime_settings
from src_clean.orchestration.assets import emit, inlets, outlets, written_key
from src_clean.orchestration.task_policy import TaskRejected

if TYPE_CHECKING:
    from src_clean.orchestration.stages import Stage
    from src_clean.settings import Settings


@task
def run_stage(
    argv: Sequence[str],
    written: Sequence[str] = (),
    ti: Any = None,
    outlet_events: Any = None,
) -> None:
    """Run one stage in-process with the task's settings (the environment, then Variables;
    the MLflow URI among them, never in argv: argv is logged and in XCom). A user error
    raises ``TaskRejected``; on success its Asset events carry the tables' version, rows
    and dates (a routed stage names the tables it ``written``)."""
    settings = runtime_settings()
    try:
        runner.run_stage(argv, settings)
    except runner.StageRejected as exc:
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
        from src_clean.orchestration.backfill_tasks import batch_operator

        return batch_operator(argv, **kwargs)
    return run_stage.override(**kwargs)(argv, written)


def planned_stage_task(stage: Stage, plan: Any, settings: Settings, **kwargs: Any) -> Any:
    """The task of one pipeline stage: its argv (and, when routed, the tables it writes)
    from the ``plan`` task's XCom; its outlets, documentation, pool and image from the
    stage registry."""
    kwargs |= {"outlets": outlets(stage), "inlets": inlets(stage), "doc_md": stage.doc_md}
    if stage.pool:
        kwargs["pool"] = stage.pool
    written = plan[written_key(stage.task_id)] if stage.route else ()
    return stage_task(
        stage.task_id,
        plan[stage.task_id],
        settings=settings,
        image_kind=stage.image,
        written=written,
        **kwargs,
    )
