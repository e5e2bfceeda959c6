"""Local execution mode: run a stage's argv in the Airflow worker's own process."""

from __future__ import annotations

import logging
import shlex
from collections.abc import Sequence
from typing import Any

from src_clean import tables
from src_clean.redact import redact

log = logging.getLogger(__name__)


class StageFailed(RuntimeError):
    """A stage command exited with a non-zero status."""


def run_stage(argv: Sequence[str]) -> None:
    """Run ``python -m src_clean <argv>`` in-process; raise StageFailed unless it exits 0."""
    from src_clean.cli import main

    command = redact(shlex.join(["python", "-m", "src_clean", *argv]))  # shown in task logs
    log.info("running %s", command)
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse reports bad arguments by exiting
        code = exc.code if isinstance(exc.code, int) else 1
    if code != 0:
        raise StageFailed(f"{command} exited with status {code}")


def champion_decision(lake_root: str) -> dict[str, Any]:
    """The champion decision that the last ``train`` wrote to the training summary."""
    from src_clean.lake import Lake

    summary = Lake(lake_root).read_json(tables.TRAINING_SUMMARY)
    return {"mlflow_run_id": summary.get("mlflow_run_id"), **summary["champion_decision"]}
