"""Partitioned Parquet tables under a lake root (local folder or ``s3://bucket/prefix``).

Every table is a folder of hive-style partitions ``date=YYYY-MM-DD`` holding exactly one
file, ``part-0.parquet``. Writers replace whole partitions atomically, so a reader sees
either the old or the new partition, never half of one: on a local disk the new file is
written under a temporary name next to the target and then renamed over it; on S3 a
upload is already atomic per object (and strongly read-after-write consistent), so
the object is written in place: a rename there would be a copy plus a delete.

S3 credentials, region and endpoint come from ``src_clean.aws`` (the standard AWS
environment, ``AWS_ENDPOINT_URL`` included, or Airflow's ``aws_default`` connection).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from src_clean.aws import filesystem_for

PARTITION_FILE = "part-0.parquet"
DEFAULT_LAKE_ROOT = "data_clean"
UTC_NS = pd.DatetimeTZDtype("ns", "UTC")
NS_PER_DAY = 86_400 * 10**9


def _to_date(value: dt.date | str | pd.Timestamp) -> dt.date:
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def normalize_timestamps(df: pd.DataFrame) -> pd.DataFrame:
    """Cast every datetime column to ``datetime64[ns, UTC]`` so partitions share one schema."""
    out = df
    for col in df.columns:
        dtype = df[col].dtype
        if dtype == UTC_NS:
            continue
        if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
            series = df[col]
            if series.dt.tz is None:
                series = series.dt.tz_localize("UTC")
            if out is df:
                out = df.copy()
            out[col] = series.dt.tz_convert("UTC").astype(UTC_NS)
    return out


@dataclass(frozen=True)
class UpsertResult:
    """What an upsert did: rows in the new data, rows they replaced, partitions touched."""

    rows_in: int
    rows_replaced: int
    partitions: tuple[str, ...]


class Lake:
    """A lake root with atomic, partition-scoped Parquet reads and writes."""

    def __init__(self, root: str | os.PathLike[str] = DEFAULT_LAKE_ROOT) -> None:
        root_str = str(root)
        if "://" in root_str:
            self.fs, base = filesystem_for(root_str)
        else:
            self.fs = pafs.LocalFileSystem()
            base = str(Path(root_str).expanduser().resolve())
        self.root = root_str
        self._base = base.rstrip("/")

    def __repr__(self) -> str:
        return f"Lake({self.root!r})"

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, *parts: str) -> str:
        """Absolute path (in this lake's filesystem) of ``parts`` under the root."""
        return "/".join([self._base, *[p.strip("/") for p in parts if p]])

    def local_path(self, *parts: str) -> Path:
        """A ``Path`` for local lakes; raises for object stores."""
        if not self.is_local:
            raise ValueError(f"{self.root} is not a local lake")
        return Path(self.path(*parts))

    # -- partitions -----------------------------------------------------------------

    def partition_path(self, table: str, day: dt.date | str) -> str:
        return self.path(table, f"date={_to_date(day).isoformat()}", PARTITION_FILE)

    def partitions(self, table: str) -> list[dt.date]:
        """Dates of the partitions present in ``table``, sorted."""
        selector = pafs.FileSelector(self.path(table), allow_not_found=True)
        days = []
        for info in self.fs.get_file_info(selector):
            name = info.base_name
            if info.type == pafs.FileType.Directory and name.startswith("date="):
                days.append(dt.date.fromisoformat(name[len("date=") :]))
        return sorted(days)

    def exists(self, table: str) -> bool:
        return bool(self.partitions(table))

    def write_partition(self, table: str, day: dt.date | str, df: pd.DataFrame) -> str:
        """Replace one partition with ``df`` atomically."""
        return self._write_parquet_at(self.partition_path(table, day), df)

    def write_parquet(self, relpath: str, df: pd.DataFrame) -> str:
        """Write ``df`` as one Parquet file at ``relpath`` under the root, atomically."""
        return self._write_parquet_at(self.path(relpath), df)

    def _write_parquet_at(self, target: str, df: pd.DataFrame) -> str:
        table_pa = pa.Table.from_pandas(
            normalize_timestamps(df).reset_index(drop=True), preserve_index=False, nthreads=1
        )
        buffer = pa.BufferOutputStream()
        pq.write_table(table_pa, buffer, compression="zstd")
        self._write_atomically(target, buffer.getvalue())
        return target

    def _write_atomically(self, target: str, payload: bytes | pa.Buffer) -> None:
        """Write ``payload`` to ``target`` so that readers never see a partial file.

        The payload is serialized before anything is written. Local: a temporary file in
        the same folder, then a rename. Object stores: written in place; an upload (one PUT,
        or a multipart upload for large files) becomes visible whole, when it completes.
        """
        if not self.is_local:
            with self.fs.open_output_stream(target) as sink:
                sink.write(payload)
            return
        folder = target.rsplit("/", 1)[0]
        self.fs.create_dir(folder, recursive=True)
        tmp = f"{folder}/.tmp-{uuid.uuid4().hex}{Path(target).suffix}"
        with self.fs.open_output_stream(tmp) as sink:
            sink.write(payload)
        self.fs.move(tmp, target)

    def delete_partition(self, table: str, day: dt.date | str) -> None:
        folder = self.partition_path(table, day).rsplit("/", 1)[0]
        if self.fs.get_file_info(folder).type != pafs.FileType.NotFound:
            self.fs.delete_dir(folder)

    def write_partitioned(self, table: str, df: pd.DataFrame, date_column: str) -> list[str]:
        """Replace every partition that ``df`` has rows for (by the UTC date of ``date_column``)."""
        written = []
        for day, part in _split_by_day(normalize_timestamps(df), date_column):
            self.write_partition(table, day, part)
            written.append(str(day))
        return written

    def upsert_partitioned(
        self,
        table: str,
        df: pd.DataFrame,
        *,
        date_column: str,
        key_columns: Sequence[str],
        sort_columns: Sequence[str] | None = None,
        keep_existing: Sequence[str] = (),
    ) -> UpsertResult:
        """Merge ``df`` into the partitions it touches: new rows win on ``key_columns``.

        ``keep_existing`` names columns whose stored value survives when a key is
        replaced (e.g. the first ``ingested_at``), which keeps reruns byte-identical.
        Partitions are rewritten atomically, one at a time.
        """
        key_columns = list(key_columns)
        order = list(sort_columns) if sort_columns else key_columns
        replaced = 0
        touched = []
        for day, new in _split_by_day(normalize_timestamps(df), date_column):
            old = self.read_partition(table, day)
            if old is not None and len(old):
                old = normalize_timestamps(old)
                if keep_existing:
                    new = _keep_stored_values(new, old, key_columns, keep_existing)
                columns = list(new.columns) + [c for c in old.columns if c not in new.columns]
                combined = pd.concat([old, new], ignore_index=True)[columns]
                superseded = combined.duplicated(subset=key_columns, keep="last").to_numpy()
                replaced += int(superseded[: len(old)].sum())
                combined = combined[~superseded]
            else:
                combined = new
            combined = combined.sort_values(order, kind="stable")
            self.write_partition(table, day, combined)
            touched.append(str(day))
        return UpsertResult(rows_in=len(df), rows_replaced=replaced, partitions=tuple(touched))

    # -- reads ----------------------------------------------------------------------

    def read_partition(self, table: str, day: dt.date | str) -> pd.DataFrame | None:
        path = self.partition_path(table, day)
        if self.fs.get_file_info(path).type == pafs.FileType.NotFound:
            return None
        return pq.read_table(path, filesystem=self.fs).to_pandas()

    def read(
        self,
        table: str,
        start: dt.date | str | None = None,
        end: dt.date | str | None = None,
        columns: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """Concatenate the partitions of ``table`` with ``start <= date <= end`` (inclusive)."""
        days = self.partitions(table)
        if start is not None:
            days = [d for d in days if d >= _to_date(start)]
        if end is not None:
            days = [d for d in days if d <= _to_date(end)]
        cols = list(columns) if columns is not None else None
        tables = [
            pq.read_table(self.partition_path(table, d), filesystem=self.fs, columns=cols)
            for d in days
        ]
        if not tables:
            return pd.DataFrame(columns=cols or [])
        return pa.concat_tables(tables, promote_options="default").to_pandas()

    # -- small files ----------------------------------------------------------------

    def write_json(self, relpath: str, obj: Any) -> str:
        """Write a JSON document atomically."""
        return self.write_text(relpath, json.dumps(obj, indent=2, sort_keys=True, default=str))

    def write_text(self, relpath: str, text: str) -> str:
        """Write a UTF-8 text file atomically."""
        target = self.path(relpath)
        self._write_atomically(target, text.encode())
        return target

    def read_json(self, relpath: str) -> Any:
        with self.fs.open_input_stream(self.path(relpath)) as src:
            return json.loads(src.read().decode())

    def file_exists(self, relpath: str) -> bool:
        return self.fs.get_file_info(self.path(relpath)).type == pafs.FileType.File


def _split_by_day(df: pd.DataFrame, date_column: str) -> Iterator[tuple[dt.date, pd.DataFrame]]:
    """(UTC date, rows) for each partition key in ``df``, in date order, rows in input order."""
    stamps = pd.DatetimeIndex(pd.to_datetime(df[date_column], utc=True)).as_unit("ns")
    days = (stamps.asi8 // NS_PER_DAY).astype("datetime64[D]")
    order = np.argsort(days, kind="stable")
    sorted_days = days[order]
    ordered = df.iloc[order].reset_index(drop=True)  # one copy; each day is a contiguous block
    bounds = np.flatnonzero(sorted_days[1:] != sorted_days[:-1]) + 1
    starts = np.concatenate([[0], bounds]) if len(order) else np.array([], dtype=int)
    ends = np.concatenate([bounds, [len(order)]]) if len(order) else np.array([], dtype=int)
    for lo, hi in zip(starts, ends, strict=True):
        yield sorted_days[lo].item(), ordered.iloc[lo:hi].reset_index(drop=True)


def _keep_stored_values(
    new: pd.DataFrame, old: pd.DataFrame, key_columns: list[str], keep: Sequence[str]
) -> pd.DataFrame:
    """Take ``keep`` columns from the stored row where the key was already stored."""
    stored = old[key_columns + list(keep)].drop_duplicates(subset=key_columns, keep="last")
    merged = new.merge(stored, on=key_columns, how="left", suffixes=("", "__stored"))
    for col in keep:
        stored_col = merged.pop(f"{col}__stored")
        merged[col] = stored_col.where(stored_col.notna(), merged[col])
    merged.index = new.index
    return merged
