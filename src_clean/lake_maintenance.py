"""Lake maintenance: compact small files, write a checkpoint, vacuum unreferenced files.

``python -m src_clean lake-maintain --lake DIR [--table T ...] [--retention-hours 168]
[--dry-run] [--force]``

Per table, in this order:

1. ``optimize``: bin-packs the small files that daily upserts and range replacements
   leave in each partition into larger ones (one commit, retried on commit conflicts
   like every write, so it can run beside the daily DAG);
2. a checkpoint of the log, so readers replay a few JSON commits instead of all of them,
   and the log entries past the table's log retention are cleaned up;
3. ``vacuum``: deletes data files that no version younger than the retention references
   (the files ``optimize`` and overwrites replaced, and those of killed writes). The
   default retention is 7 days, Delta's own: readers of a recent version and time travel
   within the week keep working. A shorter retention needs ``--force``.

Side files (``_features.json``, the ``_models/`` registry) start with ``_`` and are never
vacuumed.
The weekly DAG imports this module when it is parsed: the lake (pandas, pyarrow, delta-rs)
is imported inside the functions that need it.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from src_clean import tables
from src_clean.errors import UserError

if TYPE_CHECKING:
    from src_clean.lake import Lake

DEFAULT_RETENTION_HOURS = 7 * 24
# Saturday 04:00 UTC: the futures market is closed, so no daily run competes for commits.
WEEKLY_SCHEDULE = "0 4 * * 6"
GOLD_VARIANTS_TASK = "gold_variants"
VARIANT_TABLES = ("signals", "training")  # the tables a gold/variants/<name>/ folder may hold


@dataclass(frozen=True)
class MaintenanceReport:
    """What maintenance did to one table."""

    table: str
    version: int
    files_compacted: int
    files_written: int
    files_vacuumed: int
    dry_run: bool

    def summary(self) -> str:
        verb = "would vacuum" if self.dry_run else "vacuumed"
        return (
            f"{self.table}: version={self.version} compacted {self.files_compacted} files "
            f"into {self.files_written}, {verb} {self.files_vacuumed}"
        )


def present_tables(lake: Lake) -> list[str]:
    """Every spec table that exists in ``lake``, gold variants included, in pipeline order."""
    import pyarrow.fs as pafs

    names = [spec.name for spec in tables.all_specs()]
    variants = pafs.FileSelector(lake.path(tables.VARIANTS), allow_not_found=True)
    for info in sorted(lake.fs.get_file_info(variants), key=lambda i: i.base_name):
        if info.type == pafs.FileType.Directory:  # a variant: its training set or signals
            names += [f"{tables.VARIANTS}/{info.base_name}/{kind}" for kind in VARIANT_TABLES]
    return [name for name in names if lake.exists(name)]


def task_id(table: str) -> str:
    """The maintenance DAG's task id for ``table`` (``silver/news/sentiment`` ->
    ``silver_news_sentiment``)."""
    return table.replace("/", "_")


def maintenance_argv(lake_root: str, retention_hours: int) -> dict[str, list[str]]:
    """One ``lake-maintain`` argv per task of the weekly DAG: a task per spec table, and
    one for the gold variant tables that exist when it runs."""
    common = ["--lake", lake_root, "--retention-hours", str(retention_hours)]
    argv = {
        task_id(s.name): ["lake-maintain", *common, "--if-exists", "--table", s.name]
        for s in tables.all_specs()
    }
    argv[GOLD_VARIANTS_TASK] = ["lake-maintain", *common, "--gold-variants"]
    return argv


def maintain_table(
    lake: Lake,
    table: str | tables.TableSpec,
    retention_hours: int = DEFAULT_RETENTION_HOURS,
    *,
    dry_run: bool = False,
    force: bool = False,
) -> MaintenanceReport:
    """Optimize, checkpoint and vacuum ``table`` (``dry_run``: only report the vacuum)."""
    from deltalake.exceptions import DeltaError

    from src_clean.lake import commit_properties

    spec = tables.spec(table)
    if lake.delta_table(spec) is None:
        raise UserError(f"{lake.table_uri(spec)} is not a Delta table", "check --lake and --table")
    removed, added = lake.compact(spec) if not dry_run else (0, 0)
    delta = lake.delta_table(spec)
    if not dry_run:
        delta.create_checkpoint()
        delta.cleanup_metadata()
    try:
        vacuumed = delta.vacuum(
            retention_hours=retention_hours,
            dry_run=dry_run,
            enforce_retention_duration=not force,
            full=True,  # also files no commit ever referenced (a killed writer's)
            commit_properties=commit_properties("vacuum"),
        )
    except DeltaError as exc:
        if "retention" not in str(exc).lower():
            raise
        raise UserError(
            f"{spec.name}: a vacuum retention of {retention_hours} h is shorter than the "
            f"table's ({exc})",
            "pass --force if no reader or writer can still need the older files",
        ) from exc
    return MaintenanceReport(
        table=spec.name,
        version=delta.version(),
        files_compacted=removed,
        files_written=added,
        files_vacuumed=len(vacuumed),
        dry_run=dry_run,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from src_clean.cli_args import add_lake_argument

    add_lake_argument(parser)
    parser.add_argument(
        "--table",
        action="append",
        default=None,
        help="a table path such as silver/news/sentiment (repeatable; default: every table)",
    )
    parser.add_argument(
        "--retention-hours",
        type=int,
        default=DEFAULT_RETENTION_HOURS,
        help="vacuum files unreferenced for longer than this (default: %(default)s = 7 days)",
    )
    parser.add_argument(
        "--gold-variants", action="store_true", help="every gold variant table (not --table)"
    )
    parser.add_argument(
        "--if-exists",
        action="store_true",
        help="a --table not created yet is skipped, not an error (the weekly DAG: a new "
        "lake has no quarantine until the first bad record)",
    )
    parser.add_argument("--dry-run", action="store_true", help="list what vacuum would delete")
    parser.add_argument("--force", action="store_true", help="allow a retention under 7 days")


def main(args: argparse.Namespace) -> int:
    from src_clean.lake import Lake

    lake = Lake(args.lake)
    if args.gold_variants:
        names = [t for t in present_tables(lake) if t.startswith(f"{tables.VARIANTS}/")]
    else:
        names = args.table or present_tables(lake)
    for table in names:
        if args.if_exists and not lake.exists(table):
            print(f"{table}: no table yet, nothing to maintain")
            continue
        report = maintain_table(
            lake, table, args.retention_hours, dry_run=args.dry_run, force=args.force
        )
        print(report.summary())
        print(json.dumps(asdict(report), sort_keys=True))
    return 0
