"""Print the last lines of an Airflow 3 task log answered as JSON (``GET .../logs/{try}``
with ``Accept: application/json``; Airflow 3 serves no ``text/plain``).

``content`` is a list of structured messages (``{"timestamp", "level", "event", ...}``,
an exception in ``error_detail``) or of plain strings; both are printed one per line.

    curl ... -H 'Accept: application/json' | python3 scripts/airflow_log_tail.py 40
"""

from __future__ import annotations

import json
import sys
from typing import Any


def lines(document: Any) -> list[str]:
    """The log's lines: each message's time, level and event, then its exception."""
    content = document.get("content", []) if isinstance(document, dict) else document
    if isinstance(content, str):
        return content.splitlines()
    out = []
    for message in content or []:
        if not isinstance(message, dict):
            out.extend(str(message).splitlines())
            continue
        head = " ".join(
            str(message[k]) for k in ("timestamp", "level") if message.get(k) is not None
        )
        out.append(f"{head} {message.get('event', '')}".strip())
        for error in message.get("error_detail") or []:
            if isinstance(error, dict):
                out.append(f"  {error.get('exc_type', '')}: {error.get('exc_value', '')}")
    return out


def main(argv: list[str]) -> int:
    count = int(argv[1]) if len(argv) > 1 else 40
    raw = sys.stdin.read()
    try:
        document = json.loads(raw)
    except ValueError:
        print(raw[-4000:])  # not JSON (an error page): as it came
        return 0
    print("\n".join(lines(document)[-count:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
