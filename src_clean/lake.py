"""The lake: Delta Lake tables under a root (local folder or ``s3://bucket/prefix``).

Every table named in ``src_clean.tables`` is a Delta table (delta-rs, no JVM) partitioned
by ``date``, the UTC date of the spec's date column. Four operations cover every stage:

- ``read``: a date range reads only its partitions, ``columns`` only those columns, and
  ``version`` a past snapshot (time travel); rows come back in the spec's sort order.
- ``upsert``: a Delta MERGE on the spec's keys across the whole table (a row whose date
  changed moves partition); ``keep_on_update`` columns keep their stored value.
- ``replace_range``: the partitions of a date range overwritten in one commit (a
  predicate overwrite), for the recomputed layers.
- ``version`` / ``table_uri``: what a reader needs to name the exact snapshot it read.

Each operation is one atomic commit: readers see the table before or after it, never in
between, and a killed writer leaves only unreferenced files (``lake-maintain`` vacuums
them). Concurrent writers rely on Delta's optimistic concurrency; a lost commit race is
retried a bounded number of times with jitter, then fails loudly naming the table and
operation. On S3 a commit is a conditional put (``If-None-Match``), so two writers can
never both claim a version.

Schemas are enforced on write: a frame whose columns or types do not match the spec (or,
for the computed layers, the table's stored schema) fails with ``SchemaMismatchError``
naming the columns, and nothing is written. Columns are added only by ``evolve``.
Timestamps are stored as Delta timestamps (microseconds, UTC) and read back as
``datetime64[ns, UTC]``; a value with sub-microsecond digits is refused, not truncated.

S3 credentials, region and endpoint come from ``src_clean.aws`` (the standard AWS
environment or Airflow's ``aws_default`` connection), for Delta and the side files alike.
This module is the table engine only; the side files beside the tables (JSON documents,
reports, ledgers) are ``lake.files`` (``src_clean.lake_files``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import queue
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError
from deltalake.transaction import AddAction
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from src_clean import tables
from src_clean.aws import delta_storage_options, filesystem_for
from src_clean.defaults import DEFAULT_LAKE_ROOT
from src_clean.errors import OperationalError, UserError
from src_clean.lake_files import LakeFiles
from src_clean.tables import PARTITION_COLUMN, TableSpec
from src_clean.timestamps import normalize_timestamps

log = logging.getLogger(__name__)

DELTA_TIMESTAMP = pa.timestamp("us", tz="UTC")
US_PER_DAY = 86_400 * 10**6
# Commit races lost before an operation gives up; each retry re-reads the table.
COMMIT_ATTEMPTS = 12
RETRY_WAIT = wait_random_exponential(multiplier=0.05, max=2.0)

Frames = pd.DataFrame | Callable[[], Iterable[pd.DataFrame]]


class SchemaMismatchError(OperationalError, ValueError):
    """A frame does not match its table's schema; nothing was written."""

    FIX = (
        "if the table was written by an older version, run python -m src_clean lake-migrate "
        "--lake <lake>; otherwise report it with the traceback of --debug"
    )


class TableNeedsMigration(SchemaMismatchError, UserError):
    """The stored table predates columns this version declares: ``lake-migrate`` adds them."""

    def __init__(self, message: str) -> None:
        UserError.__init__(self, message, "python -m src_clean lake-migrate --lake <lake>")


class CommitConflictError(RuntimeError):
    """A write lost its commit race to concurrent writers more times than allowed."""


def _to_date(value: dt.date | str | pd.Timestamp) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


@dataclass(frozen=True)
class UpsertResult:
    """What an upsert did: rows given, rows inserted, stored rows replaced by a changed
    row, the partitions of the new rows, the table version it committed, and how many
    stored files the MERGE read (its cost: the days matched, not the table's history)."""

    rows_in: int
    rows_inserted: int
    rows_replaced: int
    partitions: tuple[str, ...]
    version: int | None
    files_scanned: int = 0


@dataclass(frozen=True)
class ReplaceResult:
    """What a range replacement wrote: rows, their partitions and the committed version."""

    rows: int
    partitions: tuple[str, ...]
    version: int | None


