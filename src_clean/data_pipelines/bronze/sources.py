"""Finding raw input files (a file, a local folder, or an ``s3://`` prefix) and reading them.

Also the ingest ledger: which source files a table has already ingested, so scheduled
runs pick up only new files (``--only-new``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from src_clean.aws import filesystem_for
from src_clean.data_pipelines.bronze.lines import is_unicode
from src_clean.errors import UserError
from src_clean.lake import Lake
from src_clean.redact import redact

GZIP_MAGIC = b"\x1f\x8b"
GZIP_CHUNK = 64 * 1024


@dataclass(frozen=True)
class InputFile:
    """One raw file: where it lives, a fingerprint that changes with its content, and why it
    cannot be read when listing already showed that (``problem``)."""

    uri: str
    path: str
    size: int
    mtime_ns: int
    problem: str | None = None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def is_gzip(self) -> bool:
        return self.path.lower().endswith(".gz")

    @property
    def fingerprint(self) -> str:
        return f"{self.uri}|{self.size}|{self.mtime_ns}"


@dataclass(frozen=True)
class FileData:
    """What reading one file gave: its bytes (gunzipped), or why there are none.

    ``failure`` is a file-level quarantine reason (``unreadable``, ``not_a_regular_file``,
    ``symlink_loop``, ``broken_link``, ``not_gzip``, ``corrupt_gzip``); ``truncated`` says
    the gzip stream ended early or was followed by garbage: ``data`` then holds what was
    decoded before the damage, and its last line, if unterminated, is a cut record.
    """

    data: bytes = b""
    failure: str | None = None
    detail: str = ""
    truncated: bool = False


def _filesystem(location: str) -> tuple[pafs.FileSystem, str, str]:
    """(filesystem, path inside it, uri prefix) for a local path or an ``s3://`` URI.

    S3 settings (custom endpoint included) come from ``src_clean.aws``; credentials inside
    the URI are refused (``UserError``) before any library can echo them in an error.
    """
    if "://" in location:
        if "@" in urlsplit(location).netloc:
            raise UserError(
                f"credentials inside an input URI are not supported: {redact(location)}",
                "remove user:password@ and use the AWS environment or Airflow's aws_default",
            )
        fs, path = filesystem_for(location)
        scheme = location.split("://", 1)[0]
        return fs, path.rstrip("/"), f"{scheme}://"
    return pafs.LocalFileSystem(), os.path.realpath(Path(location).expanduser()), ""


def landing_fetch_time(file: InputFile) -> str | None:
    """When the acquisition ledger (``.fetch-state/<name>.json`` beside a landing file) says
    ``file`` was fetched; None for a file no fetcher landed."""
    from src_clean.acquisition.landing import STATE_DIR

    folder, name = file.path.rsplit("/", 1)
    fs, _, _ = _filesystem(file.uri)
    try:
        with fs.open_input_stream(f"{folder}/{STATE_DIR}/{name}.json", compression=None) as src:
            state = json.loads(src.read())
    except (OSError, ValueError):
        return None
    fetched = state.get("fetched_at") if isinstance(state, dict) else None
    return fetched if isinstance(fetched, str) else None


def list_input_files(location: str | Path, suffixes: Iterable[str]) -> list[InputFile]:
    """Files under ``location`` (or the file itself) whose name ends with one of ``suffixes``.

    Hidden files and folders (``.name``) are ignored. Sorted by path, so runs are
    deterministic. Local folders are walked without entering a folder twice, so a
    symbolic link loop is reported once (``problem="symlink_loop"``) instead of recursing;
    entries that cannot be examined or are not regular files come back with a
    ``problem`` too, so the ingest can report them. Raises ``FileNotFoundError`` when
    ``location`` does not exist.
    """
    suffixes = tuple(s.lower() for s in suffixes)
    fs, base, prefix = _filesystem(str(location))
    if isinstance(fs, pafs.LocalFileSystem):
        files = _local_files(base, suffixes)
    else:
        files = _remote_files(fs, base, prefix, suffixes)
    return sorted(files, key=lambda f: f.path)


def _remote_files(
    fs: pafs.FileSystem, base: str, prefix: str, suffixes: tuple[str, ...]
) -> list[InputFile]:
    info = fs.get_file_info(base)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"input not found: {prefix}{base}")
    infos = (
        [info]
        if info.type == pafs.FileType.File
        else fs.get_file_info(pafs.FileSelector(base, recursive=True))
    )
    files = []
    for item in infos:
        rel = item.path[len(base) :] if item.path.startswith(base) else item.path
        if item.type != pafs.FileType.File or any(p.startswith(".") for p in rel.split("/") if p):
            continue
        if item.base_name.lower().endswith(suffixes):
            mtime = item.mtime_ns if item.mtime_ns is not None else 0
            files.append(InputFile(f"{prefix}{item.path}", item.path, item.size, mtime))
    return files


def _local_files(base: str, suffixes: tuple[str, ...]) -> list[InputFile]:
    try:
        info = Path(base).stat()
    except FileNotFoundError:
        if not Path(base).is_symlink():
            raise FileNotFoundError(f"input not found: {base}") from None
        return [_problem(base, "broken_link")]
    except OSError as exc:
        return [_problem(base, _os_reason(exc))]
    if not stat.S_ISDIR(info.st_mode):
        return [_local_file(base, info)]
    files: list[InputFile] = []
    _walk(base, suffixes, {(info.st_dev, info.st_ino)}, files)
    return files


def _walk(folder: str, suffixes: tuple[str, ...], seen: set, files: list[InputFile]) -> None:
    """Depth-first walk following links to folders, each folder at most once."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        files.append(_problem(folder, f"unreadable_folder: {_os_reason(exc)}"))
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        wanted = entry.name.lower().endswith(suffixes)
        if not is_unicode(entry.path):  # bytes that are not UTF-8 in the name
            if wanted or entry.is_dir(follow_symlinks=False):
                files.append(_problem(_printable(entry.path), "undecodable_name"))
            continue
        try:
            info = entry.stat()
        except OSError as exc:
            broken = isinstance(exc, FileNotFoundError)
            if wanted or not broken:  # a dangling link to something we would not read: skip
                files.append(_problem(entry.path, "broken_link" if broken else _os_reason(exc)))
            continue
        if stat.S_ISDIR(info.st_mode):
            key = (info.st_dev, info.st_ino)
            if key in seen:
                if entry.is_symlink():
                    files.append(_problem(entry.path, "symlink_loop"))
                continue
            _walk(entry.path, suffixes, seen | {key}, files)
        elif wanted:
            files.append(_local_file(entry.path, info))


