"""The live loop's heartbeat and the health check that reads it.

After every tick, successful or not, the lease holder writes ``_state/live.heartbeat.json``
beside the lake (atomically: a temporary file, then a rename): when, the tick's summary and
how many ticks failed in a row. ``python -m src_clean live --health`` (the compose health
check) exits 0 when the newest heartbeat is younger than ``max_age_s`` and fewer than
``max_failures`` ticks failed in a row, else 1 with the reason on one line. A standby
process waiting for the lease reads the holder's heartbeat: health is the lake's live
service, whichever process holds it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

HEARTBEAT = "_state/live.heartbeat.json"
MAX_AGE_S = 120.0
MAX_FAILURES = 3


def write_heartbeat(path: Path, now: pd.Timestamp, failures: int, summary: str) -> None:
    """Record one tick (atomically: readers see the old or the new heartbeat, never half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"at": now.isoformat(), "failures": failures, "summary": summary, "pid": os.getpid()}
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(body))
    partial.replace(path)


def check(
    path: Path,
    now: pd.Timestamp,
    max_age_s: float = MAX_AGE_S,
    max_failures: int = MAX_FAILURES,
) -> str | None:
    """Why the live service is unhealthy; None when it is healthy."""
    try:
        beat: dict[str, Any] = json.loads(path.read_text())
        at = pd.Timestamp(beat["at"])
        failures = int(beat["failures"])
    except FileNotFoundError:
        return f"no heartbeat at {path}: the live loop has not ticked yet"
    except (ValueError, KeyError, TypeError) as exc:
        return f"unreadable heartbeat {path}: {type(exc).__name__}: {exc}"
    age = (now - at).total_seconds()
    if age > max_age_s:
        limit = f"limit {max_age_s:.0f} s"
        return f"the last tick was {age:.0f} s ago ({limit}): the loop is stuck or down"
    if failures >= max_failures:
        return f"{failures} ticks failed in a row; the last: {beat.get('summary', '')}"
    return None
