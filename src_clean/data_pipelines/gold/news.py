"""Gold news signals: per market bar, aggregate the sentiment of the articles known before it.

For a bar opening at ``t`` the decision time is ``d = t + 1 min`` and the cut is
``c = d - lag``. The window holds the scored articles with ``available_at`` (when a feed
first had the article, see bronze) in ``[c - window, c)``: the lower edge is inclusive, an
article available exactly at the cut is excluded, so every signal is known at the decision
time. ``published_at`` never times an article: one published at 09:00 but first seen at
09:12 counts from 09:12 on. An article first seen more than ``MAX_AVAILABILITY_DELAY``
after its publication is left out (counted as ``late_articles`` in the report), so the
result never depends on how far back a run reads.

Columns (one row per bar ``time``):

- ``news_count``: articles in the window.
- ``news_mean_score`` / ``news_mean_p_positive`` / ``news_mean_p_negative`` /
  ``news_mean_p_neutral``: window means.
- ``news_conf_weighted_score``: ``sum(score * conf) / sum(conf)`` with ``conf = max(p_*)``.
- ``news_decay_score``: ``sum(score * 0.5 ** (age / half_life))``, ``age = c - available_at``.
- ``news_score_change``: mean score of the window minus that of the previous window
  ``[c - 2 window, c - window)``; 0 when either window is empty.
- ``news_minutes_since_last``: minutes from the latest article before ``c`` to ``c`` (it may
  lie before the window), capped at ``MINUTES_SINCE_LAST_CAP``; the cap when there is none.
- ``news_neg_share``: share of the window's articles labelled negative.
- ``news_mean_gdelt_tone``: mean GDELT tone (GKG V1.5TONE, -100..+100, from bronze) of the
  window's articles that have one; 0 when none has (DOC API, RSS and file sources).

A bar without news in its window gets count 0 and 0.0 for every mean, share, change and
decay score (neutral), never a forward-filled stale signal.

Provenance columns (not features): ``sentiment_model_id``, ``window_minutes``,
``lag_minutes``, ``half_life_minutes`` and ``timed_by`` (the article time the windows
used: ``available_at``). Scores of different models are never mixed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from src_clean.cli_args import add_date_range, add_lake_argument, require_tables
from src_clean.data_pipelines.silver.model_registry import model_id_for_spec
from src_clean.feature_set import FeatureSet
from src_clean.lake import Lake
from src_clean.tables import (
    BRONZE_NEWS,
    CANONICAL_WINDOW,
    GOLD_SIGNALS,
    NEWS_TONE_FEATURE,
    SILVER_FEATURES,
    SILVER_SENTIMENT,
)
from src_clean.time_convention import BAR

log = logging.getLogger(__name__)

MINUTES_SINCE_LAST_CAP = 1440.0
NEWS_PREFIX = "news_"
PROVENANCE_COLUMNS = (
    "sentiment_model_id",
    "window_minutes",
    "lag_minutes",
    "half_life_minutes",
    "timed_by",
)
NEWS_TIME = "available_at"  # the article time the windows use (point in time)
MAX_AVAILABILITY_DELAY = pd.Timedelta(days=3)
PROBABILITY_COLUMNS = ("p_positive", "p_negative", "p_neutral")
ARTICLE_COLUMNS = (
    "article_id",
    "published_at",
    NEWS_TIME,
    "model_id",
    "score",
    *PROBABILITY_COLUMNS,
    "label",
)

_NS_PER_MINUTE = pd.Timedelta(minutes=1).value
# (bar, article) pairs summed per chunk of bars: bounds memory where windows are dense.
_MAX_PAIRS = 4_000_000
# Per-article quantities summed over windows, in this column order.
_SUMMED = ("score", *PROBABILITY_COLUMNS, "conf_score", "conf", "negative", "tone", "toned")
TONE = "gdelt_tone"

HALF_LIFE_MINUTES = 30.0  # news_decay_score's default half-life (--half-life-minutes)


@dataclass(frozen=True)
class NewsSignalsReport:
    """What one ``gold-news`` run wrote."""

    model_id: str
    bars: int
    bars_with_news: int
    articles: int
    partitions: tuple[str, ...]
    table: str = GOLD_SIGNALS
    late_articles: int = 0

    def summary(self) -> str:
        return (
            f"{self.table}: bars={self.bars} bars_with_news={self.bars_with_news} "
            f"articles={self.articles} late_articles={self.late_articles} "
            f"model={self.model_id} timed_by={NEWS_TIME} partitions={len(self.partitions)}"
        )


# -- pure computation -----------------------------------------------------------------------


def compute_news_signals(
    bar_times: pd.Series,
    articles: pd.DataFrame,
    window_minutes: int,
    lag_minutes: int,
    half_life_minutes: float,
) -> pd.DataFrame:
    """News signal columns for every distinct bar in ``bar_times`` (sorted by ``time``).

    ``articles`` needs ``available_at``, ``score``, ``p_*`` and ``label`` (and may have
    ``gdelt_tone``); rows with a null score or probability are ignored. Vectorized: window
    edges come from ``np.searchsorted`` on the sorted availability times, and each window is
    summed from its own articles (``np.bincount`` over (bar, article) pairs), so results
    never depend on the read range.
    """
    _check_parameters(window_minutes, lag_minutes, half_life_minutes)
    times = pd.DatetimeIndex(bar_times).unique().sort_values().as_unit("ns")
    cuts = (times + BAR - pd.Timedelta(minutes=lag_minutes)).asi8
    scored = _scored_articles(articles)
    available = pd.DatetimeIndex(scored[NEWS_TIME]).as_unit("ns").asi8
    values = _article_values(scored)
    window = window_minutes * _NS_PER_MINUTE

    hi = np.searchsorted(available, cuts, side="left")
    lo = np.searchsorted(available, cuts - window, side="left")
    prev_lo = np.searchsorted(available, cuts - 2 * window, side="left")
    count = hi - lo
    sums = dict(zip(_SUMMED, _range_sums(values, lo, hi).T, strict=True))
    mean_score = _safe_ratio(sums["score"], count)
    prev_count = lo - prev_lo
    prev_mean = _safe_ratio(_range_sums(values[:, :1], prev_lo, lo)[:, 0], prev_count)
    both = (count > 0) & (prev_count > 0)

    signals = {
        "count": count.astype(np.int64),
        "mean_score": mean_score,
        **{f"mean_{col}": _safe_ratio(sums[col], count) for col in PROBABILITY_COLUMNS},
        "conf_weighted_score": _safe_ratio(sums["conf_score"], sums["conf"]),
        "decay_score": _decay_sums(cuts, available, values[:, 0], window, half_life_minutes),
        "score_change": np.where(both, mean_score - prev_mean, 0.0),
        "minutes_since_last": _minutes_since_last(cuts, available, hi),
        "neg_share": _safe_ratio(sums["negative"], count),
        NEWS_TONE_FEATURE.removeprefix(NEWS_PREFIX): _safe_ratio(sums["tone"], sums["toned"]),
    }
    return pd.DataFrame({"time": times, **{f"{NEWS_PREFIX}{k}": v for k, v in signals.items()}})


def empty_window_value(column: str) -> float:
    """A news feature's value at a bar with no article in reach: the cap for
    ``news_minutes_since_last``, 0 for every count, mean, share, change and decay score."""
    return MINUTES_SINCE_LAST_CAP if column == f"{NEWS_PREFIX}minutes_since_last" else 0.0


def _check_parameters(window_minutes: int, lag_minutes: int, half_life_minutes: float) -> None:
    if window_minutes <= 0:
        raise ValueError(f"window_minutes must be positive, got {window_minutes}")
    if lag_minutes < 0:
        raise ValueError(
            f"lag_minutes must be >= 0 (a negative lag looks ahead), got {lag_minutes}"
        )
    if half_life_minutes <= 0:
        raise ValueError(f"half_life_minutes must be positive, got {half_life_minutes}")


def _scored_articles(articles: pd.DataFrame) -> pd.DataFrame:
    """Articles with a score and all probabilities, sorted by ``available_at`` (UTC, ns)."""
    scored = articles.dropna(subset=[NEWS_TIME, "score", *PROBABILITY_COLUMNS])
    available = pd.to_datetime(scored[NEWS_TIME], utc=True).dt.as_unit("ns")
    return scored.assign(**{NEWS_TIME: available}).sort_values(NEWS_TIME, kind="stable")


def late(articles: pd.DataFrame) -> pd.Series:
    """Articles first seen more than ``MAX_AVAILABILITY_DELAY`` after publication."""
    delay = pd.to_datetime(articles[NEWS_TIME], utc=True) - pd.to_datetime(
        articles["published_at"], utc=True
    )
    return delay > MAX_AVAILABILITY_DELAY


def _article_values(scored: pd.DataFrame) -> np.ndarray:
    """Matrix (articles x ``_SUMMED``) of the per-article quantities summed over windows."""
    probabilities = scored[list(PROBABILITY_COLUMNS)].to_numpy(dtype=np.float64)
    score = scored["score"].to_numpy(dtype=np.float64)
    conf = probabilities.max(axis=1, initial=0.0)
    negative = (scored["label"] == "negative").to_numpy(dtype=np.float64, na_value=0.0)
    tone = (scored[TONE] if TONE in scored else pd.Series(np.nan, scored.index)).to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    toned = ~np.isnan(tone)
    return np.column_stack(
        [score, probabilities, score * conf, conf, negative, np.where(toned, tone, 0.0), toned]
    )


def _range_sums(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Row sums of ``values[lo[i]:hi[i]]`` for every i.

    Each window is summed from its own articles, in publication order (not as a difference
    of running sums over everything the run read): a bar's value depends only on its window,
    so a rerun over any date range writes bit-identical rows.
    """
    out = np.zeros((len(lo), values.shape[1]))
    for bars, bar, article in _window_pairs(lo, hi):
        for column in range(values.shape[1]):
            out[bars, column] = np.bincount(
                bar, weights=values[article, column], minlength=bars.stop - bars.start
            )
    return out


