"""Finding raw input files (a file, a local folder, or an ``s3://`` prefix) and reading them.

Also the ingest ledger: which source files a table has already ingested, so scheduled
runs pick up only new files (``--only-new``).
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

from src_clean.aws import filesystem_for
from src_clean.lake import Lake


@dataclass(frozen=True)
class InputFile:
    """One raw file: where it lives and a fingerprint that changes when its content does."""

    uri: str
    path: str
    size: int
    mtime_ns: int

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def is_gzip(self) -> bool:
        return self.path.endswith(".gz")

    @property
    def fingerprint(self) -> str:
        return f"{self.uri}|{self.size}|{self.mtime_ns}"


def _filesystem(location: str) -> tuple[pafs.FileSystem, str, str]:
    """(filesystem, path inside it, uri prefix) for a local path or an ``s3://`` URI.

    S3 settings (custom endpoint included) come from ``src_clean.aws``.
    """
    if "://" in location:
        fs, path = filesystem_for(location)
        scheme = location.split("://", 1)[0]
        return fs, path.rstrip("/"), f"{scheme}://"
    return pafs.LocalFileSystem(), str(Path(location).expanduser().resolve()), ""


def list_input_files(location: str | Path, suffixes: Iterable[str]) -> list[InputFile]:
    """Files under ``location`` (or the file itself) whose name ends with one of ``suffixes``.

    Hidden files and folders (``.name``) are ignored. Sorted by path, so runs are deterministic.
    """
    suffixes = tuple(suffixes)
    fs, base, prefix = _filesystem(str(location))
    info = fs.get_file_info(base)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"input not found: {location}")
    if info.type == pafs.FileType.File:
        infos = [info]
    else:
        infos = fs.get_file_info(pafs.FileSelector(base, recursive=True))
    files = []
    for item in infos:
        rel = item.path[len(base) :] if item.path.startswith(base) else item.path
        if item.type != pafs.FileType.File or any(p.startswith(".") for p in rel.split("/") if p):
            continue
        if not item.base_name.lower().endswith(suffixes):
            continue
        mtime = item.mtime_ns if item.mtime_ns is not None else 0
        files.append(
            InputFile(uri=f"{prefix}{item.path}", path=item.path, size=item.size, mtime_ns=mtime)
        )
    return sorted(files, key=lambda f: f.path)


def read_bytes(file: InputFile) -> bytes:
    """The file's content, gunzipped when it ends in ``.gz``.

    A truncated gzip stream yields what could be decompressed; the damaged tail then fails
    validation line by line (quarantine), never the whole run.
    """
    fs, path, _ = _filesystem(file.uri)
    with fs.open_input_stream(path, compression=None) as src:
        raw = src.read()
    return _gunzip_lenient(raw) if file.is_gzip else raw


def _gunzip_lenient(raw: bytes) -> bytes:
    """Every gzip member of ``raw``, decompressed; a truncated tail yields what was decodable."""
    chunks = []
    while raw:
        decomp = zlib.decompressobj(wbits=31)
        try:
            chunks.append(decomp.decompress(raw))
        except zlib.error:
            break
        if not decomp.eof:
            break
        raw = decomp.unused_data
    return b"".join(chunks)


class IngestLedger:
    """The set of source-file fingerprints a table has ingested, stored in the lake."""

    def __init__(self, lake: Lake, table: str) -> None:
        self.lake = lake
        digest = hashlib.sha1(table.encode()).hexdigest()[:8]
        self.relpath = f"_state/ingested_files/{table.replace('/', '__')}-{digest}.json"

    def load(self) -> set[str]:
        if not self.lake.file_exists(self.relpath):
            return set()
        return set(self.lake.read_json(self.relpath))

    def new_files(self, files: list[InputFile]) -> list[InputFile]:
        seen = self.load()
        return [f for f in files if f.fingerprint not in seen]

    def record(self, files: list[InputFile]) -> None:
        seen = self.load() | {f.fingerprint for f in files}
        self.lake.write_json(self.relpath, sorted(seen))
