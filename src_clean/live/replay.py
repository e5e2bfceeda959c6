"""Replay a recorded day into landing folders as its feeds delivered it, bar by bar.

``Replay(market_file, news_file, landing).land_through(bar)`` writes, as new files, the
candles up to ``bar`` and the articles a feed had collected before its close (by
``collected_at``): what a live process would have found in its landing folders then. The
parity test and ``benchmarks/live_latency.py`` tick a ``LiveRunner`` after each call.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd

ARRIVAL_FIELD = "collected_at"  # when the sample feed had the article


class Replay:
    """Lands one day's candles and articles into ``landing/market`` and ``landing/news``."""

    def __init__(self, market_file: Path, news_file: Path, landing: Path) -> None:
        self.candles = Path(market_file).read_text().splitlines(keepends=True)
        opener = gzip.open if str(news_file).endswith(".gz") else open
        with opener(news_file, "rt") as handle:
            self.articles = [json.loads(line) for line in handle if line.strip()]
        self.landing = Path(landing)
        for folder in ("market", "news"):
            (self.landing / folder).mkdir(parents=True, exist_ok=True)
        self.landed_bar = pd.Timestamp.min.tz_localize("UTC")
        self.landed_cut = pd.Timestamp.min.tz_localize("UTC")
        self.files = 0

    def bars(self) -> list[pd.Timestamp]:
        """The open time of every candle of the day, in order."""
        return [pd.Timestamp(json.loads(line)["time"]) for line in self.candles]

    def land_through(self, bar: pd.Timestamp) -> None:
        """Candles in (last landed, ``bar``]; articles collected before ``bar``'s close."""
        self.files += 1
        lines = [
            line
            for line in self.candles
            if self.landed_bar < pd.Timestamp(json.loads(line)["time"]) <= bar
        ]
        cut = bar + pd.Timedelta(minutes=1)
        news = [a for a in self.articles if self.landed_cut <= pd.Timestamp(a[ARRIVAL_FIELD]) < cut]
        stem = f"{bar:%Y-%m-%d}-{self.files:05d}"
        (self.landing / "market" / f"SPX500_USD_M1_{stem}.ndjson").write_text("".join(lines))
        body = "".join(json.dumps(a) + "\n" for a in news)
        (self.landing / "news" / f"{stem}.jsonl").write_text(body)
        self.landed_bar, self.landed_cut = bar, cut
