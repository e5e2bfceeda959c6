"""Gold news signals: window edges, lag, empty windows, exactness vs. a per-bar reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from gold_data import (
    MODEL,
    market_features,
    random_times,
    sentiment,
    session_minutes,
    utc,
    write_silver,
)

from src_clean.cli import main as cli_main
from src_clean.data_pipelines.gold import news as news_signals
from src_clean.data_pipelines.gold.news import (
    MINUTES_SINCE_LAST_CAP,
    build_news_signals,
    compute_news_signals,
)
from src_clean.data_pipelines.silver.model_registry import ResolvedModel, record
from src_clean.feature_set import FeatureSet
from src_clean.lake import Lake
from src_clean.tables import BRONZE_NEWS, GOLD_SIGNALS, SILVER_FEATURES, SILVER_SENTIMENT

BAR_TIME = "2024-03-04T10:00:00Z"  # decision time 10:01:00


def _count_for_bar(published: list[str], window: int = 60, lag: int = 0) -> int:
    signals = compute_news_signals(utc([BAR_TIME]), sentiment(utc(published)), window, lag, 30.0)
    return int(signals["news_count"].iloc[0])


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        ("2024-03-04T10:00:59Z", 1),  # one second before the decision time
        ("2024-03-04T10:01:00Z", 0),  # exactly at the decision time
        ("2024-03-04T10:01:01Z", 0),  # one second after
        ("2024-03-04T09:01:00Z", 1),  # exactly at the window's lower edge: inclusive
        ("2024-03-04T09:00:59Z", 0),  # one second before the lower edge
    ],
)
def test_window_edges(published: str, expected: int) -> None:
    assert _count_for_bar([published]) == expected


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        ("2024-03-04T09:55:59Z", 1),  # just before the lagged cut 09:56
        ("2024-03-04T09:56:00Z", 0),  # exactly at the lagged cut
        ("2024-03-04T10:00:59Z", 0),  # counts without lag, not with it
        ("2024-03-04T08:56:00Z", 1),  # lagged lower edge, inclusive
        ("2024-03-04T08:55:59Z", 0),
    ],
)
def test_lag_shifts_the_window(published: str, expected: int) -> None:
    assert _count_for_bar([published], lag=5) == expected


def test_bar_without_news_is_neutral_not_forward_filled() -> None:
    bars = utc(["2024-03-04T10:00Z", "2024-03-04T12:00Z"])
    articles = sentiment(utc(["2024-03-04T09:30Z", "2024-03-04T09:40Z"]))
    signals = compute_news_signals(bars, articles, 60, 0, 30.0).set_index("time")
    quiet = signals.loc[bars[1]]
    assert signals.loc[bars[0], "news_count"] == 2
    assert quiet["news_count"] == 0
    zeros = quiet.drop(["news_count", "news_minutes_since_last"])
    assert (zeros == 0.0).all(), zeros
    assert quiet["news_minutes_since_last"] == pytest.approx(12 * 60 + 1 - 9 * 60 - 40)


def test_minutes_since_last_is_capped_when_no_article_is_recent() -> None:
    signals = compute_news_signals(
        utc(["2024-03-06T10:00Z"]), sentiment(utc(["2024-03-04T09:00Z"])), 60, 0, 30.0
    )
    assert signals["news_minutes_since_last"].iloc[0] == MINUTES_SINCE_LAST_CAP


def test_articles_without_score_are_ignored() -> None:
    articles = sentiment(utc(["2024-03-04T09:30Z", "2024-03-04T09:40Z"]))
    articles.loc[1, ["p_positive", "p_negative", "p_neutral", "score", "label"]] = None
    signals = compute_news_signals(utc([BAR_TIME]), articles, 60, 0, 30.0)
    assert signals["news_count"].iloc[0] == 1
    assert signals["news_mean_score"].iloc[0] == pytest.approx(articles["score"].iloc[0])


def _reference(
    bars: pd.Series, articles: pd.DataFrame, window: int, lag: int, half_life: float
) -> pd.DataFrame:
    """Per-bar loop straight from the definitions, to check the vectorized version."""
    scored = articles.dropna(subset=["score"])
    published = scored["published_at"]
    conf = scored[["p_positive", "p_negative", "p_neutral"]].max(axis=1)
    rows = []
    for bar in bars:
        cut = bar + pd.Timedelta(minutes=1 - lag)
        w = pd.Timedelta(minutes=window)
        now = scored[(published >= cut - w) & (published < cut)]
        prev = scored[(published >= cut - 2 * w) & (published < cut - w)]
        before = published[published < cut]
        age = (cut - now["published_at"]).dt.total_seconds() / 60
        n = len(now)
        c = conf[now.index]
        toned = now["gdelt_tone"].notna()
        rows.append(
            {
                "news_count": n,
                "news_mean_score": now["score"].mean() if n else 0.0,
                "news_mean_p_positive": now["p_positive"].mean() if n else 0.0,
                "news_mean_p_negative": now["p_negative"].mean() if n else 0.0,
                "news_mean_p_neutral": now["p_neutral"].mean() if n else 0.0,
                "news_conf_weighted_score": (now["score"] * c).sum() / c.sum() if n else 0.0,
                "news_decay_score": float((now["score"] * 0.5 ** (age / half_life)).sum()),
                "news_score_change": (
                    now["score"].mean() - prev["score"].mean() if n and len(prev) else 0.0
                ),
                "news_minutes_since_last": min(
                    (cut - before.max()).total_seconds() / 60 if len(before) else np.inf,
                    MINUTES_SINCE_LAST_CAP,
                ),
                "news_neg_share": (now["label"] == "negative").mean() if n else 0.0,
                "news_mean_gdelt_tone": now["gdelt_tone"].mean() if toned.any() else 0.0,
            }
        )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("half_life", [0.05, 7.0, 600.0])
def test_vectorized_signals_match_per_bar_reference(half_life: float) -> None:
    rng = np.random.default_rng(1)
    minutes = session_minutes("2024-03-04T00:00Z", "2024-03-06T23:59Z")
    bars = minutes.sample(500, random_state=2).sort_values().reset_index(drop=True)
    window, lag = 30, 3
    cuts = bars + pd.Timedelta(minutes=1 - lag)
    edges = pd.concat([cuts.iloc[::25], cuts.iloc[5::25] - pd.Timedelta(minutes=window)])
    published = pd.concat(
        [random_times("2024-03-03T20:00Z", "2024-03-07T00:00Z", 400, seed=3), edges]
    )
    articles = sentiment(published.sort_values().reset_index(drop=True), seed=4)
    articles.loc[rng.choice(len(articles), 20, replace=False), "score"] = np.nan
    tones = rng.uniform(-8, 8, len(articles))
    articles["gdelt_tone"] = np.where(rng.random(len(articles)) < 0.5, tones, np.nan)

    got = compute_news_signals(bars, articles, window, lag, half_life)
    expected = _reference(bars, articles, window, lag, half_life)

    assert (got["time"] == bars).all()
    assert got["news_count"].sum() > 100
    pd.testing.assert_series_equal(got["news_count"], expected["news_count"], check_dtype=False)
    for column in expected.columns.drop("news_count"):
        np.testing.assert_allclose(got[column], expected[column], rtol=0, atol=1e-9, err_msg=column)


def _silver_lake(tmp_path, *models: str) -> Lake:
    lake = Lake(tmp_path / "lake")
    bars = session_minutes("2024-03-04T18:00Z", "2024-03-06T02:00Z")
    published = random_times("2024-03-03T12:00Z", "2024-03-06T02:00Z", 150, seed=5)
    articles = pd.concat(
        [sentiment(published, seed=i, model_id=m) for i, m in enumerate(models or (MODEL,))]
    )
    write_silver(lake, market_features(bars), articles)
    return lake


def test_gdelt_tone_comes_from_bronze_and_averages_only_articles_that_have_one(tmp_path):
    """GKG articles carry GDELT's tone in bronze; gold averages it over each window's toned
    articles (0 where none has one), the same as the in-memory computation."""
    lake = _silver_lake(tmp_path)
    articles = lake.read(SILVER_SENTIMENT)
    build_news_signals(lake)
    assert (lake.read(GOLD_SIGNALS)["news_mean_gdelt_tone"] == 0.0).all()  # no bronze table

    rng = np.random.default_rng(7)
    tone = np.where(rng.random(len(articles)) < 0.4, rng.uniform(-6, 6, len(articles)), np.nan)
    bronze = articles[["article_id", "published_at", "available_at"]].assign(
        available_from="available_at",
        headline="h",
        body="",
        source="gdelt",
        url=None,
        language="en",
        gdelt_tone=tone,
        ingested_at=pd.Timestamp("2024-03-07", tz="UTC"),
        source_file="gkg.jsonl.gz",
    )
    lake.upsert(BRONZE_NEWS, bronze)
    build_news_signals(lake)

    gold = lake.read(GOLD_SIGNALS).sort_values("time", ignore_index=True)
    bars = lake.read(SILVER_FEATURES)["time"]
    expected = compute_news_signals(bars, articles.assign(gdelt_tone=tone), 60, 0, 30.0)
    assert (gold["news_mean_gdelt_tone"] != 0).sum() > 100
    np.testing.assert_allclose(gold["news_mean_gdelt_tone"], expected["news_mean_gdelt_tone"])


def test_several_models_need_an_explicit_choice(tmp_path) -> None:
    lake = _silver_lake(tmp_path, "model-a", "model-b")
    with pytest.raises(ValueError, match=r"2 model ids \['model-a', 'model-b'\]"):
        build_news_signals(lake)
    with pytest.raises(ValueError, match="no scores for model 'model-c'"):
        build_news_signals(lake, model_id="model-c")

    outside = pd.Timestamp("2024-03-10T12:00Z")  # model-c scored, but not in this range
    lake.upsert(
        SILVER_SENTIMENT,
        sentiment(pd.Series([outside]).dt.as_unit("ns"), seed=9, model_id="model-c"),
    )
    assert (
        build_news_signals(lake, model_id="model-c", window_minutes=240, end="2024-03-05").articles
        == 0
    )

    report = build_news_signals(lake, model_id="model-b", window_minutes=240)
    assert not lake.partitions(GOLD_SIGNALS)  # another window never writes the canonical table
    signals = lake.read(FeatureSet(window_minutes=240).signals_table)
    assert report.model_id == "model-b"
    assert set(signals["sentiment_model_id"]) == {"model-b"}
    only_b = lake.read(SILVER_SENTIMENT).query("model_id == 'model-b'")
    expected = compute_news_signals(signals["time"], only_b, 240, 0, 30.0)
    pd.testing.assert_frame_equal(signals[expected.columns], expected)


def test_the_sentiment_spec_resolves_to_the_model_it_scored_with(tmp_path) -> None:
    lake = _silver_lake(tmp_path, "lexicon:v1", "ProsusAI/finbert@abc")
    with pytest.raises(ValueError, match="no sentiment run recorded for --sentiment-model"):
        build_news_signals(lake, sentiment_model="ProsusAI/finbert")

    record(lake, ResolvedModel("ProsusAI/finbert", "ProsusAI/finbert@abc", False))
    record(lake, ResolvedModel("lexicon", "lexicon:v1", False))
    assert build_news_signals(lake, sentiment_model="lexicon").model_id == "lexicon:v1"
    report = build_news_signals(lake, sentiment_model="ProsusAI/finbert")
    assert report.model_id == "ProsusAI/finbert@abc"
    assert set(lake.read(GOLD_SIGNALS)["sentiment_model_id"]) == {"ProsusAI/finbert@abc"}


def test_partial_run_equals_full_run_and_reruns_are_idempotent(tmp_path) -> None:
    lake = _silver_lake(tmp_path)
    W45 = FeatureSet(window_minutes=45).signals_table  # another window writes its own table
    build_news_signals(lake, window_minutes=45, lag_minutes=2)
    full = lake.read(W45)
    assert set(full["window_minutes"]) == {45} and set(full["lag_minutes"]) == {2}

    for day in lake.partitions(W45):
        lake.replace_range(W45, lambda: [], day, day)
    report = build_news_signals(lake, window_minutes=45, lag_minutes=2, start="2024-03-05")
    assert report.partitions == ("2024-03-05", "2024-03-06")
    partial = lake.read(W45)
    assert partial["news_minutes_since_last"].min() > 0
    expected = full[full["time"] >= pd.Timestamp("2024-03-05", tz="UTC")].reset_index(drop=True)
    pd.testing.assert_frame_equal(partial, expected, check_exact=True)  # bit-identical (#21)

    build_news_signals(lake, window_minutes=45, lag_minutes=2, start="2024-03-05")
    pd.testing.assert_frame_equal(lake.read(W45), partial, check_exact=True)


def test_signals_do_not_depend_on_the_bars_or_articles_around_them(monkeypatch) -> None:
    """A bar's signals come from its own window only: computing it alongside other bars,
    with earlier articles read, or in smaller memory chunks gives the very same bits."""
    bars = session_minutes("2024-03-04T00:00Z", "2024-03-06T23:59Z")
    published = random_times("2024-03-01T00:00Z", "2024-03-07T00:00Z", 3000, seed=8)
    articles = sentiment(published.sort_values().reset_index(drop=True), seed=9)
    whole = compute_news_signals(bars, articles, 60, 0, 30.0)
    late = bars[bars >= pd.Timestamp("2024-03-06T12:00Z")].reset_index(drop=True)
    recent = articles[articles["published_at"] >= pd.Timestamp("2024-03-06T09:00Z")]
    alone = compute_news_signals(late, recent, 60, 0, 30.0)
    expected = whole[whole["time"] >= late.iloc[0]].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, expected, check_exact=True)

    monkeypatch.setattr(news_signals, "_MAX_PAIRS", 7)
    chunked = compute_news_signals(bars, articles, 60, 0, 30.0)
    pd.testing.assert_frame_equal(chunked, whole, check_exact=True)


def test_cli_writes_signals(tmp_path, capsys) -> None:
    lake = _silver_lake(tmp_path)
    argv = ["gold-news", "--lake", lake.root, "--window", "30", "--half-life", "10"]
    assert cli_main(argv) == 0
    assert capsys.readouterr().out.startswith("gold/variants/news-w30/signals: bars=")
    signals = lake.read(FeatureSet(window_minutes=30).signals_table)
    assert set(signals["half_life_minutes"]) == {10.0}
    assert signals["news_count"].gt(0).any()


def test_invalid_parameters_are_rejected() -> None:
    with pytest.raises(ValueError, match="negative lag"):
        compute_news_signals(utc([BAR_TIME]), sentiment(utc([BAR_TIME])), 60, -1, 30.0)