def _local_file(path: str, info: os.stat_result) -> InputFile:
    problem = None if stat.S_ISREG(info.st_mode) else "not_a_regular_file"
    return InputFile(path, path, info.st_size, info.st_mtime_ns, problem)


def _printable(path: str) -> str:
    """``path`` with bytes that are not UTF-8 shown as U+FFFD (storable, loggable)."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _problem(path: str, reason: str) -> InputFile:
    return InputFile(path, path, 0, 0, reason)


def _os_reason(exc: OSError) -> str:
    """``symlink_loop`` for ELOOP, else ``unreadable`` with the error's name."""
    if exc.errno == errno.ELOOP:
        return "symlink_loop"
    return f"unreadable: {type(exc).__name__} ({errno.errorcode.get(exc.errno or 0, exc.errno)})"


def read_input(file: InputFile) -> FileData:
    """The file's content, gunzipped when its name ends in ``.gz``; never raises for bad input.

    Special files are refused before they are opened (a FIFO would block the run).
    """
    if file.problem:
        reason, _, detail = file.problem.partition(": ")
        return FileData(failure=reason, detail=detail or file.problem)
    fs, path, _ = _filesystem(file.uri)
    try:
        if isinstance(fs, pafs.LocalFileSystem):
            info = Path(path).stat()
            if not stat.S_ISREG(info.st_mode):
                return FileData(failure="not_a_regular_file", detail=stat.filemode(info.st_mode))
        with fs.open_input_stream(path, compression=None) as src:
            raw = src.read()
    except OSError as exc:
        reason = _os_reason(exc)
        return FileData(failure=reason.partition(":")[0], detail=redact(str(exc)) or reason)
    return gunzip(raw) if file.is_gzip else FileData(raw)


def gunzip(raw: bytes) -> FileData:
    """Every gzip member of ``raw``; a damaged tail keeps what was decoded before it.

    Input is fed to zlib in ``GZIP_CHUNK`` pieces, so corrupt data loses at most the
    output of one piece instead of the whole member.
    """
    if not raw.startswith(GZIP_MAGIC):
        return FileData(failure="not_gzip", detail=f"starts with {raw[:8]!r}")
    chunks: list[bytes] = []
    view, position = memoryview(raw), 0
    while position < len(raw):
        decomp = zlib.decompressobj(wbits=31)
        try:
            while not decomp.eof and position < len(raw):
                piece = view[position : position + GZIP_CHUNK]
                position += len(piece)
                chunks.append(decomp.decompress(piece))
        except zlib.error as exc:
            return _damaged(chunks, f"corrupt gzip data: {exc}")
        if not decomp.eof:
            return _damaged(chunks, "gzip stream ends early (truncated)")
        position -= len(decomp.unused_data)
        if position < len(raw) and not raw.startswith(GZIP_MAGIC, position):
            if raw[position:].strip(b"\0"):
                garbage = len(raw) - position
                return _damaged(chunks, f"{garbage} bytes of garbage after the gzip stream")
            break
    return FileData(b"".join(chunks))


def _damaged(chunks: list[bytes], detail: str) -> FileData:
    data = b"".join(chunks)
    if not data:
        return FileData(failure="corrupt_gzip", detail=detail)
    return FileData(data, detail=detail, truncated=True)


INGEST_LOCK_TIMEOUT_S = 3600.0  # a concurrent ingest waits this long, then fails


class IngestLedger:
    """The set of source-file fingerprints a table has ingested, stored in the lake."""

    def __init__(self, lake: Lake, table: str) -> None:
        self.lake = lake
        digest = hashlib.sha1(table.encode()).hexdigest()[:8]
        self.relpath = f"_state/ingested_files/{table.replace('/', '__')}-{digest}.json"

    def load(self) -> set[str]:
        if not self.lake.files.exists(self.relpath):
            return set()
        return set(self.lake.files.read_json(self.relpath))

    def lock(self) -> contextlib.AbstractContextManager[Any]:
        """Held by an ``--only-new`` ingest from choosing its files to recording them: a
        concurrent one waits, then finds them ingested, so the work (and its row in
        ``monitoring/ingests``) is done once. A file lock beside the ledger in a local lake;
        an object store has none (a no-op: one scheduler runs the daily ingest there)."""
        if not self.lake.is_local:
            return contextlib.nullcontext()
        from filelock import FileLock

        path = self.lake.local_path(self.relpath + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(path), timeout=INGEST_LOCK_TIMEOUT_S)

    def new_files(self, files: list[InputFile]) -> list[InputFile]:
        seen = self.load()
        return [f for f in files if f.fingerprint not in seen]

    def record(self, files: list[InputFile]) -> None:
        seen = self.load() | {f.fingerprint for f in files}
        self.lake.files.write_json(self.relpath, sorted(seen))
