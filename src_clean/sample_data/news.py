"""Synthetic financial news: article times, planted sentiment, texts, and the raw files.

Each article is written twice, like two scrapes of the same feed: one JSON file per article
under ``articles/<YYYY-MM-DD>/<article_id>.json`` and one gzipped JSON-lines file per date
under ``jsonl/<YYYY-MM-DD>.jsonl.gz`` (UTC date of ``published_at``).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from src_clean.sample_data import templates

SENTIMENTS = np.array([1, -1, 0], dtype=np.int8)
SENTIMENT_SHARES = (0.35, 0.35, 0.30)
SECONDS_PER_DAY = 86_400
COLLECT_DELAY_MINUTES = (1, 15)  # collected_at is 1-15 minutes after published_at
LANGUAGE = "en"
RAW_FIELDS = (
    "article_id",
    "headline",
    "body",
    "url",
    "source",
    "published_at",
    "collected_at",
    "language",
)
ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"


def generate_articles(
    rng: np.random.Generator,
    start: dt.date,
    days: int,
    per_day: float,
    collect_delay_minutes: tuple[int, int] = COLLECT_DELAY_MINUTES,
) -> pd.DataFrame:
    """Articles sorted by ``published_at``: a Poisson number per UTC day at uniform times
    (nights and weekends included), each with a planted ``sentiment`` in {-1, 0, 1} and
    collected a uniform ``collect_delay_minutes`` (to the second) after publication.

    Columns: RAW_FIELDS (times as UTC timestamps) plus ``sentiment``.
    """
    counts = rng.poisson(per_day, days)
    n = int(counts.sum())
    seconds = np.repeat(np.arange(days), counts) * SECONDS_PER_DAY
    seconds = np.sort(seconds + rng.integers(0, SECONDS_PER_DAY, n))
    published = pd.Timestamp(start.isoformat(), tz="UTC") + pd.to_timedelta(seconds, unit="s")
    low, high = (60 * minutes for minutes in collect_delay_minutes)
    delay = pd.to_timedelta(rng.integers(low, high, n, endpoint=True), unit="s")
    articles = pd.DataFrame(
        {
            "published_at": published,
            "collected_at": published + delay,
            "sentiment": rng.choice(SENTIMENTS, n, p=SENTIMENT_SHARES),
            "source": _pick(rng, templates.SOURCES, n),
            "language": LANGUAGE,
        }
    )
    headlines, bodies = _render_texts(rng, articles)
    articles["headline"] = pd.array(headlines, dtype="str")
    articles["body"] = pd.array(bodies, dtype="str")
    articles["article_id"] = pd.array(_article_ids(articles), dtype="str")
    articles["url"] = _urls(articles)
    return articles[[*RAW_FIELDS, "sentiment"]]


def _render_texts(rng: np.random.Generator, articles: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(headlines, bodies): a random story of each article's sentiment with drawn details."""
    sentiment = articles["sentiment"].to_numpy()
    n_stories = articles["sentiment"].map({s: len(v) for s, v in templates.STORIES.items()})
    story = (rng.random(len(articles)) * n_stories.to_numpy()).astype(int)
    context = rng.integers(0, len(templates.CONTEXT[0]), len(articles))
    fields = _fields(rng, articles["published_at"]).to_dict("records")
    stories = [templates.STORIES[int(s)][k] for s, k in zip(sentiment, story, strict=True)]
    headlines = [st.headline.format(**f) for st, f in zip(stories, fields, strict=True)]
    bodies = [
        f"{f['city'].upper()} - {st.lead.format(**f)} {templates.CONTEXT[int(s)][c]}"
        for st, f, s, c in zip(stories, fields, sentiment, context, strict=True)
    ]
    return headlines, bodies


