"""Sample data generator: synthetic SPX500_USD M1 candles and financial news with a planted effect.

Files written under ``--out`` (existing files with the same names are overwritten):

  market/SPX500_USD_M1_<YYYY-MM-DD>.ndjson   OANDA v20 mid candles, one JSON object per line,
      e.g. {"complete": true, "volume": 123, "time": "2024-01-02T14:31:00.000000000Z",
      "mid": {"o": "4701.2", "h": "4701.9", "l": "4700.8", "c": "4701.5"}}; one file per UTC
      date. The very last candle is "complete": false, like a live download.
  news/articles/<YYYY-MM-DD>/<article_id>.json   one scraped article per file: article_id,
      headline, body, url, source, published_at, collected_at (1-15 min later by default), language.
  news/jsonl/<YYYY-MM-DD>.jsonl.gz   the same articles, one gzipped JSON-lines file per date.
  news/truth.csv   article_id, published_at, collected_at, planted_sentiment (-1/0/1),
      effect_start and effect_minutes (empty when the article planted nothing), and
      pre_effect_start / pre_effect_minutes (the component before availability). For tests
      and evaluation only: the pipeline never reads it.

Market calendar (CME Globex hours in Chicago time, so it follows US daylight saving; no
holidays): trading from Sunday 17:00 to Friday 16:00 CT with a daily maintenance break
16:00-17:00 CT (21:00-22:00 UTC in summer, 22:00-23:00 UTC in winter). Minute log-return
vol is 1.5 bps overnight, 1.7 bps in European hours and follows a U-shape over the US cash
session 08:30-15:00 CT (3 bps at the open and close, about 2 bps at midday),
with fat tails; tick volume rises with activity (about 8x at the US open). A bar after a
closure opens with a gap; otherwise a bar opens at the previous close. About 0.3% of
minutes are missing, in runs of 1-3, mostly in quiet hours. Prices start at 4700 with a
0.1 tick.

Planted news effect (--news-effect-bps X, default 25, 0 = none): a positive (negative)
article adds +X (-X) bps to the log price, spread evenly over the next D minutes with D
uniform in [30, 60], starting with the first bar whose open is >= collected_at (its
availability) rounded up to the next minute, so a point-in-time model can trade it. A
second component (--pre-availability-bps Y, default 15) adds +Y (-Y) bps spread over the
minutes from publication to collection (--collect-delay-minutes, default 1-15): it is
over before anyone had the article, so no point-in-time model may find it. An article
whose start minute is not a trading minute (weekend, break) affects nothing; minutes of a
break inside the window carry no drift. Neutral articles affect nothing.

Deterministic for a seed: the market, news and effect durations use independent random
streams, so runs with different --news-effect-bps differ only by the planted drift.
"""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from src_clean.sample_data import market, news, session

NEWS_EFFECT_BPS = 25.0  # planted from each article's availability (tradable)
PRE_AVAILABILITY_BPS = 15.0  # planted between publication and availability (not tradable)
ARTICLES_PER_DAY = 12.0


@dataclass(frozen=True)
class SampleData:
    """Where the sample files went and how many were written."""

    market_dir: Path
    articles_dir: Path
    jsonl_dir: Path
    truth_csv: Path
    candles: int
    market_files: int
    articles: int
    planted_articles: int

    def summary(self) -> str:
        return (
            f"sample data: {self.candles} candles in {self.market_files} files "
            f"({self.market_dir}), {self.articles} articles ({self.planted_articles} with a "
            f"planted effect) in {self.articles_dir} and {self.jsonl_dir}"
        )