class Lake:
    """A lake root holding Delta tables plus a few JSON/text side files."""

    def __init__(self, root: str | os.PathLike[str] = DEFAULT_LAKE_ROOT) -> None:
        root_str = str(root)
        if "://" in root_str:
            self.fs, base = filesystem_for(root_str)
            self._uri_base = f"{root_str.split('://', 1)[0]}://{base.rstrip('/')}"
        else:
            self.fs = pafs.LocalFileSystem()
            base = str(Path(root_str).expanduser().resolve())
            self._uri_base = base.rstrip("/")
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

    @property
    def storage_options(self) -> dict[str, str] | None:
        """delta-rs storage options (credentials, endpoint, commit mode); None when local."""
        return None if self.is_local else delta_storage_options()

    # -- tables -----------------------------------------------------------------------

    @property
    def files(self) -> LakeFiles:
        """The side files beside the tables (JSON documents, reports, ledgers)."""
        return LakeFiles(self.fs, self.path, local=self.is_local)

    def uri(self, relpath: str) -> str:
        """Where a side file lives: an absolute path or ``s3://bucket/prefix/<relpath>``."""
        return f"{self._uri_base}/{relpath.strip('/')}"

    def table_uri(self, table: str | TableSpec) -> str:
        """Where the Delta table lives: an absolute path or ``s3://bucket/prefix/table``."""
        return f"{self._uri_base}/{tables.spec(table).name}"

    def delta_table(self, table: str | TableSpec, version: int | None = None) -> DeltaTable | None:
        """The ``DeltaTable`` (at ``version``, default latest), or None if there is none."""
        try:
            return DeltaTable(
                self.table_uri(table), version=version, storage_options=self.storage_options
            )
        except TableNotFoundError:
            return None

    def version(self, table: str | TableSpec) -> int | None:
        """The table's latest committed version; None when the table does not exist."""
        delta = self.delta_table(table)
        return None if delta is None else delta.version()

    def exists(self, table: str | TableSpec) -> bool:
        return self.delta_table(table) is not None

    def partitions(self, table: str | TableSpec, version: int | None = None) -> list[dt.date]:
        """Dates of the partitions holding rows, sorted."""
        delta = self.delta_table(table, version)
        if delta is None:
            return []
        return sorted(dt.date.fromisoformat(p[PARTITION_COLUMN]) for p in delta.partitions())

    def partition_rows(self, table: str | TableSpec) -> dict[dt.date, int]:
        """Rows per partition date, from the Delta log's file statistics (no data read)."""
        delta = self.delta_table(table)
        if delta is None:
            return {}
        actions = pa.table(delta.get_add_actions(flatten=True))
        counts: dict[dt.date, int] = {}
        for day, rows in zip(
            actions[f"partition.{PARTITION_COLUMN}"].to_pylist(),
            actions["num_records"].to_pylist(),
            strict=True,
        ):
            day = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))
            counts[day] = counts.get(day, 0) + int(rows or 0)
        return dict(sorted(counts.items()))

    def schema(self, table: str | TableSpec) -> pa.Schema | None:
        """The stored schema without the partition column; None when there is no table."""
        delta = self.delta_table(table)
        return None if delta is None else _data_schema(delta)

    # -- reads ------------------------------------------------------------------------

    def read(
        self,
        table: str | TableSpec,
        start: dt.date | str | None = None,
        end: dt.date | str | None = None,
        columns: Iterable[str] | None = None,
        version: int | None = None,
    ) -> pd.DataFrame:
        """Rows with ``start <= date <= end`` (inclusive), in the spec's sort order.

        Only the partitions of the range and the requested ``columns`` are read;
        ``version`` reads that snapshot of the table (time travel).
        """
        spec = tables.spec(table)
        cols = list(columns) if columns is not None else None
        delta = self.delta_table(spec, version)
        if delta is None:
            return _empty_frame(spec, cols)
        dataset = delta.to_pyarrow_dataset(partitions=_partition_filters(start, end))
        names = cols or [n for n in dataset.schema.names if n != PARTITION_COLUMN]
        order = [c for c in spec.sort if c in dataset.schema.names]
        data = dataset.to_table(
            columns=list(dict.fromkeys([*names, *order])), filter=_date_filter(start, end)
        )
        if order:
            data = data.sort_by([(c, "ascending") for c in order])
        return _to_pandas(data.select(names), spec)

    # -- writes -----------------------------------------------------------------------

    def upsert(self, table: str | TableSpec, df: pd.DataFrame) -> UpsertResult:
        """MERGE ``df`` into the table on the spec's keys (new values win), as one commit.

        Keys are matched across the whole table (or, with the spec's ``match_days``,
        within that many days of each incoming row's date), so a row whose date changed
        moves to its new partition. Stored rows equal to the new ones are not rewritten, which
        keeps a rerun from touching any file. ``df`` must hold each key once.
        """
        spec = tables.spec(table)
        if df.empty:
            return UpsertResult(0, 0, 0, (), self.version(spec))
        duplicated = df.duplicated(list(spec.keys))
        if duplicated.any():
            raise ValueError(
                f"{spec.name}: upsert got {int(duplicated.sum())} rows with a repeated key "
                f"{list(spec.keys)}; deduplicate first"
            )
        source = self._conform(spec, df, self.schema(spec))
        partitions = _partition_names(source)

        def attempt() -> UpsertResult:
            delta = self._open_or_create(spec, source.schema)
            metrics = self._merge(spec, delta, source, partitions)
            return UpsertResult(
                rows_in=len(df),
                rows_inserted=int(metrics.get("num_target_rows_inserted", 0)),
                rows_replaced=int(metrics.get("num_target_rows_updated", 0)),
                partitions=partitions,
                version=delta.version(),
                files_scanned=int(metrics.get("num_target_files_scanned", 0)),
            )

        return self.with_commit_retries(spec, "upsert", attempt)

    def compact(
        self, table: str | TableSpec, dates: Sequence[dt.date | str] | None = None
    ) -> tuple[int, int]:
        """Rewrite the small files of the ``dates`` partitions (None: every partition) as
        few: a Delta OPTIMIZE, rows unchanged, ``dataChange: false``; a partition already
        compact, or absent, commits nothing. Returns (files removed, files added)."""
        spec = tables.spec(table)
        if self.delta_table(spec) is None:
            return 0, 0
        filters: list[list[tuple[str, str, str]] | None] = (
            [None]
            if dates is None
            else [[(PARTITION_COLUMN, "=", _to_date(d).isoformat())] for d in dates]
        )
        removed = added = 0
        for only in filters:
            metrics = self.with_commit_retries(
                spec,
                "optimize",
                lambda only=only: self.delta_table(spec).optimize.compact(
                    partition_filters=only, commit_properties=commit_properties("optimize")
                ),
            )
            removed += int(metrics.get("numFilesRemoved", 0))
            added += int(metrics.get("numFilesAdded", 0))
        return removed, added

    def insert_new(self, table: str | TableSpec, df: pd.DataFrame) -> UpsertResult:
        """Insert the rows of ``df`` whose key the table does not hold, in one commit; a
        stored row is never updated or deleted (an append-only record: a MERGE with only an
        insert clause, so two writers of one key insert it once). ``rows_inserted`` says
        which were new."""
        spec = tables.spec(table)
        if df.empty:
            return UpsertResult(0, 0, 0, (), self.version(spec))
        if df.duplicated(list(spec.keys)).any():
            raise ValueError(f"{spec.name}: insert_new got a repeated key {list(spec.keys)}")
        source = self._conform(spec, df, self.schema(spec))
        partitions = _partition_names(source)

        def attempt() -> UpsertResult:
            delta = self._open_or_create(spec, source.schema)
            metrics = (
                delta.merge(
                    source,
                    predicate=_match_predicate(spec, partitions),
                    source_alias="s",
                    target_alias="t",
                    commit_properties=commit_properties("insert_new"),
                )
                .when_not_matched_insert_all()
                .execute()
            )
            return UpsertResult(
                rows_in=len(df),
                rows_inserted=int(metrics.get("num_target_rows_inserted", 0)),
                rows_replaced=0,
                partitions=partitions,
                version=delta.version(),
                files_scanned=int(metrics.get("num_target_files_scanned", 0)),
            )

        return self.with_commit_retries(spec, "insert_new", attempt)

    def replace_range(
        self,
        table: str | TableSpec,
        data: Frames,
        start: dt.date | str | None = None,
        end: dt.date | str | None = None,
    ) -> ReplaceResult:
        """Replace the partitions ``start..end`` (inclusive; None = unbounded) in one commit.

        ``data`` is a frame, or a function returning frames (streamed, so a multi-year
        recompute never holds every row; called again if the commit must be retried).
        Every row must fall in the range; dates of the range with no rows end up empty.
        """
        spec = tables.spec(table)
        first, last = (None if v is None else _to_date(v) for v in (start, end))
        if first and last and first > last:
            raise ValueError(f"{spec.name}: start {first} is after end {last}")
        frames = (lambda: [data]) if isinstance(data, pd.DataFrame) else data

        def attempt() -> ReplaceResult:
            delta = self.delta_table(spec)
            stored = None if delta is None else _data_schema(delta)
            parts = _prefetched(f for f in frames() if len(f))
            head_frame = next(parts, None)
            if head_frame is None:  # nothing to write: clear the range
                if delta is None:
                    return ReplaceResult(0, (), None)
                delta.delete(
                    _date_predicate(first, last), commit_properties=commit_properties("replace")
                )
                return ReplaceResult(0, (), delta.version())
            head = self._conform(spec, head_frame, stored, first, last)
            schema = stored or head.schema.remove(head.schema.get_field_index(PARTITION_COLUMN))
            rest = (self._conform(spec, f, schema, first, last) for f in parts)
            if delta is None:
                delta = self._open_or_create(spec, head.schema)
            actions, rows, days = self._stage_files(spec, _chain(head, rest))
            delta.create_write_transaction(
                actions,
                mode="overwrite",
                schema=head.schema,
                partition_by=[PARTITION_COLUMN],
                partition_filters=_partition_filters(first, last),
                commit_properties=commit_properties("replace"),
            )
            delta.update_incremental()
            return ReplaceResult(rows, tuple(sorted(days)), delta.version())

        return self.with_commit_retries(spec, "replace_range", attempt)

    def _stage_files(
        self, spec: TableSpec, parts: Iterable[pa.Table]
    ) -> tuple[list[AddAction], int, set[str]]:
        """Write ``parts`` as one Parquet file per partition and chunk; their add actions.

        The files are invisible until a commit references them (a killed writer leaves
        only orphans, which ``lake-maintain`` vacuums). One file at a time, because
        delta-rs' own partitioned writer keeps a writer open per partition until it
        commits: a five-year range (1,826 partitions) peaked at 13 GB that way, 1.9 GB
        like this.
        """
        actions, rows, days = [], 0, set()
        for part in parts:
            dates = part[PARTITION_COLUMN].to_numpy(zero_copy_only=False)
            order = np.argsort(dates, kind="stable")
            ordered = part.take(order) if (np.diff(order) != 1).any() else part
            dates = dates[order]
            bounds = np.flatnonzero(dates[1:] != dates[:-1]) + 1
            for lo, hi in zip([0, *bounds.tolist()], [*bounds.tolist(), len(dates)], strict=True):
                day = str(dates[lo])
                relpath = f"{PARTITION_COLUMN}={day}/part-{uuid.uuid4().hex}.zstd.parquet"
                buffer = pa.BufferOutputStream()
                data = ordered.slice(lo, hi - lo).drop_columns([PARTITION_COLUMN])
                pq.write_table(data, buffer, compression="zstd")
                payload = buffer.getvalue()
                target = self.path(spec.name, relpath)
                if self.is_local:
                    self.fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
                with self.fs.open_output_stream(target) as sink:
                    sink.write(payload)
                stats = json.dumps({"numRecords": int(hi - lo)})
                now_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
                actions.append(
                    AddAction(relpath, len(payload), {PARTITION_COLUMN: day}, now_ms, True, stats)
                )
                rows += int(hi - lo)
                days.add(day)
        return actions, rows, days

    def rebuild(self, table: str | TableSpec, df: pd.DataFrame) -> int:
        """Overwrite the whole table with ``df`` under a new schema (the spec's, else the
        frame's): the explicit step for dropping or retyping columns. Earlier versions
        stay readable by time travel until vacuumed. Returns the new version."""
        spec = tables.spec(table)
        data = self._conform(spec, df, None)
        write_deltalake(
            self.table_uri(spec),
            data,
            mode="overwrite",
            schema_mode="overwrite",
            partition_by=[PARTITION_COLUMN],
            storage_options=self.storage_options,
            commit_properties=commit_properties("rebuild"),
        )
        return self.version(spec) or 0

    def evolve(self, table: str | TableSpec, columns: Mapping[str, pa.DataType]) -> int:
        """Add nullable ``columns`` to the table's schema (the explicit evolution step).

        Existing rows read the new columns as null until recomputed or upserted. Columns
        are never dropped or retyped here: that is ``rebuild``. Returns the new version.
        """
        from deltalake.schema import Field

        spec = tables.spec(table)
        delta = self.delta_table(spec)
        if delta is None:
            raise ValueError(f"{spec.name}: no table to evolve")
        present = set(_data_schema(delta).names)
        clash = sorted(present & set(columns))
        if clash:
            raise SchemaMismatchError(f"{spec.name}: columns already present: {clash}")
        fields = [Field.from_arrow(pa.field(n, t, nullable=True)) for n, t in columns.items()]
        delta.alter.add_columns(fields, commit_properties=commit_properties("evolve"))
        return delta.version()

    # -- internals --------------------------------------------------------------------

    def with_commit_retries(
        self, spec: TableSpec, operation: str, attempt: Callable[[], Any]
    ) -> Any:
        """Run ``attempt``; rerun it (from a fresh read) when a concurrent commit won."""
        retrying = Retrying(
            stop=stop_after_attempt(COMMIT_ATTEMPTS),
            wait=RETRY_WAIT,
            retry=retry_if_exception_type(CommitFailedError),
            before_sleep=lambda state: log.info(
                "%s %s: commit conflict (attempt %d), retrying",
                spec.name,
                operation,
                state.attempt_number,
            ),
        )
        try:
            return retrying(attempt)
        except RetryError as exc:
            cause = exc.last_attempt.exception()
            raise CommitConflictError(
                f"{self.table_uri(spec)}: {operation} lost {COMMIT_ATTEMPTS} commit races "
                f"to concurrent writers; last conflict: {cause}"
            ) from cause

    def _open_or_create(self, spec: TableSpec, schema: pa.Schema) -> DeltaTable:
        """The table, created empty with ``schema`` (partitioned by date) if missing."""
        delta = self.delta_table(spec)
        if delta is not None:
            return delta
        return DeltaTable.create(
            self.table_uri(spec),
            schema,
            mode="ignore",  # a concurrent creator may have won: use its table
            partition_by=[PARTITION_COLUMN],
            name=spec.name.replace("/", "_"),
            description=spec.description,
            storage_options=self.storage_options,
        )

    def _merge(
        self, spec: TableSpec, delta: DeltaTable, source: pa.Table, partitions: Sequence[str]
    ) -> dict[str, Any]:
        """One MERGE of ``source`` (rows in ``partitions``) into ``delta`` on the spec's keys;
        its metrics."""
        kept = set(spec.keep_on_update)
        if spec.date_source in kept:
            kept.add(PARTITION_COLUMN)
        declared = spec.arrow_schema()
        known = source.schema.names if declared is None else [*declared.names, PARTITION_COLUMN]
        # a stored column this version does not declare keeps its values on matched rows
        updated = [c for c in source.schema.names if c not in kept and c in known]
        changed = " OR ".join(
            f"(t.{c} IS DISTINCT FROM s.{c})" for c in updated if c not in spec.keys
        )
        merger = delta.merge(
            source,
            predicate=_match_predicate(spec, partitions),
            source_alias="s",
            target_alias="t",
            commit_properties=commit_properties("upsert"),
        )
        if changed:
            merger = merger.when_matched_update({c: f"s.{c}" for c in updated}, predicate=changed)
        return merger.when_not_matched_insert_all().execute()

    def _conform(
        self,
        spec: TableSpec,
        df: pd.DataFrame,
        stored: pa.Schema | None,
        first: dt.date | None = None,
        last: dt.date | None = None,
    ) -> pa.Table:
        """``df`` as an Arrow table of the table's schema plus ``date``, sorted by the spec.

        The schema is the spec's, else the stored one, else (a computed table's first
        write) the frame's own. Raises ``SchemaMismatchError`` naming every offending
        column, and ``ValueError`` for a row outside ``first..last``.
        """
        declared = spec.arrow_schema()
        target = declared or stored or _frame_schema(spec, df)
        if declared is not None and stored is not None:
            # the schema-evolution rule (docs/lake.md): a stored column this version does
            # not declare (a newer version added it) is kept, null in the rows written here
            unknown = [f for f in stored if f.name not in declared.names]
            if unknown:
                target = pa.schema([*declared, *(f.with_nullable(True) for f in unknown)])
                df = df.assign(**{f.name: None for f in unknown if f.name not in df.columns})
        if stored is not None and set(target.names) - set(stored.names):
            absent = sorted(set(target.names) - set(stored.names))
            raise TableNeedsMigration(
                f"{spec.name}: the stored table has no columns {absent}, which this version "
                "declares; upgrade it first"
            )
        missing = [n for n in target.names if n not in df.columns]
        extra = [c for c in df.columns if c not in target.names]
        if stored is not None and extra and set(extra) <= set(tables.added_columns(spec.name)):
            raise TableNeedsMigration(
                f"{spec.name}: the stored table has no columns {sorted(extra)}, which this "
                "version writes; upgrade it first"
            )
        problems = []
        if missing:
            problems.append(f"missing columns {missing}")
        if extra:
            problems.append(f"unexpected columns {extra}")
        if problems:
            raise SchemaMismatchError(_mismatch(spec, problems))
        frame = nulled_infinities(spec, normalize_timestamps(df[target.names]))
        arrays, bad = [], []
        for fld in target:
            try:
                array = pa.array(frame[fld.name], from_pandas=True)
                arrays.append(array.cast(fld.type, safe=True))
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
                bad.append(f"{fld.name} ({_dtype(frame[fld.name])} -> {fld.type}: {exc})")
        if bad:
            raise SchemaMismatchError(_mismatch(spec, [f"columns of the wrong type: {bad}"]))
        nulls = [n for n, a in zip(target.names, arrays, strict=True) if n in spec.required]
        nulls = [n for n in nulls if arrays[target.names.index(n)].null_count]
        if nulls:
            raise SchemaMismatchError(_mismatch(spec, [f"nulls in required columns {nulls}"]))
        day = _utc_dates(arrays[target.names.index(spec.date_source)])
        out = pa.Table.from_arrays([*arrays, day], schema=target.append(_DATE_FIELD))
        if first is not None or last is not None:
            outside = pc.invert(_in_range(out[PARTITION_COLUMN], first, last))
            if pc.any(outside).as_py():
                raise ValueError(
                    f"{spec.name}: rows dated outside {first}..{last} given to replace_range"
                )
        return out.sort_by([(c, "ascending") for c in spec.sort if c in target.names])


