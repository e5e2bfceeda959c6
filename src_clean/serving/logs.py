"""One structured JSON line per request (structlog), and nothing secret in it.

Fields: ``event="request"``, request id, method, route template, status, latency_ms and,
where the endpoint sets them, batch size and label. Headers, bodies and query strings
are never logged, so neither is an API key.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

LOGGER_NAME = "src_clean.serving.access"


def configure_logging(stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """Render structlog events as JSON lines with an ISO UTC timestamp."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stdout),
        cache_logger_on_first_use=False,
    )


def access_logger() -> Any:
    return structlog.get_logger(LOGGER_NAME)
