"""``python -m src_clean fetch-market``: OANDA v20 candles into per-day landing files.

``fetch-market --source oanda --instrument SPX500_USD --granularity M1 --start D --end D
--out LANDING [--api-url URL] [--environment practice|live] [--price M|MBA] [--refetch]
[--no-progress]``. The token comes from ``OANDA_API_TOKEN`` or the Airflow connection
``oanda_default`` (its password), never from the command line. Exit 0 when every day was
written or skipped as final, 1 when some day failed (rerun to resume), 2 on a user error
(no token, a request OANDA refuses, bad arguments).
"""

from __future__ import annotations

import argparse

from src_clean.acquisition import cli_options
from src_clean.acquisition.credentials import oanda_token
from src_clean.acquisition.oanda import API_URLS, GRANULARITY_SECONDS, fetch_market


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", choices=["oanda"], default="oanda", help="candle provider")
    parser.add_argument("--instrument", default="SPX500_USD")
    parser.add_argument("--granularity", default="M1", choices=list(GRANULARITY_SECONDS))
    cli_options.add_common_arguments(parser)
    parser.add_argument(
        "--environment",
        choices=list(API_URLS),
        default="practice",
        help="OANDA host the token belongs to (default practice)",
    )
    parser.add_argument("--api-url", default=None, help="API base URL (overrides --environment)")
    parser.add_argument(
        "--price", default="M", help="M (mid, default), B, A or a combination such as MBA"
    )
    parser.add_argument(
        "--refetch", action="store_true", help="fetch days again even when already final"
    )


def main(args: argparse.Namespace) -> int:
    token = oanda_token()
    bar = cli_options.progress(args, "req")
    report = fetch_market(
        args.out,
        token=token,
        instrument=args.instrument,
        granularity=args.granularity,
        start=args.start,
        end=args.end,
        api_url=args.api_url or API_URLS[args.environment],
        price=args.price,
        refetch=args.refetch,
        policy=cli_options.retry_policy(args),
        progress=bar,
    )
    return cli_options.finish(report, bar)