# -- helpers ----------------------------------------------------------------------------

_DATE_FIELD = pa.field(PARTITION_COLUMN, pa.date32(), nullable=False)


def commit_properties(operation: str) -> CommitProperties:
    """Commit metadata naming the project operation (shown by ``DESCRIBE HISTORY``)."""
    return CommitProperties(custom_metadata={"sp500.operation": operation})


def _data_schema(delta: DeltaTable) -> pa.Schema:
    schema = pa.schema(delta.schema().to_arrow())
    return schema.remove(schema.get_field_index(PARTITION_COLUMN))


def _frame_schema(spec: TableSpec, df: pd.DataFrame) -> pa.Schema:
    """Schema of a computed table's first write: the frame's, in Delta's types."""
    inferred = pa.Schema.from_pandas(normalize_timestamps(df.head(0)), preserve_index=False)
    fields = []
    for fld in inferred:
        kind = fld.type
        if pa.types.is_timestamp(kind):
            kind = DELTA_TIMESTAMP
        elif pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            kind = pa.string()
        elif pa.types.is_null(kind):
            raise SchemaMismatchError(
                _mismatch(spec, [f"column {fld.name!r} has no type (all values missing)"])
            )
        fields.append(pa.field(fld.name, kind, nullable=fld.name not in spec.required))
    return pa.schema(fields)


