"""The live loop's own fetching: the batch fetchers, asked for what is new, every tick.

- market (``--fetch-market``): OANDA v20 candles of the days not final yet (today, and
  yesterday until its first fetch after midnight), one request a tick, into the same
  per-day landing files ``fetch-market`` writes;
- news (``--fetch-news gdelt,rss``), at most every ``news_every_s`` (GDELT publishes every
  15 minutes and asks for one request per 5 s): GDELT DOC's latest batches
  (``gdelt.fetch_latest``, each article stamped with when it arrived here) and the RSS
  feeds' entries of today and yesterday (``rss.fetch_rss``).

A feed that fails is logged and reported; the tick goes on with what had landed, so a bar
is still decided and its row records each feed's lag (``market_lag_s``, ``news_lag_s``),
which the service turns into a stale state past its limits. Requests use a short retry
policy: a feed that is down costs a tick seconds, never the 90 s deadline.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from src_clean.acquisition import gdelt
from src_clean.acquisition.credentials import oanda_token
from src_clean.acquisition.http import ApiError, FetchFailed, RetryPolicy
from src_clean.acquisition.oanda import API_URLS, fetch_market
from src_clean.acquisition.report import FetchReport
from src_clean.acquisition.rss import fetch_rss, read_feed_list
from src_clean.errors import UserError

log = logging.getLogger(__name__)

NEWS_SOURCES = ("gdelt", "rss")
NEWS_EVERY_S = 60.0
# one attempt and two retries within 20 s: a tick must stay well inside the deadline
LIVE_POLICY = RetryPolicy(attempts=3, deadline_s=20.0, initial_wait_s=1.0, max_wait_s=5.0)


@dataclasses.dataclass(frozen=True)
class FeedConfig:
    """Which feeds the live loop fetches itself (none: it reads what others land)."""

    market: bool = False
    news: tuple[str, ...] = ()
    instrument: str = "SPX500_USD"
    oanda_api_url: str = API_URLS["practice"]
    gdelt_api_url: str = gdelt.API_URL
    gdelt_query: str = gdelt.DEFAULT_QUERY
    gdelt_min_interval_s: float = gdelt.DEFAULT_MIN_INTERVAL_S
    rss_feeds: str | None = None  # a file of feed URLs, as ``fetch-news --feeds``
    news_every_s: float = NEWS_EVERY_S
    policy: RetryPolicy = LIVE_POLICY

    def __post_init__(self) -> None:
        unknown = set(self.news) - set(NEWS_SOURCES)
        if unknown:
            raise UserError(f"unknown news feeds {sorted(unknown)}", "use gdelt and/or rss")
        if "rss" in self.news and not self.rss_feeds:
            raise UserError("--fetch-news rss needs --rss-feeds FILE", "one feed URL per line")
        if "gdelt" in self.news and self.news_every_s < self.gdelt_min_interval_s:
            raise UserError(
                f"--news-every-s {self.news_every_s:g} is below GDELT's limit of one request "
                f"every {self.gdelt_min_interval_s:g} s",
                f"use --news-every-s {self.gdelt_min_interval_s:g} or more (GDELT publishes "
                "every 15 minutes)",
            )


def describe_failures(errors: dict[str, str]) -> str:
    """``"gdelt feed failed: <why>; ..."`` (empty when every feed was fetched)."""
    return "; ".join(f"{feed} feed failed: {why}" for feed, why in errors.items())


class Feeds:
    """Fetches the configured feeds into the landing folders; ``poll`` once per tick."""

    def __init__(self, config: FeedConfig, landing_market: str, landing_news: str) -> None:
        self.config = config
        self.landing_market, self.landing_news = landing_market, landing_news
        self.token = oanda_token() if config.market else ""  # no token: refused at start
        self.rss_feeds = read_feed_list(config.rss_feeds) if "rss" in config.news else []
        self._news_asked: dt.datetime | None = None

    @property
    def enabled(self) -> bool:
        return self.config.market or bool(self.config.news)

    def poll(self, now: dt.datetime) -> dict[str, str]:
        """Fetch what is due at ``now``; each failed feed and why (empty: all fetched)."""
        errors: dict[str, str] = {}
        if self.config.market:
            self._run("market", errors, self._market, now)
        due = self._news_asked is None or (
            (now - self._news_asked).total_seconds() >= self.config.news_every_s
        )
        if self.config.news and due:
            self._news_asked = now
            for source in self.config.news:
                self._run(source, errors, getattr(self, f"_{source}"), now)
        return errors

    def _run(self, feed: str, errors: dict[str, str], fetch, now: dt.datetime) -> None:
        try:
            report: FetchReport = fetch(now)
        except (FetchFailed, ApiError, UserError) as exc:
            errors[feed] = str(exc).splitlines()[0]
        else:
            if report.failed:
                errors[feed] = "; ".join(f"{k}: {v}" for k, v in report.failed.items())
            log.debug("%s", report.summary())
        if feed in errors:
            log.warning("live feed %s failed: %s", feed, errors[feed])

    def _market(self, now: dt.datetime) -> FetchReport:
        return fetch_market(
            self.landing_market,
            token=self.token,
            instrument=self.config.instrument,
            start=(now - dt.timedelta(days=1)).date(),
            end=now.date(),
            api_url=self.config.oanda_api_url,
            policy=self.config.policy,
        )

    def _gdelt(self, now: dt.datetime) -> FetchReport:
        return gdelt.fetch_latest(
            self.landing_news,
            now=now,
            api_url=self.config.gdelt_api_url,
            query=self.config.gdelt_query,
            min_interval_s=self.config.gdelt_min_interval_s,
            policy=self.config.policy,
        )

    def _rss(self, now: dt.datetime) -> FetchReport:
        yesterday = (now - dt.timedelta(days=1)).date()
        return fetch_rss(
            self.landing_news,
            feeds=self.rss_feeds,
            start=yesterday,
            end=now.date(),
            policy=self.config.policy,
        )
