"""``backfill-shard``: score one shard with checkpoints; resumable, behind a circuit breaker.

Takes the ``silver-sentiment`` options (model, text mode, device, ...) plus the shard.
Exit status: 0 when every article was attempted, ``EXIT_CIRCUIT_OPEN`` (3) when the
circuit breaker stopped the shard (an AWS Batch retry strategy can match on it).
"""

from __future__ import annotations

import argparse
import functools
import sys

from src_clean.backfill.circuit_breaker import CircuitOpenError
from src_clean.backfill.config import DEFAULT_CHECKPOINT_EVERY, DEFAULT_RUN_ID
from src_clean.backfill.runner import ShardJob, run_shard
from src_clean.backfill.shards import shard_bounds
from src_clean.data_pipelines.silver import sentiment as sentiment_stage
from src_clean.lake import Lake

EXIT_CIRCUIT_OPEN = 3


def shard_id_arg(value: str) -> str:
    """argparse type: a month (``YYYY-MM``) or day (``YYYY-MM-DD``) shard id."""
    try:
        shard_bounds(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sentiment_stage.add_arguments(parser)
    parser.add_argument(
        "--shard-id",
        type=shard_id_arg,
        required=True,
        help="YYYY-MM (a month) or YYYY-MM-DD (a day), clipped to --start/--end",
    )
    parser.add_argument(
        "--run-id",
        default=DEFAULT_RUN_ID,
        help="the run whose checkpoint to write and resume (default: %(default)s)",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=DEFAULT_CHECKPOINT_EVERY,
        help="articles per chunk; scores and checkpoint are written after each",
    )


def main(args: argparse.Namespace) -> int:
    job = ShardJob.for_shard(
        args.run_id,
        args.shard_id,
        args.start,
        args.end,
        text_mode=args.text_mode,
        checkpoint_every=args.checkpoint_every,
    )
    lake = Lake(args.lake)
    load = functools.partial(
        sentiment_stage.load_recorded_scorer,
        lake,
        args.sentiment_model,
        **sentiment_stage.scorer_options(args),
    )
    try:
        report = run_shard(lake, job, load)
    except CircuitOpenError as exc:
        print(f"backfill-shard {args.shard_id}: {exc}", file=sys.stderr)
        return EXIT_CIRCUIT_OPEN
    print(report.summary())
    return 0
