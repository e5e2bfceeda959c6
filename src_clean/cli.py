"""One CLI for every stage: ``python -m src_clean <subcommand> [--help]``.

Each subcommand lives in a stage module that defines ``add_arguments(parser)`` and
``main(args) -> int``. Only the chosen module is imported, so ``train`` never imports
torch and ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from src_clean import settings
from src_clean.cli_args import check_date_range
from src_clean.errors import USER_ERROR_EXIT, OperationalError, UserError
from src_clean.logging_setup import configure_logging
from src_clean.redact import redact

COMMANDS: dict[str, tuple[str, str]] = {
    "sample-data": ("src_clean.sample_data", "Generate sample SPX500 candles and news."),
    "fetch-market": (
        "src_clean.acquisition.fetch_market",
        "Fetch OANDA v20 candles into per-day landing files.",
    ),
    "fetch-news": (
        "src_clean.acquisition.fetch_news",
        "Fetch GDELT or RSS articles into per-day landing files.",
    ),
    "bronze-market": ("src_clean.data_pipelines.bronze.market", "Ingest raw candles into bronze."),
    "bronze-news": ("src_clean.data_pipelines.bronze.news", "Ingest raw articles into bronze."),
    "silver-market": (
        "src_clean.data_pipelines.silver.market",
        "Compute causal market features.",
    ),
    "silver-sentiment": (
        "src_clean.data_pipelines.silver.sentiment",
        "Score new articles with a sentiment model.",
    ),
    "download-model": (
        "src_clean.data_pipelines.silver.download_model",
        "Save a Hugging Face checkpoint for offline use.",
    ),
    "export-onnx": (
        "src_clean.data_pipelines.silver.export_onnx",
        "Export a checkpoint to ONNX (optionally int8) for ONNX Runtime serving.",
    ),
    "gold-news": ("src_clean.data_pipelines.gold.news", "Aggregate news signals per bar."),
    "gold-training": (
        "src_clean.data_pipelines.gold.training",
        "Join features, news signals and labels.",
    ),
    "monitor": (
        "src_clean.monitoring.monitor",
        "Check the day's data quality, drift and the champion's live record.",
    ),
    "train": ("src_clean.training.train", "Train and track the XGBoost models in MLflow."),
    "backfill-plan": (
        "src_clean.backfill.plan_cli",
        "Cut a date range into sentiment backfill shards (manifest JSONL).",
    ),
    "backfill-shard": (
        "src_clean.backfill.shard_cli",
        "Score one backfill shard with checkpoints and a circuit breaker.",
    ),
    "lake-maintain": (
        "src_clean.lake_maintenance",
        "Compact, checkpoint and vacuum the lake's Delta tables.",
    ),
    "lake-migrate": (
        "src_clean.lake_migrate",
        "Convert a hive-partitioned Parquet lake to Delta tables in place.",
    ),
    "sentiment-worker": (
        "src_clean.worker.cli",
        "Score raw article files queued in DynamoDB (long-running, for GPU boxes).",
    ),
    "serve": (
        "src_clean.serving.cli",
        "Serve sentiment predictions and the champion's signal over HTTP (FastAPI).",
    ),
    "live": (
        "src_clean.live.cli",
        "Decide each closed bar as it lands: features, the champion's prediction, a row "
        "in live/decisions (long-running).",
    ),
    "settings": (
        "src_clean.settings_cli",
        "Print every setting's effective value and where it came from (secrets redacted).",
    ),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser; with ``command``, only that subcommand's module is imported."""
    parser = argparse.ArgumentParser(prog="python -m src_clean", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of user errors too"
    )
    sub = parser.add_subparsers(dest="command", metavar="<subcommand>", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = importlib.import_module(module_name)
            module.add_arguments(sp)
            sp.set_defaults(_main=module.main)
    return parser


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``argv`` (importing only the chosen subcommand's module) and set up logging."""
    argv = list(argv)
    command = next((a for a in argv if a in COMMANDS), None)
    with settings.using(settings.current()):  # resolved once for every option's default
        args = build_parser(command).parse_args(argv)
    configure_logging(verbose=args.verbose)
    return args


def run(args: argparse.Namespace) -> int:
    """Run the parsed subcommand; a UserError propagates to the caller.

    A stage's ``main`` returns its report: printed here as its line for people
    (``summary()``) and its line for machines (``to_json()``), whichever it has. Other
    commands return their exit status."""
    check_date_range(getattr(args, "start", None), getattr(args, "end", None))
    result = args._main(args)
    if result is None or isinstance(result, int):
        return int(result or 0)
    for line in ("summary", "to_json"):
        if callable(getattr(result, line, None)):
            print(getattr(result, line)())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parse(argv)
    except UserError as exc:  # a bad SP500_* value, before the options are known
        if "--debug" in argv:
            raise
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return USER_ERROR_EXIT
    try:
        return run(args)
    except UserError as exc:
        if args.debug:
            raise
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return USER_ERROR_EXIT
    except OperationalError as exc:  # the world, not the input: one line, exit 1
        if args.debug:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: {redact(first)}. Fix: {exc.FIX}", file=sys.stderr)
        return 1
    except Exception:  # the traceback goes through the redacting log handler
        if args.debug:
            raise
        logging.getLogger("src_clean").exception("%s failed", args.command)
        return 1