def nulled_infinities(spec: TableSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (index reset) with every ±inf float cell null, counted in one warning: no
    table stores ±inf (XGBoost, the monitor's drift tests and JSON all refuse it). A cell
    that overflowed is a finding, not a value: the monitor's ``null_share`` sees it."""
    frame = frame.reset_index(drop=True)
    floats = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c].dtype)]
    if not floats:
        return frame
    infinite = np.isinf(frame[floats].to_numpy(dtype=np.float64, na_value=np.nan))
    if not infinite.any():
        return frame
    counts = {c: int(n) for c, n in zip(floats, infinite.sum(axis=0), strict=True) if n}
    log.warning(
        "%s: %d ±inf values written as null (%s)",
        spec.name,
        sum(counts.values()),
        ", ".join(f"{c}: {n}" for c, n in counts.items()),
    )
    where = dict(zip(floats, infinite.T, strict=True))
    return frame.assign(**{c: frame[c].mask(where[c]) for c in counts})


def _mismatch(spec: TableSpec, problems: list[str]) -> str:
    return (
        f"{spec.name}: frame does not match the table schema: {'; '.join(problems)}. "
        "Nothing was written. Schema changes go through Lake.evolve "
        "(docs/lake.md: 'Schema evolution')."
    )


def _dtype(series: pd.Series) -> str:
    return str(series.dtype)


