"""``python -m src_clean fetch-news``: GDELT DOC 2.0, GDELT GKG history or RSS articles into
per-day landing files.

``fetch-news --source gdelt|gdelt-gkg|rss --start D --end D --out LANDING [--api-url URL]
[--query Q] [--min-interval S] [--master-url URL] [--workers N] [--gkg-themes T,...]
[--gkg-organizations O,...] [--feeds FILE] [--fetch-body] [--no-progress]``. Exit 0 when every day
(or feed) succeeded, 1 when some failed (rerun to resume), 2 on a user error.
"""

from __future__ import annotations

import argparse

from src_clean.acquisition import cli_options, gdelt, gkg, rss
from src_clean.acquisition.bodies import BodyFetcher, BodyLimits
from src_clean.acquisition.gkg_format import GkgFilter
from src_clean.errors import UserError

BODY_DEFAULTS = BodyLimits()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        choices=["gdelt", "gdelt-gkg", "rss"],
        default="gdelt",
        help="gdelt: the DOC 2.0 API (about the last 3 months); gdelt-gkg: GDELT 2.0's GKG "
        "files (history since 2015-02-18); rss: --feeds",
    )
    cli_options.add_common_arguments(parser)
    parser.add_argument("--api-url", default=gdelt.API_URL, help="GDELT DOC 2.0 endpoint")
    parser.add_argument(
        "--query", default=gdelt.DEFAULT_QUERY, help="GDELT query (default: %(default)s)"
    )
    parser.add_argument(
        "--min-interval",
        type=float,
        default=gdelt.DEFAULT_MIN_INTERVAL_S,
        help="seconds between GDELT requests (GDELT asks for 5)",
    )
    parser.add_argument(
        "--refetch", action="store_true", help="fetch GDELT days again even when already final"
    )
    history = parser.add_argument_group("--source gdelt-gkg")
    history.add_argument("--master-url", default=gkg.MASTER_URL, help="GDELT's masterfilelist.txt")
    history.add_argument(
        "--workers", type=int, default=gkg.DEFAULT_WORKERS, help="GKG files downloaded at once"
    )
    history.add_argument(
        "--gkg-themes",
        default=",".join(GkgFilter().themes),
        help="keep rows with any of these GKG themes (comma-separated; default: %(default)s)",
    )
    history.add_argument(
        "--gkg-organizations",
        default=",".join(GkgFilter().organizations),
        help="... or any of these organisations, as GKG names them (default: %(default)s)",
    )
    parser.add_argument("--feeds", help="with --source rss: file of feed URLs, one per line")
    body = parser.add_argument_group("article text (--fetch-body; off by default)")
    body.add_argument(
        "--fetch-body",
        action="store_true",
        help="download each article page (robots.txt obeyed) and extract its text",
    )
    body.add_argument("--body-max-bytes", type=int, default=BODY_DEFAULTS.max_bytes)
    body.add_argument("--body-timeout", type=float, default=BODY_DEFAULTS.timeout_s)
    body.add_argument(
        "--body-min-interval",
        type=float,
        default=BODY_DEFAULTS.min_interval_s,
        help="seconds between two page requests to one site",
    )


def main(args: argparse.Namespace) -> int:
    if args.source == "rss" and not args.feeds:
        raise UserError("--source rss needs --feeds FILE", "list one feed URL per line")
    feeds = rss.read_feed_list(args.feeds) if args.source == "rss" else []
    bodies = None
    if args.fetch_body:
        limits = BodyLimits(args.body_max_bytes, args.body_timeout, args.body_min_interval)
        bodies = BodyFetcher(limits)
    unit = {"gdelt": "req", "gdelt-gkg": "file", "rss": "feed"}[args.source]
    bar = cli_options.progress(args, unit)
    common = {
        "start": args.start,
        "end": args.end,
        "policy": cli_options.retry_policy(args),
        "progress": bar,
        "bodies": bodies,
    }
    try:
        if args.source == "rss":
            report = rss.fetch_rss(args.out, feeds=feeds, **common)
        elif args.source == "gdelt-gkg":
            common.pop("bodies")
            keep = GkgFilter(_names(args.gkg_themes), _names(args.gkg_organizations))
            report = gkg.fetch_gkg(
                args.out,
                master_url=args.master_url,
                keep=keep,
                workers=args.workers,
                refetch=args.refetch,
                **common,
            )
        else:
            report = gdelt.fetch_gdelt(
                args.out,
                api_url=args.api_url,
                query=args.query,
                min_interval_s=args.min_interval,
                refetch=args.refetch,
                **common,
            )
    finally:
        if bodies:
            bodies.close()
    return cli_options.finish(report, bar)


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())