def _fields(rng: np.random.Generator, published: pd.Series) -> pd.DataFrame:
    """Template placeholder values, one row per article."""
    n = len(published)
    company = rng.integers(0, len(templates.COMPANIES), n)
    names, tickers, sectors = (np.asarray(col) for col in zip(*templates.COMPANIES, strict=True))
    month = published.dt.month.to_numpy()
    return pd.DataFrame(
        {
            "company": names[company],
            "ticker": tickers[company],
            "sector": sectors[company],
            "broker": _pick(rng, templates.BROKERS, n),
            "city": _pick(rng, templates.CITIES, n),
            "weekday": _pick(rng, templates.WEEKDAYS, n),
            "month": np.asarray(templates.MONTHS)[(month - 2) % 12],
            "next_month": np.asarray(templates.MONTHS)[month % 12],
            "quarter": np.asarray(templates.QUARTERS)[((month - 1) // 3 - 1) % 4],
            "day": rng.integers(1, 29, n),
            "eps": rng.uniform(0.4, 6.0, n),
            "pct": rng.integers(2, 26, n),
            "pct2": rng.integers(3, 30, n),
            "amount": rng.integers(2, 60, n),
            "buyback": rng.integers(1, 20, n),
            "small": rng.uniform(0.1, 0.5, n),
            "jobs": rng.integers(180, 400, n),
            "layoffs": [f"{x:,}" for x in rng.integers(5, 120, n) * 100],
        }
    )


def _pick(rng: np.random.Generator, options: tuple[str, ...], n: int) -> np.ndarray:
    """``n`` uniform draws from ``options``."""
    return np.asarray(options)[rng.integers(0, len(options), n)]


def _article_ids(articles: pd.DataFrame) -> list[str]:
    """Stable 16-hex-digit ids derived from publication time, headline and position."""
    keys = articles["published_at"].dt.strftime(ISO_UTC) + "|" + articles["headline"]
    return [
        hashlib.blake2b(f"{i}|{key}".encode(), digest_size=8).hexdigest()
        for i, key in enumerate(keys)
    ]


def _urls(articles: pd.DataFrame) -> pd.Series:
    """``https://<source>/markets/YYYY/MM/DD/<headline-slug>-<id prefix>``."""
    slug = articles["headline"].str.lower().str.replace(r"[^a-z0-9]+", "-", regex=True)
    return (
        "https://"
        + articles["source"]
        + articles["published_at"].dt.strftime("/markets/%Y/%m/%d/")
        + slug.str.strip("-")
        + "-"
        + articles["article_id"].str[:8]
    )


def raw_lines_by_day(articles: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Each article as one scraped JSON object (RAW_FIELDS, ISO 8601 UTC times with ``Z``),
    serialized once: ``{published date: {article_id: json line}}`` in publication order."""
    raw = articles[list(RAW_FIELDS)].copy()
    for column in ("published_at", "collected_at"):
        raw[column] = raw[column].dt.strftime(ISO_UTC)
    by_day: dict[str, dict[str, str]] = {}
    for record in raw.to_dict("records"):
        day = by_day.setdefault(record["published_at"][:10], {})
        day[record["article_id"]] = json.dumps(record) + "\n"
    return by_day


def write_article_files(lines_by_day: dict[str, dict[str, str]], directory: Path) -> None:
    """One ``<YYYY-MM-DD>/<article_id>.json`` file per article."""
    directory.mkdir(parents=True, exist_ok=True)
    for day, lines in lines_by_day.items():
        (directory / day).mkdir(parents=True, exist_ok=True)
        for article_id, line in lines.items():
            (directory / day / f"{article_id}.json").write_text(line, encoding="utf-8")


def write_jsonl_files(lines_by_day: dict[str, dict[str, str]], directory: Path) -> None:
    """One gzipped ``<YYYY-MM-DD>.jsonl.gz`` per publication date (byte-reproducible)."""
    directory.mkdir(parents=True, exist_ok=True)
    for day, lines in lines_by_day.items():
        data = "".join(lines.values()).encode("utf-8")
        (directory / f"{day}.jsonl.gz").write_bytes(gzip.compress(data, mtime=0))
