"""The DockerOperator of the stage containers (imported only in docker execution mode)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from airflow.providers.docker.exceptions import DockerContainerFailedException
from airflow.providers.docker.operators.docker import DockerOperator

from src_clean.orchestration.assets import emit
from src_clean.orchestration.task_policy import TaskRejected, retries_help

log = logging.getLogger(__name__)
_STATUS = re.compile(r"'StatusCode': (?P<code>-?\d+)")


def user_error_line(logs: list[str | bytes] | None) -> str | None:
    """The ``error: ...`` line a stage prints for a user error (the last one), if any."""
    for line in reversed(logs or []):
        text = line.decode(errors="replace") if isinstance(line, bytes) else line
        if text.strip().startswith("error: "):
            return text.strip()
    return None


class StageDockerOperator(DockerOperator):
    """DockerOperator whose exit status 2 (a stage's user error) is not retried.

    The stage's one-line error (with its fix) is logged at ERROR in the task's main log
    and becomes the task's failure (``TaskRejected``, never retried); other failures keep
    their retries.
    On success a routed stage adds the Asset events of the tables it ``written``.
    """

    template_fields = (*DockerOperator.template_fields, "written")

    def __init__(self, *, written: Sequence[str] | Any = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.written = written

    def execute(self, context: Any) -> Any:
        try:
            result = super().execute(context)
        except DockerContainerFailedException as exc:
            match = _STATUS.search(str(exc))
            if match is None or retries_help(int(match["code"])):
                raise
            line = user_error_line(exc.logs) or "user error (exit status 2); see the log above"
            log.error("%s", line)
            raise TaskRejected(f"{self.task_id}: {line}") from None
        from src_clean.orchestration.airflow_lookups import runtime_settings

        lake_root = runtime_settings().lake_root
        emit(context["outlet_events"], self.task_id, self.written, self.command, lake_root)
        return result
