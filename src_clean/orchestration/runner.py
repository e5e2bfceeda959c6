"""Local execution mode: run a stage's argv in the Airflow worker's own process."""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Mapping, Sequence
from typing import Any
from unittest import mock

from src_clean.errors import USER_ERROR_EXIT, UserError
from src_clean.feature_set import FeatureSet
from src_clean.redact import redact

log = logging.getLogger(__name__)


class StageFailed(RuntimeError):
    """A stage command exited with a non-zero status (retried: it may be transient)."""


class StageRejected(StageFailed, UserError):
    """The stage's inputs are wrong (a UserError, exit 2): retrying cannot help."""

    def __init__(self, message: str) -> None:
        UserError.__init__(self, message)


def run_stage(argv: Sequence[str], environment: Mapping[str, str] | None = None) -> None:
    """Run ``python -m src_clean <argv>`` in-process; raise unless it exits 0.

    A user error (missing input, model or lake, bad dates) raises StageRejected with its
    one-line message and fix, logged at ERROR in the task's main log; any other failure
    raises StageFailed (or the stage's own exception, with its traceback). ``environment``
    is set for the stage's duration: secrets such as the MLflow URI travel there, never in
    argv (argv is logged and stored in the plan's XCom).
    """
    from src_clean import cli

    command = redact(shlex.join(["python", "-m", "src_clean", *argv]))  # shown in task logs
    log.info("running %s", command)
    try:
        with mock.patch.dict(os.environ, environment or {}):
            code = cli.run(cli.parse(argv))
    except UserError as exc:
        log.error("%s: %s", argv[0] if argv else "src_clean", exc)
        raise StageRejected(f"{command} failed: {exc}") from None
    except SystemExit as exc:  # argparse reports bad arguments by exiting
        code = exc.code if isinstance(exc.code, int) else 1
    if code == USER_ERROR_EXIT:
        raise StageRejected(f"{command} exited with status {code} (a user error)")
    if code != 0:
        raise StageFailed(f"{command} exited with status {code}")


def champion_decision(lake_root: str, variant: str | None = None) -> dict[str, Any]:
    """The champion decision that the last ``train`` of ``variant`` wrote to its summary."""
    from src_clean.lake import Lake

    summary = Lake(lake_root).files.read_json(FeatureSet.from_name(variant).training_summary)
    return {"mlflow_run_id": summary.get("mlflow_run_id"), **summary["champion_decision"]}
