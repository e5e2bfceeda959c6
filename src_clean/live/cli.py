"""``python -m src_clean live``: decide each closed bar as it lands (a long-running loop).

    python -m src_clean live --lake data_clean --landing-market landing/market \\
        --landing-news landing/news

Defaults come from the settings (``SP500_LAKE_ROOT``, ``SP500_LANDING_*``,
``SP500_SENTIMENT_MODEL``, ``SP500_REGISTERED_MODEL``, ``SP500_CHAMPION_ALIAS``,
``MLFLOW_TRACKING_URI``). ``--ticks N`` stops after N polls (a one-off catch-up, tests).
``--health`` checks the running loop's heartbeat instead (the compose health check;
``live.health``).
"""

from __future__ import annotations

import argparse

import pandas as pd

from src_clean import settings
from src_clean.acquisition import gdelt
from src_clean.acquisition.oanda import API_URLS
from src_clean.cli_args import add_lake_argument, positive_int
from src_clean.defaults import tracking_uri
from src_clean.lake import Lake
from src_clean.live import health
from src_clean.live.feeds import NEWS_EVERY_S, FeedConfig
from src_clean.live.runner import DEADLINE_S, POLL_S, LiveConfig, LiveRunner


def add_arguments(parser: argparse.ArgumentParser) -> None:
    current = settings.current()
    add_lake_argument(parser)
    parser.add_argument("--landing-market", default=current.landing_market, help="candle files")
    parser.add_argument("--landing-news", default=current.landing_news, help="article files")
    parser.add_argument("--sentiment-model", default=current.sentiment_model)
    parser.add_argument("--mlflow-tracking-uri", default=current.mlflow_tracking_uri)
    parser.add_argument("--registered-model", default=current.registered_model)
    parser.add_argument("--champion-alias", default=current.champion_alias)
    parser.add_argument("--poll-s", type=float, default=POLL_S, help="seconds between polls")
    parser.add_argument(
        "--deadline-s",
        type=float,
        default=DEADLINE_S,
        help="a bar not decided this long after its close is written as missed",
    )
    parser.add_argument(
        "--fetch-market",
        action="store_true",
        help="fetch OANDA candles each tick (token: OANDA_API_TOKEN or oanda_default)",
    )
    parser.add_argument(
        "--fetch-news",
        type=_sources,
        default=(),
        help="news feeds to fetch, comma-separated: gdelt (DOC's latest batches), rss",
    )
    parser.add_argument(
        "--rss-feeds", default=current.rss_feeds, help="with --fetch-news rss: a file of feeds"
    )
    parser.add_argument(
        "--oanda-api-url",
        default=current.oanda_api_url or API_URLS[current.oanda_environment],
        help="OANDA v20 base URL (default: the host of SP500_OANDA_ENVIRONMENT, practice)",
    )
    parser.add_argument("--gdelt-api-url", default=current.gdelt_api_url or gdelt.API_URL)
    parser.add_argument("--gdelt-query", default=current.gdelt_query or gdelt.DEFAULT_QUERY)
    parser.add_argument(
        "--gdelt-min-interval-s",
        type=float,
        default=gdelt.DEFAULT_MIN_INTERVAL_S
        if current.gdelt_min_interval_s is None
        else current.gdelt_min_interval_s,
        help="seconds between GDELT requests (GDELT asks for 5)",
    )
    parser.add_argument(
        "--news-every-s", type=float, default=NEWS_EVERY_S, help="seconds between news fetches"
    )
    parser.add_argument("--ticks", type=positive_int, help="stop after this many polls")
    parser.add_argument(
        "--lease-timeout-s",
        type=float,
        help="give up (exit 2) when another live process holds the lease this long "
        "(default: wait; a scheduled run sets it)",
    )
    parser.add_argument(
        "--health",
        action="store_true",
        help="check the running loop's heartbeat instead: exit 0 healthy, 1 with the reason",
    )
    parser.add_argument(
        "--health-max-age-s",
        type=float,
        default=health.MAX_AGE_S,
        help="with --health: the oldest heartbeat that counts as alive",
    )


def main(args: argparse.Namespace) -> int:
    if args.health:
        beat = Lake(args.lake).local_path(health.HEARTBEAT)
        reason = health.check(beat, pd.Timestamp.now(tz="UTC"), args.health_max_age_s)
        print(f"unhealthy: {reason}" if reason else f"healthy: {beat}")
        return 1 if reason else 0
    config = LiveConfig(
        lake_root=args.lake,
        landing_market=args.landing_market,
        landing_news=args.landing_news,
        sentiment_model=args.sentiment_model,
        tracking_uri=tracking_uri(args.lake, args.mlflow_tracking_uri),
        model_name=args.registered_model,
        alias=args.champion_alias,
        poll_s=args.poll_s,
        deadline_s=args.deadline_s,
        feeds=FeedConfig(
            market=args.fetch_market,
            news=args.fetch_news,
            oanda_api_url=args.oanda_api_url,
            gdelt_api_url=args.gdelt_api_url,
            gdelt_query=args.gdelt_query,
            gdelt_min_interval_s=args.gdelt_min_interval_s,
            rss_feeds=args.rss_feeds,
            news_every_s=args.news_every_s,
        ),
        lease_timeout_s=args.lease_timeout_s,
    )
    failed = LiveRunner(config).run(ticks=args.ticks)
    return 1 if failed else 0


def _sources(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())
