"""Landing folders: atomic per-day files, and the fetch state that makes reruns resumable.

A landing folder is a local path or an ``s3://`` prefix. Every UTC day is one file, written
whole: under a hidden temporary name then renamed (local), or in one upload (S3, atomic per
object). A reader such as bronze sees the old file or the new one, never a part of either.

Beside the files, the hidden folder ``.fetch-state/`` (the bronze readers skip hidden names)
holds one JSON per file: when it was fetched, how many records it has and whether it is
final (fetched after the day closed and nothing in it still changing). Final days are
skipped unless a refetch is asked for. The state is written after the file, so a kill in
between costs a refetch, never a day marked done that is not there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gzip
import json
import logging
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from src_clean.aws import filesystem_for
from src_clean.errors import UserError

STATE_DIR = ".fetch-state"
DAY_LOCK_TIMEOUT_S = 3600.0  # a concurrent fetch of the same day waits at most this long
ONE_DAY = dt.timedelta(days=1)


log = logging.getLogger(__name__)


def utc_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every date from ``start`` to ``end``, both inclusive."""
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


def fetch_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """The UTC days ``start..end`` to fetch; ``UserError`` if reversed or ending after today."""
    today = dt.datetime.now(dt.UTC).date()
    if end < start:
        raise UserError(f"--end {end} is before --start {start}")
    if end > today:
        raise UserError(f"--end {end} is in the future (today is {today} UTC)")
    return utc_days(start, end)


def day_start(day: dt.date) -> dt.datetime:
    """Midnight UTC at the start of ``day``."""
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def ndjson(records: Iterable[Any]) -> bytes:
    """One compact JSON document per line, each line ending in a newline."""
    return b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in records)


def jsonl_gz(records: Iterable[Any]) -> bytes:
    """``ndjson`` gzipped (mtime 0, so equal content gives equal bytes)."""
    return gzip.compress(ndjson(records), mtime=0)


def read_jsonl_gz(data: bytes) -> list[Any]:
    return [json.loads(line) for line in gzip.decompress(data).splitlines() if line.strip()]


@dataclasses.dataclass(frozen=True)
class DayState:
    """What the last fetch of one day file found."""

    fetched_at: str
    records: int
    final: bool
    note: str = ""


class Landing:
    """A landing folder (local or ``s3://``) of per-day files and their fetch state."""

    def __init__(self, location: str | Path) -> None:
        location = str(location)
        if "://" in location:
            self.fs, self.root = filesystem_for(location)
            self.local = False
        else:
            self.fs = pafs.LocalFileSystem()
            self.root = str(Path(location).expanduser().resolve())
            self.local = True
        self.location = location

    def uri(self, name: str) -> str:
        return f"{self.location.rstrip('/')}/{name}"

    def _path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def write(self, name: str, data: bytes) -> None:
        """Replace ``name`` with ``data`` atomically."""
        target = self._path(name)
        folder = target.rsplit("/", 1)[0]
        if not self.local:  # S3 has no folders to make
            with self.fs.open_output_stream(target, compression=None) as sink:
                sink.write(data)
            return
        self.fs.create_dir(folder, recursive=True)
        tmp = f"{folder}/.tmp-{uuid.uuid4().hex}-{target.rsplit('/', 1)[1]}"
        try:
            with self.fs.open_output_stream(tmp, compression=None) as sink:
                sink.write(data)
            self.fs.move(tmp, target)
        finally:
            if self.fs.get_file_info(tmp).type != pafs.FileType.NotFound:
                self.fs.delete_file(tmp)

    def read(self, name: str) -> bytes | None:
        """The content of ``name``, or ``None`` when there is no such file."""
        if not self.exists(name):
            return None
        with self.fs.open_input_stream(self._path(name), compression=None) as src:
            return src.read()

    def exists(self, name: str) -> bool:
        return self.fs.get_file_info(self._path(name)).type == pafs.FileType.File

    def state(self, name: str) -> DayState | None:
        """The recorded state of ``name``; None when there is none or it is damaged (a
        truncated or foreign file): the file is then fetched again, and the log says so."""
        path = f"{STATE_DIR}/{name}.json"
        data = self.read(path)
        if data is None:
            return None
        try:
            return DayState(**json.loads(data))
        except (ValueError, TypeError) as exc:
            log.warning("landing state %s is damaged (%s): %s is fetched again", path, exc, name)
            return None

    def record(self, name: str, state: DayState) -> None:
        self.write(f"{STATE_DIR}/{name}.json", json.dumps(dataclasses.asdict(state)).encode())

    def day_lock(self, name: str) -> contextlib.AbstractContextManager[Any]:
        """A lock on fetching ``name`` (a file lock in ``.fetch-state/`` for a local
        landing): two concurrent fetches of one day do the work once, the second waits and
        then finds the day done. An object store has no such lock (a no-op)."""
        if not self.local:
            return contextlib.nullcontext()
        from filelock import FileLock

        folder = Path(self._path(STATE_DIR))
        folder.mkdir(parents=True, exist_ok=True)
        return FileLock(str(folder / f"{name}.lock"), timeout=DAY_LOCK_TIMEOUT_S)

    def is_final(self, name: str) -> bool:
        """True when ``name`` was fetched final and is still there."""
        state = self.state(name)
        return state is not None and state.final and self.exists(name)

    def save_day(self, name: str, data: bytes, records: int, final: bool, note: str = "") -> None:
        """Write a day file, then its state (fetched now)."""
        self.write(name, data)
        fetched_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self.record(name, DayState(fetched_at, records, final, note))
