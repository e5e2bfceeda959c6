"""Migrate a lake of hive-partitioned Parquet tables to Delta tables, in place.

``python -m src_clean lake-migrate --lake ROOT``

The format before Delta kept each table as ``<table>/date=YYYY-MM-DD/part-0.parquet``.
Per table of the spec registry (and each ``quarantine/<table>``):

1. stray ``.tmp-*`` files of interrupted writes are deleted (no reader ever saw them);
2. ``convert_to_deltalake`` registers the existing files as version 0, partitioned by
   ``date``: no data is copied;
3. a quarantine table written before contract C2 (``line_number``, raw text uncapped) is
   rebuilt into the C2 schema (``record_number``, raw text capped at 64 KiB, ``raw_bytes``,
   ``raw_sha256``) in one more commit;
4. a quarantine table without ``record_index`` (the record's position inside its line, a
   merge key since identical bad records of one line are each kept) gets it, 0 for every
   stored row, in one commit (``upgraded``);
5. bronze news and silver sentiment written before point-in-time availability get
   ``available_at`` (``upgraded``): bronze takes ``published_at`` (``available_from`` =
   ``published_at``, so the fallback is on record), silver takes its article's bronze
   value. Gold news signals built before get ``timed_by`` = ``published_at`` (how they
   were timed, so ``gold-training`` refuses to mix them with signals timed by
   availability): rerun ``gold-news`` over the whole range to time them by availability.

Every step is one commit that detects its own state: a legacy table converted but not yet
rebuilt or upgraded is finished by the next run, a Delta table in the current schema is
left as it is, so a rerun changes nothing and a migration killed after any commit is
finished by running it again (``tests/integration/test_migrate_kill.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
from deltalake import convert_to_deltalake
from deltalake.schema import Field, PrimitiveType, Schema

from src_clean import tables
from src_clean.cli_args import add_lake_argument
from src_clean.lake import Lake
from src_clean.lake_maintenance import present_tables
from src_clean.tables import PARTITION_COLUMN

LEGACY_PREFIX = "date="
STRAY_PREFIX = ".tmp-"


@dataclass(frozen=True)
class MigrationResult:
    """What happened to one table: ``converted``, ``already_delta`` or ``absent``."""

    table: str
    status: str
    files: int = 0
    stray_files_removed: int = 0
    rebuilt: bool = False

    def summary(self) -> str:
        extra = f" ({self.files} files" if self.status == "converted" else ""
        if extra:
            extra += f", {self.stray_files_removed} stray files removed"
            extra += ", rebuilt into the current schema)" if self.rebuilt else ")"
        return f"{self.table}: {self.status}{extra}"


def migrate_lake(lake: Lake) -> list[MigrationResult]:
    """Convert every legacy table of ``lake`` to Delta and upgrade older Delta tables
    (idempotent); gold variants that exist are upgraded too."""
    fixed = [spec.name for spec in tables.all_specs()]
    variants = [t for t in present_tables(lake) if t not in fixed]
    return [migrate_table(lake, table) for table in fixed + variants]


def migrate_table(lake: Lake, table: str) -> MigrationResult:
    """Convert ``table`` if it is legacy Parquet, then run every upgrade step on it. Each
    step is one commit and detects its own state (a step done is skipped), so a migration
    killed after any commit is finished by running it again."""
    spec = tables.spec(table)
    files, strays = 0, 0
    if not lake.exists(spec):
        legacy = _legacy_files(lake, spec.name)
        stray = [f for f in legacy if f.base_name.startswith(STRAY_PREFIX)]
        for info in stray:
            lake.fs.delete_file(info.path)
        files, strays = len(legacy) - len(stray), len(stray)
        if not files:
            return MigrationResult(spec.name, "absent", stray_files_removed=strays)
        convert_to_deltalake(
            lake.table_uri(spec),
            partition_by=Schema([Field(PARTITION_COLUMN, PrimitiveType("date"), nullable=False)]),
            partition_strategy="hive",
            name=spec.name.replace("/", "_"),
            description=spec.description,
            storage_options=lake.storage_options,
        )
    rebuilt = _rebuild_legacy_quarantine(lake, spec)
    steps = (_add_record_index, _add_availability, _add_empty_columns)
    upgraded = [step(lake, spec) for step in steps]  # every step, in order
    if files:
        return MigrationResult(spec.name, "converted", files, strays, rebuilt)
    return MigrationResult(spec.name, "upgraded" if rebuilt or any(upgraded) else "already_delta")


def _legacy_files(lake: Lake, table: str) -> list[pafs.FileInfo]:
    """The Parquet files in the table's ``date=`` folders (stray temporaries included)."""
    selector = pafs.FileSelector(lake.path(table), allow_not_found=True, recursive=True)
    return [
        info
        for info in lake.fs.get_file_info(selector)
        if info.type == pafs.FileType.File
        and info.base_name.endswith(".parquet")
        and info.path.rsplit("/", 2)[-2].startswith(LEGACY_PREFIX)
    ]


