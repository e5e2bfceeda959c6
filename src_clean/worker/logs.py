"""Structured logs: one JSON object per line (``ts``, ``level``, ``event`` and fields)."""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
from typing import Any, TextIO

from src_clean.redact import redact


class JsonLog:
    """Writes events as JSON lines; ``context`` fields (e.g. ``worker_id``) go on every line."""

    def __init__(self, stream: TextIO | None = None, **context: Any) -> None:
        self.stream = stream
        self.context = context
        # Reentrant: a signal handler may log while the main thread is inside ``emit``.
        self._lock = threading.RLock()

    def emit(self, level: str, event: str, **fields: Any) -> None:
        """Write one event; fields whose value is ``None`` are left out."""
        record = {"ts": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")}
        record |= {"level": level, "event": event, **self.context, **fields}
        line = json.dumps({k: v for k, v in record.items() if v is not None}, default=str)
        line = redact(line)  # error messages can quote endpoint URLs with credentials
        with self._lock:
            print(line, file=self.stream or sys.stderr, flush=True)

    def info(self, event: str, **fields: Any) -> None:
        self.emit("INFO", event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.emit("WARNING", event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self.emit("ERROR", event, **fields)
