"""Errors a person can act on: one line naming the thing and the fix, exit status 2.

Stages raise ``UserError`` for problems in what they were given (a missing path, a missing
model folder, end before start, a lake without the input table). ``src_clean.cli`` prints
it as one line without a traceback (``--debug`` shows it); anything else is an internal
error and keeps its traceback. Orchestration treats a ``UserError`` as not worth retrying.
"""

from __future__ import annotations

USER_ERROR_EXIT = 2


class OperationalError(Exception):
    """A failure of the world the command runs in (a service out of reach, a table this
    version cannot write to): not a bug, so the CLI says it in one line with ``FIX`` and
    exits 1; ``--debug`` shows the traceback."""

    FIX = "run the same command again once the cause is gone; --debug shows the traceback"


class UserError(Exception):
    """A problem with the command's inputs, not with the code: retrying cannot help."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message}. Fix: {self.fix}" if self.fix else self.message