def _window_pairs(lo: np.ndarray, hi: np.ndarray) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
    """``(bars, bar, article)`` per chunk of bars: every (bar, article) pair of the windows
    ``[lo[i], hi[i])``, articles ascending within a bar, bar indices relative to the chunk.
    Chunks hold at most ``_MAX_PAIRS`` pairs (bounded memory in dense news)."""
    count = hi - lo
    ends = np.cumsum(count)
    first = 0
    while first < len(lo):
        base = ends[first] - count[first]
        stop = max(int(np.searchsorted(ends, base + _MAX_PAIRS, side="right")), first + 1)
        counts = count[first:stop]
        bar = np.repeat(np.arange(stop - first), counts)
        starts = np.cumsum(counts) - counts
        article = np.arange(int(counts.sum())) - np.repeat(starts - lo[first:stop], counts)
        yield slice(first, stop), bar, article
        first = stop


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, 0.0 where the denominator is 0 (empty window)."""
    out = np.zeros(len(numerator))
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _decay_sums(
    cuts: np.ndarray, available: np.ndarray, score: np.ndarray, window: int, half_life: float
) -> np.ndarray:
    """``sum(score * 0.5 ** ((c - p) / h))`` over ``p in [c - window, c)`` for each cut ``c``,
    each window summed from its own articles (see ``_range_sums``)."""
    half_life_ns = half_life * _NS_PER_MINUTE
    lo = np.searchsorted(available, cuts - window, side="left")
    hi = np.searchsorted(available, cuts, side="left")
    out = np.zeros(len(cuts))
    for bars, bar, article in _window_pairs(lo, hi):
        age = cuts[bars][bar] - available[article]
        weights = score[article] * np.exp2(-age / half_life_ns)
        out[bars] = np.bincount(bar, weights=weights, minlength=bars.stop - bars.start)
    return out


def _minutes_since_last(cuts: np.ndarray, available: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Minutes from the latest article strictly before each cut, capped; the cap if none."""
    latest = available[np.maximum(hi - 1, 0)] if len(available) else np.zeros(len(cuts))
    minutes = np.where(hi > 0, (cuts - latest) / _NS_PER_MINUTE, np.inf)
    return np.minimum(minutes, MINUTES_SINCE_LAST_CAP)


