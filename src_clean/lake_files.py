"""Side files of a lake: the small documents beside its Delta tables (``lake.files``).

``_features.json``, the sentiment model registry, reports, ledgers and checkpoints are whole
files, not tables: each write replaces the file atomically (readers see the old file or the
new one, never a part), on a local folder or an object store alike. Files whose name
starts with ``_`` are never vacuumed by ``lake-maintain``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.fs as pafs

from src_clean.timestamps import normalize_timestamps

if TYPE_CHECKING:
    import pandas as pd


class LakeFiles:
    """Atomic whole-file reads and writes under a lake's root (paths relative to it).

    ``path`` maps a relative path to the filesystem's; ``local`` says whether the
    filesystem can rename (a local folder) or publishes an upload whole (an object store).
    """

    def __init__(self, fs: pafs.FileSystem, path: Callable[[str], str], *, local: bool) -> None:
        self._fs = fs
        self._path = path
        self._local = local

    def read_json(self, relpath: str) -> Any:
        with self._fs.open_input_stream(self._path(relpath)) as src:
            return json.loads(src.read().decode())

    def read_text(self, relpath: str) -> str:
        with self._fs.open_input_stream(self._path(relpath)) as src:
            return src.read().decode()

    def write_json(self, relpath: str, obj: Any) -> str:
        """Write a JSON document atomically (sorted keys: reruns write the same bytes)."""
        return self.write_text(relpath, json.dumps(obj, indent=2, sort_keys=True, default=str))

    def write_text(self, relpath: str, text: str) -> str:
        """Write a UTF-8 text file atomically."""
        return self._write(relpath, text.encode())

    def write_bytes(self, relpath: str, data: bytes) -> str:
        """Write a binary file (a PNG figure) atomically."""
        return self._write(relpath, data)

    def write_parquet(self, relpath: str, df: pd.DataFrame) -> str:
        """Write ``df`` as one Parquet file (zstd) at ``relpath``, atomically."""
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(normalize_timestamps(df), preserve_index=False)
        buffer = pa.BufferOutputStream()
        pq.write_table(table, buffer, compression="zstd")
        return self._write(relpath, buffer.getvalue())

    def exists(self, relpath: str) -> bool:
        return self._fs.get_file_info(self._path(relpath)).type == pafs.FileType.File

    def list(self, folder: str) -> list[str]:
        """Paths (relative to the lake) of the files directly in ``folder``, sorted."""
        selector = pafs.FileSelector(self._path(folder), allow_not_found=True)
        infos = self._fs.get_file_info(selector)
        names = sorted(i.base_name for i in infos if i.type == pafs.FileType.File)
        return [f"{folder.rstrip('/')}/{name}" for name in names]

    def _write(self, relpath: str, payload: bytes | pa.Buffer) -> str:
        """Readers never see a partial file: local writes go through a temporary file and
        a rename; an object-store upload becomes visible whole when it completes."""
        target = self._path(relpath)
        if not self._local:
            with self._fs.open_output_stream(target) as sink:
                sink.write(payload)
            return target
        folder = target.rsplit("/", 1)[0]
        self._fs.create_dir(folder, recursive=True)
        tmp = f"{folder}/.tmp-{uuid.uuid4().hex}{Path(target).suffix}"
        try:
            with self._fs.open_output_stream(tmp) as sink:
                sink.write(payload)
            self._fs.move(tmp, target)
        finally:
            if self._fs.get_file_info(tmp).type != pafs.FileType.NotFound:
                self._fs.delete_file(tmp)
        return target
