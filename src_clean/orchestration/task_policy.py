"""Every task's error and retry policy, for the in-process and the docker stage task alike.

A user error (exit status 2: a missing input, lake table or model, bad dates) fails the
task at once, with its one-line message and fix as the failure reason and no traceback;
anything else retries with exponential backoff (``default_args``).

The failure reason: a user error leaves the task as ``TaskRejected``, a ``SystemExit``
whose code is the one-line message. Airflow's task runner logs a ``SystemExit`` as
``Task exited`` with that code, and no traceback, where any other exception (even
``AirflowFailException``) gets the runner's full traceback around it.

This module imports no other module of ``orchestration``: the stage tasks import it, never
the other way round. Airflow is imported inside ``retry_policy`` only.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from src_clean.errors import USER_ERROR_EXIT

if TYPE_CHECKING:
    from airflow.sdk.definitions.retry_policy import ExceptionRetryPolicy

OWNER = "sp500-mlops"


class TaskRejected(SystemExit):
    """A stage's user error in a task: the one-line message is the failure, not retried."""


def retries_help(exit_status: int) -> bool:
    """Whether a stage that exited with ``exit_status`` may succeed on a retry: not after a
    user error (exit status 2), which fails its task as ``TaskRejected``."""
    return exit_status != USER_ERROR_EXIT


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