def _quarantine_schema(lake: Lake, spec: tables.TableSpec) -> pa.Schema | None:
    """The stored schema of a quarantine table; None for another table or none stored."""
    if spec.keep_on_update != tables.QUARANTINE_SPEC.keep_on_update:
        return None
    return lake.schema(spec)


def _rebuild_legacy_quarantine(lake: Lake, spec: tables.TableSpec) -> bool:
    """Rebuild a pre-C2 quarantine table (``line_number``, uncapped ``raw``) into C2."""
    stored = _quarantine_schema(lake, spec)
    if stored is None or "line_number" not in stored.names:
        return False
    from src_clean.data_pipelines.bronze.quarantine import QUARANTINE_COLUMNS, Rejected

    legacy = lake.read(spec, columns=list(stored.names))
    columns = ("source_file", "line_number", "reason", "raw")
    cells = legacy[list(columns)].itertuples(index=False, name=None)
    rows = pd.DataFrame([dataclasses.asdict(Rejected.of(*row)) for row in cells])
    rows["quarantined_at"] = legacy["quarantined_at"].to_numpy()
    lake.rebuild(spec, rows[QUARANTINE_COLUMNS].drop_duplicates(list(spec.keys), keep="first"))
    return True


def _add_record_index(lake: Lake, spec: tables.TableSpec) -> bool:
    """Give a quarantine table without ``record_index`` the column (0: one record per line)."""
    stored = _quarantine_schema(lake, spec)
    if stored is None or "record_index" in stored.names:
        return False
    from src_clean.data_pipelines.bronze.quarantine import QUARANTINE_COLUMNS

    rows = lake.read(spec, columns=list(stored.names))
    rows["record_index"] = 0
    lake.rebuild(spec, rows[QUARANTINE_COLUMNS])
    return True


def _add_availability(lake: Lake, spec: tables.TableSpec) -> bool:
    """Give bronze news or silver sentiment without ``available_at`` the column, and gold
    signals without ``timed_by`` the time they were built with (``published_at``)."""
    column = "timed_by" if spec.name == tables.GOLD_SIGNALS else "available_at"
    if spec.name not in (tables.BRONZE_NEWS, tables.SILVER_SENTIMENT, tables.GOLD_SIGNALS):
        return False
    stored = lake.schema(spec)
    if stored is None or column in stored.names:
        return False
    rows = lake.read(spec, columns=list(stored.names))
    if spec.name == tables.GOLD_SIGNALS:
        lake.rebuild(spec, rows.assign(timed_by="published_at"))
        return True
    if spec.name == tables.BRONZE_NEWS:
        rows = rows.assign(available_at=rows["published_at"], available_from="published_at")
    else:
        bronze = lake.read(tables.BRONZE_NEWS, columns=["article_id", "available_at"])
        known = bronze.set_index("article_id")["available_at"]
        rows["available_at"] = rows["article_id"].map(known).fillna(rows["published_at"])
    lake.rebuild(spec, rows.reindex(columns=list(spec.column_names)))
    return True


def _add_empty_columns(lake: Lake, spec: tables.TableSpec) -> bool:
    """Add the ``tables.added_columns`` the stored table lacks: empty in a declared table,
    0.0 in a gold table with news features."""
    stored = lake.schema(spec)
    absent = [c for c in tables.added_columns(spec.name) if c not in stored.names]
    if not absent:
        return False
    declared = spec.arrow_schema()
    if declared is not None:
        lake.evolve(spec, {name: declared.field(name).type for name in absent})
        return True
    if not any(name.startswith("news_") for name in stored.names):
        return False  # a market-only variant has no news features to add to
    rows = lake.read(spec)
    lake.rebuild(spec, rows.assign(**dict.fromkeys(absent, 0.0)))
    return True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_lake_argument(parser)


def main(args: argparse.Namespace) -> int:
    for result in migrate_lake(Lake(args.lake)):
        print(result.summary())
    return 0
