"""Arguments every stage CLI shares: the lake root and an inclusive UTC date range."""

from __future__ import annotations

import argparse
import datetime as dt

from src_clean.lake import DEFAULT_LAKE_ROOT


def add_lake_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lake", default=DEFAULT_LAKE_ROOT, help="lake root: a folder or s3://bucket/prefix"
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
