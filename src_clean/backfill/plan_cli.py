"""``backfill-plan``: cut ``[start, end]`` into shards and write the run's shard manifest."""

from __future__ import annotations

import argparse
from pathlib import Path

from src_clean.backfill.config import DEFAULT_RUN_ID, SHARD_UNITS
from src_clean.backfill.shards import plan_backfill
from src_clean.backfill.state import jsonl_text, manifest_path
from src_clean.cli_args import add_date_range, add_lake_argument
from src_clean.lake import Lake


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_lake_argument(parser)
    add_date_range(parser, required=True)
    parser.add_argument("--shard", choices=SHARD_UNITS, default="month", help="shard length")
    parser.add_argument(
        "--run-id",
        default=DEFAULT_RUN_ID,
        help="names the run's state folder _state/backfill/<run id>/ (default: %(default)s)",
    )
    parser.add_argument("--out", type=Path, help="also write the manifest (JSONL) to this file")


def main(args: argparse.Namespace) -> int:
    lake = Lake(args.lake)
    shards = plan_backfill(lake, args.run_id, args.start, args.end, args.shard)
    if args.out:
        args.out.write_text(jsonl_text(shard.to_record() for shard in shards), encoding="utf-8")
    busy = [shard for shard in shards if shard.n_articles]
    print(
        f"backfill plan {args.run_id}: {len(shards)} {args.shard} shards {args.start}..{args.end}, "
        f"{len(busy)} with articles ({sum(s.n_articles for s in busy)} articles) -> "
        f"{lake.path(manifest_path(args.run_id))}"
    )
    return 0
