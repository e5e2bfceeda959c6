"""Where a backfill run keeps its state in the lake, and JSON-lines files there.

``_state/backfill/<run_id>/``:
  ``shards.jsonl``                    the shard manifest (one shard per line)
  ``<shard_id>.checkpoint.json``      a shard's progress, rewritten after every chunk
  ``<shard_id>.failures.jsonl``       the articles the scorer failed on, one per line

Every file is replaced whole and atomically (the lake writes a temporary file and renames
it, or does one PUT on S3), so a killed writer leaves the previous version, never half a
file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from src_clean.lake import Lake

STATE_ROOT = "_state/backfill"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:+-]*$")


def checked_name(kind: str, name: str) -> str:
    """``name`` if it is safe as one path segment (Airflow run ids are); else ValueError."""
    if not _SAFE_NAME.fullmatch(name):
        raise ValueError(f"{kind} {name!r} must be letters, digits and _ . : + - only")
    return name


def run_dir(run_id: str) -> str:
    return f"{STATE_ROOT}/{checked_name('run id', run_id)}"


def manifest_path(run_id: str) -> str:
    return f"{run_dir(run_id)}/shards.jsonl"


def checkpoint_path(run_id: str, shard_id: str) -> str:
    return f"{run_dir(run_id)}/{checked_name('shard id', shard_id)}.checkpoint.json"


def failures_path(run_id: str, shard_id: str) -> str:
    return f"{run_dir(run_id)}/{checked_name('shard id', shard_id)}.failures.jsonl"


def jsonl_text(records: Iterable[Mapping[str, Any]]) -> str:
    """One JSON object per line (keys sorted), newline-terminated."""
    return "".join(json.dumps(dict(r), sort_keys=True, default=str) + "\n" for r in records)


def write_jsonl(lake: Lake, relpath: str, records: Iterable[Mapping[str, Any]]) -> None:
    """Replace ``relpath`` with one JSON object per line, atomically."""
    lake.files.write_text(relpath, jsonl_text(records))


def read_jsonl(lake: Lake, relpath: str) -> list[dict[str, Any]]:
    """The records of ``relpath``; empty when the file does not exist."""
    if not lake.files.exists(relpath):
        return []
    with lake.fs.open_input_stream(lake.path(relpath)) as src:
        lines = src.read().decode().splitlines()
    return [json.loads(line) for line in lines if line.strip()]