def _utc_dates(stamps: pa.Array) -> pa.Array:
    """UTC calendar date of each (non-null) microsecond timestamp."""
    micros = stamps.cast(pa.int64()).to_numpy(zero_copy_only=False)
    return pa.array(np.floor_divide(micros, US_PER_DAY).astype("int32")).cast(pa.date32())


def _partition_names(data: pa.Table) -> tuple[str, ...]:
    days = pc.unique(data[PARTITION_COLUMN]).to_pylist()
    return tuple(str(d) for d in sorted(days))


def _in_range(days: Any, first: dt.date | None, last: dt.date | None) -> Any:
    keep = pc.is_valid(days)
    if first is not None:
        keep = pc.and_(keep, pc.greater_equal(days, pa.scalar(first, pa.date32())))
    if last is not None:
        keep = pc.and_(keep, pc.less_equal(days, pa.scalar(last, pa.date32())))
    return keep


def _date_filter(start: dt.date | str | None, end: dt.date | str | None) -> Any:
    """A pyarrow dataset filter on the partition column (prunes whole partitions)."""
    expression = None
    if start is not None:
        expression = pc.field(PARTITION_COLUMN) >= pa.scalar(_to_date(start), pa.date32())
    if end is not None:
        upper = pc.field(PARTITION_COLUMN) <= pa.scalar(_to_date(end), pa.date32())
        expression = upper if expression is None else expression & upper
    return expression


