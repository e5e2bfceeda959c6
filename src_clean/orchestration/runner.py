"""Local execution mode: run a stage's argv in the Airflow worker's own process.

The stage gets everything explicitly: its argv (``--lake``, dates, options) and the
settings it runs with (``settings.current()`` inside it, this call's context only). The
worker's environment is never changed: a long-lived worker runs many tasks.
"""

from __future__ import annotations

import argparse
import logging
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from src_clean import settings
from src_clean.errors import UserError
from src_clean.feature_set import FeatureSet
from src_clean.orchestration.task_policy import retries_help
from src_clean.redact import redact

log = logging.getLogger(__name__)


class StageFailed(RuntimeError):
    """A stage command exited with a non-zero status (retried: it may be transient)."""


class StageRejected(StageFailed, UserError):
    """The stage's inputs are wrong (a UserError, exit 2): retrying cannot help."""

    def __init__(self, message: str) -> None:
        UserError.__init__(self, message)


def stage_settings(values: settings.Settings | Mapping[str, str] | None) -> settings.Settings:
    """The settings a stage runs with: ``values`` themselves (a task's ``runtime_settings``),
    or setting values by their variable name (``{"MLFLOW_TRACKING_URI": ...}``) laid over
    the current ones, or the current ones."""
    if isinstance(values, settings.Settings):
        return values
    current = settings.current()
    return current.with_overrides(values.get, runtime_only=False) if values else current


def _with_tracking_uri(args: argparse.Namespace, uri: str | None) -> argparse.Namespace:
    """A stage that takes ``--mlflow-tracking-uri`` and was given none gets the settings'
    URI as that option's value: the URI may carry credentials, so it is never in argv
    (logged, and stored in the plan's XCom)."""
    if uri and getattr(args, "tracking_uri", uri) is None:
        args.tracking_uri = uri
    return args


def run_stage(
    argv: Sequence[str], values: settings.Settings | Mapping[str, str] | None = None
) -> None:
    """Run ``python -m src_clean <argv>`` in-process; raise unless it exits 0.

    A user error (missing input, model or lake, bad dates) raises StageRejected with its
    one-line message and fix, logged at ERROR in the task's main log; any other failure
    raises StageFailed (or the stage's own exception, with its traceback). The stage runs
    with the settings ``values`` (``stage_settings``): secrets such as the MLflow URI
    travel there, never in argv (argv is logged and stored in the plan's XCom).
    """
    from src_clean import cli

    command = redact(shlex.join(["python", "-m", "src_clean", *argv]))  # shown in task logs
    log.info("running %s", command)
    resolved = stage_settings(values)
    try:
        with settings.using(resolved):
            args = _with_tracking_uri(cli.parse(argv), resolved.mlflow_tracking_uri)
            code = cli.run(args)
    except UserError as exc:
        log.error("%s: %s", argv[0] if argv else "src_clean", exc)
        raise StageRejected(f"{command} failed: {exc}") from None
    except SystemExit as exc:  # argparse reports bad arguments by exiting
        code = exc.code if isinstance(exc.code, int) else 1
    if code != 0 and not retries_help(code):
        raise StageRejected(f"{command} exited with status {code} (a user error)")
    if code != 0:
        raise StageFailed(f"{command} exited with status {code}")


def champion_decision(lake_root: str, variant: str | None = None) -> dict[str, Any]:
    """The champion decision that the last ``train`` of ``variant`` wrote to its summary."""
    from src_clean.lake import Lake

    summary = Lake(lake_root).files.read_json(FeatureSet.from_name(variant).training_summary)
    return {"mlflow_run_id": summary.get("mlflow_run_id"), **summary["champion_decision"]}
