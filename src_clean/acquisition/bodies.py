"""Article text for ``--fetch-body``: polite downloads, then extraction with trafilatura.

Polite means: robots.txt is read once per site and obeyed (its ``Crawl-delay`` too); requests
to one site are at least ``min_interval_s`` apart; a page stops downloading past
``max_bytes`` or ``timeout_s``; only HTML is read. A page that cannot be had is not an error:
the article keeps its headline, and the outcome is counted (``robots_disallowed``,
``too_large``, ``timeout``, ``http_404``, ...). No retries: bodies are optional, and the
scorer uses headlines by default. Redirects are followed by hand, at most
``MAX_REDIRECTS``: every hop is a request like the first, so the robots.txt and the
spacing of the site it lands on apply to it (``requests`` would follow them unchecked).

robots.txt answers follow RFC 9309: 4xx means no rules (allowed), 5xx or no answer means
the site is unavailable for crawling (disallowed); 401/403 are taken as disallowed, as
Python's ``urllib.robotparser`` does.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from typing import Any
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import requests

from src_clean import __version__
from src_clean.acquisition.http import RateLimiter

USER_AGENT = f"sp500-news-signals/{__version__}"
ROBOTS_MAX_BYTES = 512 * 1024
MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class PageSkipped(Exception):
    """Why a page was not read: the outcome name that is counted."""


class Redirected(Exception):
    """The page moved: the absolute URL it points to."""


@dataclasses.dataclass(frozen=True)
class BodyLimits:
    """Caps per page and the least time between two requests to one site."""

    max_bytes: int = 2_000_000
    timeout_s: float = 15.0
    min_interval_s: float = 2.0


class BodyFetcher:
    """Adds ``body`` (extracted main text) to articles whose page can be read politely."""

    def __init__(self, limits: BodyLimits | None = None, user_agent: str = USER_AGENT) -> None:
        self.limits = limits or BodyLimits()
        self.user_agent = user_agent
        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent
        self.robots: dict[str, RobotFileParser] = {}
        self.limiters: dict[str, RateLimiter] = {}
        self.outcomes: Counter[str] = Counter()

    def add_bodies(self, articles: list[dict[str, Any]]) -> str:
        """Set ``body`` where a page yields text; a summary of this call's outcomes."""
        outcomes: Counter[str] = Counter()
        for article in articles:
            outcome, text = self.body(article["url"])
            outcomes[outcome] += 1
            if text:
                article["body"] = text
        self.outcomes.update(outcomes)
        return "bodies: " + (", ".join(f"{n} {k}" for k, n in sorted(outcomes.items())) or "none")

    def body(self, url: str) -> tuple[str, str | None]:
        """(outcome, text): outcome ``ok`` with the page's main text, or why there is none."""
        import trafilatura  # heavy; only with --fetch-body

        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                return "bad_url", None
            site = f"{parts.scheme}://{parts.netloc}"
            try:
                if not self._robots(site).can_fetch(self.user_agent, url):
                    return "robots_disallowed", None
                html = self._download(site, url, html_only=True, follow_redirects=False)
            except Redirected as moved:
                url = str(moved)
                continue
            except PageSkipped as skipped:
                return str(skipped), None
            text = trafilatura.extract(html, url=url, include_comments=False, include_tables=False)
            return ("ok", text) if text else ("no_text", None)
        return "too_many_redirects", None

    def _robots(self, site: str) -> RobotFileParser:
        """The parsed robots.txt of ``site`` (fetched once)."""
        if site in self.robots:
            return self.robots[site]
        parser = RobotFileParser(f"{site}/robots.txt")
        try:
            text = self._download(site, f"{site}/robots.txt", max_bytes=ROBOTS_MAX_BYTES)
            parser.parse(text.decode("utf-8", "replace").splitlines())
        except PageSkipped as skipped:
            status = str(skipped)
            if status in ("http_401", "http_403") or not status.startswith("http_4"):
                parser.disallow_all = True
            else:
                parser.allow_all = True
        delay = parser.crawl_delay(self.user_agent)
        if delay:
            limiter = self._limiter(site)
            limiter.min_interval_s = max(limiter.min_interval_s, float(delay))
        self.robots[site] = parser
        return parser

    def _limiter(self, site: str) -> RateLimiter:
        return self.limiters.setdefault(site, RateLimiter(self.limits.min_interval_s))

    def _download(
        self,
        site: str,
        url: str,
        *,
        html_only: bool = False,
        max_bytes: int | None = None,
        follow_redirects: bool = True,
    ) -> bytes:
        """The body of ``url`` within the caps; ``PageSkipped`` with the reason otherwise,
        ``Redirected`` for a page that moved when ``follow_redirects`` is off (a robots.txt
        is followed where it moved: RFC 9309 asks crawlers to follow its redirects)."""
        cap = max_bytes or self.limits.max_bytes
        deadline = time.monotonic() + self.limits.timeout_s
        limiter = self._limiter(site)
        limiter.wait()
        try:
            with self.session.get(
                url, stream=True, timeout=self.limits.timeout_s, allow_redirects=follow_redirects
            ) as response:
                location = response.headers.get("Location")
                if response.status_code in REDIRECTS and location:
                    raise Redirected(urljoin(url, location))
                if response.status_code != 200:
                    raise PageSkipped(f"http_{response.status_code}")
                if html_only and "html" not in response.headers.get("Content-Type", "html"):
                    raise PageSkipped("not_html")
                if int(response.headers.get("Content-Length") or 0) > cap:
                    raise PageSkipped("too_large")
                chunks, size = [], 0
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > cap:
                        raise PageSkipped("too_large")
                    if time.monotonic() > deadline:
                        raise PageSkipped("timeout")
                    chunks.append(chunk)
                return b"".join(chunks)
        except requests.Timeout:
            raise PageSkipped("timeout") from None
        except requests.RequestException:
            raise PageSkipped("unreachable") from None
        finally:
            limiter.done()

    def close(self) -> None:
        self.session.close()
