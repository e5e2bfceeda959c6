"""Logging for the command lines: one format, and credentials redacted from every record.

``configure_logging`` sets up the root logger (if nothing has yet) and puts a
``RedactFilter`` on every root handler, so a URI with a password (an MLflow tracking URI,
an S3 endpoint, a database URL) is masked in messages, arguments and tracebacks alike,
whichever module logged it. Inside Airflow the handlers are Airflow's; the filter is
added to them too.
"""

from __future__ import annotations

import logging
import os
import traceback

from src_clean.redact import redact

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Progress bars third parties draw on stderr, which an Airflow task logs as errors: off in
# our processes unless the user set them (a bar is no log line).
QUIET_PROGRESS = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


class RedactFilter(logging.Filter):
    """Rewrites each record with ``redact`` applied to its message and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = redact(text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def configure_logging(verbose: bool = False, fmt: str = LOG_FORMAT) -> None:
    """Root logging at INFO (DEBUG with ``verbose``), every root handler redacting, and
    third-party progress bars off (``QUIET_PROGRESS``, where the user set nothing)."""
    for key, value in QUIET_PROGRESS.items():
        os.environ.setdefault(key, value)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=fmt)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactFilter) for f in handler.filters):
            handler.addFilter(RedactFilter())
