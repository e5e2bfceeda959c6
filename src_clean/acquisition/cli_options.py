"""Options both fetch commands share: dates, landing folder, progress and the retry policy."""

from __future__ import annotations

import argparse

from src_clean.acquisition.http import RetryPolicy
from src_clean.acquisition.progress import Progress
from src_clean.acquisition.report import FetchReport
from src_clean.cli_args import add_date_range

DEFAULT_POLICY = RetryPolicy()


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    add_date_range(parser, "UTC day to fetch", required=True)
    parser.add_argument("--out", required=True, help="landing folder (local path or s3:// prefix)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    retry = parser.add_argument_group("retries (429, 5xx, timeouts, dropped connections)")
    retry.add_argument(
        "--max-attempts", type=int, default=DEFAULT_POLICY.attempts, help="per request"
    )
    retry.add_argument(
        "--retry-deadline",
        type=float,
        default=DEFAULT_POLICY.deadline_s,
        help="seconds per request; a retry wait that would end past it is not started",
    )
    retry.add_argument(
        "--retry-wait",
        type=float,
        default=DEFAULT_POLICY.initial_wait_s,
        help="first backoff in seconds (doubles per retry, plus jitter; at least Retry-After)",
    )
    retry.add_argument(
        "--max-retry-wait", type=float, default=DEFAULT_POLICY.max_wait_s, help="seconds"
    )


def retry_policy(args: argparse.Namespace) -> RetryPolicy:
    return RetryPolicy(
        attempts=max(1, args.max_attempts),
        deadline_s=args.retry_deadline,
        initial_wait_s=args.retry_wait,
        max_wait_s=args.max_retry_wait,
    )


def progress(args: argparse.Namespace, unit: str) -> Progress:
    return Progress(unit, enabled=not args.no_progress)


def finish(report: FetchReport, bar: Progress) -> int:
    """Close the bar, print the summary and the report JSON; the exit status."""
    bar.close()
    print(report.summary())
    print(report.to_json())
    return report.exit_code