# -- stage ----------------------------------------------------------------------------------


def build_news_signals(
    lake: Lake,
    *,
    window_minutes: int = CANONICAL_WINDOW,
    lag_minutes: int = 0,
    half_life_minutes: float = HALF_LIFE_MINUTES,
    model_id: str | None = None,
    sentiment_model: str | None = None,
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
) -> NewsSignalsReport:
    """Compute news signals for the silver market bars in ``[start, end]`` (inclusive dates).

    Reads articles back to ``lag + max(2 window, cap)`` minutes before the first bar, so a
    partial run gives the same rows as a full one. Replaces the output date partitions.
    The model is ``model_id``, else the one ``sentiment_model`` (the spec given to
    ``silver-sentiment``) resolved to, else the only model in silver.
    """
    _check_parameters(window_minutes, lag_minutes, half_life_minutes)
    bars = lake.read(SILVER_FEATURES, start, end, columns=["time"])["time"]
    if bars.empty:
        raise ValueError(f"no bars in {SILVER_FEATURES} for start={start} end={end}")
    if model_id is None and sentiment_model is not None:
        model_id = model_id_for_spec(lake, sentiment_model)
    articles, model, late_count = signal_articles(
        lake, bars.min(), end, window_minutes, lag_minutes, model_id
    )
    signals = compute_news_signals(
        bars, articles, window_minutes, lag_minutes, half_life_minutes
    ).assign(
        sentiment_model_id=model,
        window_minutes=np.int64(window_minutes),
        lag_minutes=np.int64(lag_minutes),
        half_life_minutes=float(half_life_minutes),
        timed_by=NEWS_TIME,
    )
    table = FeatureSet(window_minutes=window_minutes).signals_table
    partitions = lake.replace_range(table, signals, start, end).partitions
    return NewsSignalsReport(
        model_id=model,
        bars=len(signals),
        bars_with_news=int((signals["news_count"] > 0).sum()),
        articles=len(articles),
        partitions=tuple(partitions),
        table=table,
        late_articles=late_count,
    )