def generate_sample_data(
    out: Path,
    start: dt.date,
    days: int,
    seed: int = 7,
    news_effect_bps: float = NEWS_EFFECT_BPS,
    articles_per_day: float = ARTICLES_PER_DAY,
    pre_availability_bps: float = PRE_AVAILABILITY_BPS,
    collect_delay_minutes: tuple[int, int] = news.COLLECT_DELAY_MINUTES,
    article_files: bool = True,
) -> SampleData:
    """Write ``days`` UTC days of sample candles and news from ``start`` under ``out``
    (``article_files`` False: the daily JSONL files only, not one JSON file per article)."""
    if days < 1 or articles_per_day < 0:
        raise ValueError("days must be >= 1 and articles_per_day >= 0")
    if not 1 <= collect_delay_minutes[0] <= collect_delay_minutes[1]:
        raise ValueError("collect_delay_minutes must be (low, high) with 1 <= low <= high")
    trading = session.trading_minutes(start, days)
    if len(trading) == 0:
        raise ValueError(f"no trading minutes in {days} day(s) from {start}")
    streams = np.random.SeedSequence(seed).spawn(3)
    market_rng, news_rng, effect_rng = (np.random.default_rng(s) for s in streams)

    articles = news.generate_articles(
        news_rng, start, days, articles_per_day, collect_delay_minutes
    )
    sentiment = articles["sentiment"].to_numpy()
    effect_start = market.effect_start_minutes(articles["collected_at"], start)
    duration = effect_rng.integers(*market.EFFECT_MINUTES, len(articles), endpoint=True)
    pre_start = market.effect_start_minutes(articles["published_at"], start)
    pre_duration = effect_start - pre_start
    grid = session.grid_minutes(days)
    drift, planted = market.planted_drift(
        grid, trading, sentiment, effect_start, duration, news_effect_bps
    )
    pre_drift, pre_planted = market.planted_drift(
        grid, trading, sentiment, pre_start, pre_duration, pre_availability_bps
    )
    candles = market.simulate_candles(market_rng, start, trading, drift + pre_drift)

    out = Path(out)
    market_files = market.write_candle_files(candles, out / "market")
    raw_lines = news.raw_lines_by_day(articles)
    if article_files:
        news.write_article_files(raw_lines, out / "news" / "articles")
    news.write_jsonl_files(raw_lines, out / "news" / "jsonl")
    truth = _truth_table(articles, start, (effect_start, duration, planted)).assign(
        **_truth_table(articles, start, (pre_start, pre_duration, pre_planted)).add_prefix("pre_")[
            ["pre_effect_start", "pre_effect_minutes"]
        ]
    )
    truth.to_csv(out / "news" / "truth.csv", index=False)
    return SampleData(
        market_dir=out / "market",
        articles_dir=out / "news" / "articles",
        jsonl_dir=out / "news" / "jsonl",
        truth_csv=out / "news" / "truth.csv",
        candles=len(candles),
        market_files=len(market_files),
        articles=len(articles),
        planted_articles=int(planted.sum()),
    )


def _truth_table(
    articles: pd.DataFrame,
    start: dt.date,
    effect: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> pd.DataFrame:
    """The planted sentiment and drift window (start minute, minutes, planted) of every
    article."""
    effect_start, duration, planted = effect
    origin = pd.Timestamp(start.isoformat(), tz="UTC")
    window_start = pd.Series(origin + pd.to_timedelta(effect_start, unit="min"))
    return pd.DataFrame(
        {
            "article_id": articles["article_id"],
            "published_at": articles["published_at"].dt.strftime(news.ISO_UTC),
            "collected_at": articles["collected_at"].dt.strftime(news.ISO_UTC),
            "planted_sentiment": articles["sentiment"],
            "effect_start": window_start.dt.strftime(news.ISO_UTC).where(planted),
            "effect_minutes": pd.Series(duration).astype("Int64").where(planted),
        }
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__
    parser.add_argument(
        "--start",
        type=dt.date.fromisoformat,
        default=dt.date(2024, 1, 1),
        help="first UTC date (default 2024-01-01)",
    )
    parser.add_argument("--days", type=int, default=30, help="number of UTC days (default 30)")
    parser.add_argument(
        "--out", type=Path, default=Path("data_clean/raw"), help="output folder (data_clean/raw)"
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument(
        "--news-effect-bps",
        type=float,
        default=NEWS_EFFECT_BPS,
        help="drift planted by each positive/negative article from its availability during "
        "trading, spread over the next 30-60 minutes (default %(default)g; 0 = no effect)",
    )
    parser.add_argument(
        "--pre-availability-bps",
        type=float,
        default=PRE_AVAILABILITY_BPS,
        help="drift each positive/negative article plants between its publication and its "
        "collection, which no point-in-time model may find (default %(default)g; 0 = none)",
    )
    parser.add_argument(
        "--collect-delay-minutes",
        type=int,
        nargs=2,
        metavar=("LOW", "HIGH"),
        default=news.COLLECT_DELAY_MINUTES,
        help="collected_at follows published_at by a uniform delay in [LOW, HIGH] minutes "
        "(default %(default)s); the pre-availability drift spans it",
    )
    parser.add_argument(
        "--articles-per-day",
        type=float,
        default=ARTICLES_PER_DAY,
        help="mean articles per day (Poisson, default %(default)g)",
    )


def main(args: argparse.Namespace) -> int:
    result = generate_sample_data(
        args.out,
        args.start,
        args.days,
        seed=args.seed,
        news_effect_bps=args.news_effect_bps,
        articles_per_day=args.articles_per_day,
        pre_availability_bps=args.pre_availability_bps,
        collect_delay_minutes=tuple(args.collect_delay_minutes),
    )
    print(result.summary())
    return 0