def _partition_filters(
    start: dt.date | str | None, end: dt.date | str | None
) -> list[tuple[str, str, str]] | None:
    """delta-rs partition filters of a date range: only those files enter the dataset."""
    filters = []
    if start is not None:
        filters.append((PARTITION_COLUMN, ">=", _to_date(start).isoformat()))
    if end is not None:
        filters.append((PARTITION_COLUMN, "<=", _to_date(end).isoformat()))
    return filters or None


def _match_predicate(spec: TableSpec, partitions: Sequence[str]) -> str:
    """The MERGE condition of ``source`` rows (in ``partitions``) on the spec's keys, with
    the literal partitions a stored match can lie in, so delta-rs skips every other file."""
    matches = [f"t.{k} = s.{k}" for k in spec.keys]
    if spec.date_source in spec.keys:
        # The key fixes the partition, so only the source's partitions can match (a daily
        # candle MERGE into five years: 0.7 s -> 0.05 s); a concurrent writer of the same
        # key writes the same partition, so conflicts are still detected.
        days = ", ".join(f"'{day}'" for day in partitions)
        matches += [
            f"t.{PARTITION_COLUMN} = s.{PARTITION_COLUMN}",
            f"t.{PARTITION_COLUMN} IN ({days})",
        ]
    elif spec.match_days is not None:
        # The key can move between partitions, but only within ``match_days`` of the
        # incoming rows' dates (issue 37).
        matches.append(_match_range(partitions, spec.match_days))
    return " AND ".join(matches)


