"""Arguments every stage CLI shares: the lake root and an inclusive UTC date range."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from src_clean import settings
from src_clean.errors import UserError
from src_clean.lake import DEFAULT_LAKE_ROOT, Lake


def lake_root(value: str) -> str:
    """``--lake``'s check: a folder (created when missing) or a URL, never a file."""
    path = Path(value).expanduser()
    if "://" not in value and path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(
            f"{value} is a file, not a lake folder (pass a folder, created when missing, "
            "or s3://bucket/prefix)"
        )
    return value


def positive_int(value: str) -> int:
    """An argparse type: an integer of at least 1."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive integer")
    return number


def add_lake_argument(parser: argparse.ArgumentParser) -> None:
    """``--lake``: the lake root, by default the setting ``SP500_LAKE_ROOT``."""
    parser.add_argument(
        "--lake",
        type=lake_root,
        default=settings.current().lake_root,
        help="lake root: a folder or s3://bucket/prefix (default: SP500_LAKE_ROOT, else "
        f"{DEFAULT_LAKE_ROOT})",
    )


def add_date_range(
    parser: argparse.ArgumentParser, what: str = "UTC date", required: bool = False
) -> None:
    """``--start`` / ``--end`` as ``datetime.date`` (both inclusive)."""
    parser.add_argument(
        "--start", type=dt.date.fromisoformat, required=required, help=f"first {what} (inclusive)"
    )
    parser.add_argument(
        "--end", type=dt.date.fromisoformat, required=required, help=f"last {what} (inclusive)"
    )


def check_date_range(start: dt.date | None, end: dt.date | None) -> None:
    """The one end-before-start error of every stage."""
    if start is not None and end is not None and start > end:
        raise UserError(
            f"--start {start} is after --end {end}", "pass an --end on or after --start"
        )


def require_tables(lake: Lake, *tables: str, produced_by: str = "the previous stage") -> None:
    """UserError unless the lake holds each of ``tables`` (a typo in --lake, a stage not run)."""
    for table in tables:
        if not lake.partitions(table):
            raise UserError(
                f"the lake {lake.root} has no table {table}",
                f"check --lake, or run {produced_by} first",
            )