def signal_articles(
    lake: Lake,
    first_bar: pd.Timestamp,
    end: dt.date | str | None,
    window_minutes: int,
    lag_minutes: int,
    model_id: str | None,
) -> tuple[pd.DataFrame, str, int]:
    """The scored articles every bar from ``first_bar`` to ``end`` can reach, with their
    tone: (articles, the model id, how many were left out as late). The batch stage and
    the live path (``src_clean.live``) read them here, so both see the same articles."""
    lookback = pd.Timedelta(minutes=lag_minutes + max(2 * window_minutes, MINUTES_SINCE_LAST_CAP))
    lookback += MAX_AVAILABILITY_DELAY  # partitions are by publication date
    articles = lake.read(
        SILVER_SENTIMENT, (first_bar - lookback).date(), end, columns=ARTICLE_COLUMNS
    )
    in_range = model_id is not None and (articles["model_id"] == model_id).any()
    model = model_id if in_range else resolve_model_id(lake, model_id)
    articles = with_tone(lake, articles.loc[articles["model_id"] == model])
    too_late = late(articles)
    return articles.loc[~too_late], model, int(too_late.sum())


def with_tone(lake: Lake, articles: pd.DataFrame) -> pd.DataFrame:
    """``articles`` with their bronze ``gdelt_tone`` (NaN where bronze has none, or where an
    older bronze table has no such column)."""
    stored = lake.schema(BRONZE_NEWS)
    if articles.empty or stored is None or TONE not in stored.names:
        return articles.assign(**{TONE: np.nan})
    days = pd.to_datetime(articles["published_at"], utc=True).dt.date
    tones = lake.read(BRONZE_NEWS, days.min(), days.max(), columns=["article_id", TONE])
    # an id stored twice (a correction beyond ARTICLE_MATCH_DAYS): its latest row's tone
    tones = tones.drop_duplicates("article_id", keep="last").set_index("article_id")[TONE]
    return articles.assign(**{TONE: articles["article_id"].map(tones)})


def resolve_model_id(lake: Lake, model_id: str | None) -> str:
    """The sentiment model to aggregate: ``model_id`` if silver has it, else the only one.

    Reads the ``model_id`` column of every partition (a second over five years): the
    stage skips it when the articles of its range already hold ``model_id``'s scores.
    """
    available = sorted(
        lake.read(SILVER_SENTIMENT, columns=["model_id"])["model_id"].dropna().unique()
    )
    if model_id is not None:
        if model_id not in available:
            raise ValueError(f"no scores for model {model_id!r} in {SILVER_SENTIMENT}: {available}")
        return model_id
    if len(available) != 1:
        raise ValueError(
            f"{SILVER_SENTIMENT} holds {len(available)} model ids {available}; "
            "choose one with --sentiment-model-id (scores of different models are never mixed)"
        )
    return str(available[0])


# -- CLI ------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_lake_argument(parser)
    parser.add_argument(
        "--window",
        type=int,
        default=CANONICAL_WINDOW,
        help="window length in minutes; another than %(default)s writes "
        "gold/variants/news-w<window>/signals",
    )
    parser.add_argument(
        "--lag-minutes",
        "--news-lag",
        type=int,
        default=0,
        help="extra delay in minutes on top of each article's available_at (default 0: "
        "available_at already holds each feed's own latency, see docs/lake.md)",
    )
    parser.add_argument(
        "--half-life-minutes",
        "--half-life",
        type=float,
        default=HALF_LIFE_MINUTES,
        help="decay half-life of news_decay_score, minutes (default %(default)s)",
    )
    model = parser.add_mutually_exclusive_group()
    model.add_argument("--sentiment-model-id", help="exact model_id (when silver has several)")
    model.add_argument(
        "--sentiment-model", help="the spec given to silver-sentiment (hub id, path, lexicon)"
    )
    add_date_range(parser, "bar date")


def main(args: argparse.Namespace) -> NewsSignalsReport:
    lake = Lake(args.lake)
    require_tables(lake, SILVER_FEATURES, produced_by="silver-market")
    require_tables(lake, SILVER_SENTIMENT, produced_by="silver-sentiment")
    report = build_news_signals(
        lake,
        window_minutes=args.window,
        lag_minutes=args.lag_minutes,
        half_life_minutes=args.half_life_minutes,
        model_id=args.sentiment_model_id,
        sentiment_model=args.sentiment_model,
        start=args.start,
        end=args.end,
    )
    return report