def _match_range(partitions: Sequence[str], days: int) -> str:
    """``t.date`` within ``days`` of one of ``partitions`` (ISO dates), as few ranges."""
    spans: list[list[dt.date]] = []
    for day in sorted(dt.date.fromisoformat(p) for p in partitions):
        low, high = day - dt.timedelta(days=days), day + dt.timedelta(days=days)
        if spans and low <= spans[-1][1]:
            spans[-1][1] = high
        else:
            spans.append([low, high])
    column = f"t.{PARTITION_COLUMN}"
    ranges = [f"({column} >= '{low}' AND {column} <= '{high}')" for low, high in spans]
    return f"({' OR '.join(ranges)})"


def _date_predicate(first: dt.date | None, last: dt.date | None) -> str | None:
    """The SQL predicate of a date range for Delta's overwrite/delete (None: everything)."""
    terms = []
    if first is not None:
        terms.append(f"{PARTITION_COLUMN} >= '{first.isoformat()}'")
    if last is not None:
        terms.append(f"{PARTITION_COLUMN} <= '{last.isoformat()}'")
    return " AND ".join(terms) or None


def _prefetched(items: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """``items`` computed on a helper thread, one ahead of the consumer.

    delta-rs pulls the batches of a streamed write from inside its async runtime, where a
    producer that itself reads a Delta table (silver reading bronze) may not block on
    another runtime call; on its own thread it can. Exceptions are re-raised here.
    """
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)

    def produce() -> None:
        try:
            for item in items:
                handoff.put(("item", item))
            handoff.put(("done", None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            handoff.put(("error", exc))

    threading.Thread(target=produce, name="lake-producer", daemon=True).start()
    while True:
        kind, value = handoff.get()
        if kind == "done":
            return
        if kind == "error":
            raise value
        yield value


def _chain(head: pa.Table, rest: Iterator[pa.Table]) -> Iterator[pa.Table]:
    yield head
    yield from rest


def _to_pandas(data: pa.Table, spec: TableSpec) -> pd.DataFrame:
    """A pandas frame with nanosecond UTC timestamps (Delta stores microseconds) and, for
    declared nullable integer columns (``volume``), pandas' nullable ``Int64``."""
    fields = [
        pa.field(f.name, pa.timestamp("ns", tz="UTC"), f.nullable)
        if pa.types.is_timestamp(f.type)
        else f
        for f in data.schema
    ]
    frame = data.cast(pa.schema(fields)).to_pandas()
    declared = spec.arrow_schema()
    for fld in declared or ():
        if fld.nullable and pa.types.is_integer(fld.type) and fld.name in frame.columns:
            frame[fld.name] = data[fld.name].to_pandas(types_mapper={fld.type: pd.Int64Dtype()}.get)
    return frame


def _empty_frame(spec: TableSpec, columns: list[str] | None) -> pd.DataFrame:
    """The empty result of reading a table that does not exist yet."""
    schema = spec.arrow_schema()
    if schema is None:
        return pd.DataFrame(columns=columns or [])
    frame = _to_pandas(schema.empty_table(), spec)
    return frame[columns] if columns is not None else frame
