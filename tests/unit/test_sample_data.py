"""Tests for the sample data generator (``python -m src_clean sample-data``)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from src_clean import cli
from src_clean.sample_data import SampleData, generate_sample_data

START = dt.date(2024, 1, 4)  # Thursday: covers Friday close, the weekend and Sunday open
DAYS = 6
ARTICLES_PER_DAY = 40.0
CANDLE_KEYS = ["complete", "volume", "time", "mid"]
ARTICLE_KEYS = [
    "article_id",
    "headline",
    "body",
    "url",
    "source",
    "published_at",
    "collected_at",
    "language",
]
PRICE = re.compile(r"^\d+\.\d$")
CANDLE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000000000Z$")
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _generate(out: Path, seed: int = 7, effect: float = 25.0) -> SampleData:
    return generate_sample_data(
        out, START, DAYS, seed=seed, news_effect_bps=effect, articles_per_day=ARTICLES_PER_DAY
    )


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleData:
    return _generate(tmp_path_factory.mktemp("effect"))


@pytest.fixture(scope="module")
def no_effect(tmp_path_factory: pytest.TempPathFactory) -> SampleData:
    return _generate(tmp_path_factory.mktemp("no_effect"), effect=0.0)


def _file_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _raw_candles(data: SampleData) -> list[dict]:
    files = sorted(data.market_dir.glob("*.ndjson"))
    return [json.loads(line) for f in files for line in f.read_text().splitlines()]


def _candles(data: SampleData) -> pd.DataFrame:
    raw = _raw_candles(data)
    frame = pd.DataFrame(
        {k: [float(c["mid"][k]) for c in raw] for k in ("o", "h", "l", "c")}
        | {"volume": [c["volume"] for c in raw], "complete": [c["complete"] for c in raw]}
    )
    frame.insert(0, "time", pd.to_datetime([c["time"] for c in raw], utc=True).as_unit("ns"))
    return frame


def _article_files(data: SampleData) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(data.articles_dir.rglob("*.json"))]


def _jsonl_articles(data: SampleData) -> list[dict]:
    files = sorted(data.jsonl_dir.glob("*.jsonl.gz"))
    return [
        json.loads(line) for f in files for line in gzip.decompress(f.read_bytes()).splitlines()
    ]


def _truth(data: SampleData) -> pd.DataFrame:
    truth = pd.read_csv(data.truth_csv)
    for column in ("published_at", "collected_at", "effect_start", "pre_effect_start"):
        truth[column] = pd.to_datetime(truth[column], utc=True).dt.as_unit("ns")
    return truth


def test_same_seed_gives_identical_bytes_and_another_seed_differs(
    sample: SampleData, tmp_path: Path
) -> None:
    root = sample.market_dir.parent
    assert _file_bytes(_generate(tmp_path / "again").market_dir.parent) == _file_bytes(root)
    other = _file_bytes(_generate(tmp_path / "other", seed=8).market_dir.parent)
    assert (
        other["market/SPX500_USD_M1_2024-01-04.ndjson"]
        != _file_bytes(root)["market/SPX500_USD_M1_2024-01-04.ndjson"]
    )
    assert other["news/truth.csv"] != (root / "news" / "truth.csv").read_bytes()


def test_cli_writes_the_same_files_as_the_function(tmp_path: Path, capsys) -> None:
    argv = ["sample-data", "--start", "2024-01-04", "--days", "2", "--out", str(tmp_path / "cli")]
    assert cli.main([*argv, "--seed", "3", "--articles-per-day", "5"]) == 0
    assert "candles" in capsys.readouterr().out
    direct = generate_sample_data(tmp_path / "fn", START, 2, seed=3, articles_per_day=5)
    assert _file_bytes(tmp_path / "cli") == _file_bytes(direct.market_dir.parent)


def test_candle_lines_follow_the_oanda_schema(sample: SampleData) -> None:
    raw = _raw_candles(sample)
    assert len(raw) == sample.candles
    for candle in raw:
        assert list(candle) == CANDLE_KEYS
        assert list(candle["mid"]) == ["o", "h", "l", "c"]
        assert all(PRICE.match(p) for p in candle["mid"].values())
        assert CANDLE_TIME.match(candle["time"])
        assert isinstance(candle["volume"], int) and candle["volume"] > 0
        assert isinstance(candle["complete"], bool)


def test_one_market_file_per_utc_date_with_its_candles(sample: SampleData) -> None:
    files = sorted(sample.market_dir.glob("*.ndjson"))
    assert len(files) == sample.market_files
    for path in files:
        day = path.stem.removeprefix("SPX500_USD_M1_")
        assert {json.loads(line)["time"][:10] for line in path.read_text().splitlines()} == {day}
    assert [p.stem[-10:] for p in files] == [
        "2024-01-04",
        "2024-01-05",
        "2024-01-07",
        "2024-01-08",
        "2024-01-09",
    ]


def test_no_candles_when_the_market_is_closed(sample: SampleData) -> None:
    time = _candles(sample)["time"]
    local = time.dt.tz_convert("America/Chicago")  # CME's hours, in its own clock
    weekday, hour = local.dt.weekday, local.dt.hour
    assert not (weekday == 5).any()
    assert not (hour == 16).any()
    assert not ((weekday == 4) & (hour >= 16)).any()
    assert not ((weekday == 6) & (hour < 17)).any()
    assert time.is_monotonic_increasing and time.is_unique


def test_ohlc_is_consistent_and_bars_open_at_the_previous_close(sample: SampleData) -> None:
    candles = _candles(sample)
    assert (candles["h"] >= candles[["o", "c"]].max(axis=1)).all()
    assert (candles["l"] <= candles[["o", "c"]].min(axis=1)).all()
    contiguous = (candles["time"].diff() == pd.Timedelta(minutes=1)).to_numpy()
    np.testing.assert_array_equal(
        candles["o"].to_numpy()[contiguous], candles["c"].shift().to_numpy()[contiguous]
    )


def test_missing_minutes_come_in_short_runs(sample: SampleData) -> None:
    gaps = _candles(sample)["time"].diff().dropna()
    short = gaps[(gaps > pd.Timedelta(minutes=1)) & (gaps <= pd.Timedelta(minutes=15))]
    assert len(short) > 0
    assert short.max() <= pd.Timedelta(minutes=4)
    assert len(short) < 0.01 * len(gaps)


def test_tick_volume_and_volatility_are_higher_in_us_hours(sample: SampleData) -> None:
    candles = _candles(sample)
    local = candles["time"].dt.tz_convert("America/Chicago")  # CST in January
    us_open = local.dt.strftime("%H:%M").between("08:30", "09:29")
    night = candles["time"].dt.hour.between(0, 5)
    volume = candles["volume"]
    assert volume[us_open].median() > 3 * volume[night].median()
    moves = np.log(candles["c"] / candles["o"]).abs()
    assert moves[us_open].mean() > 1.3 * moves[night].mean()


def test_the_calendar_follows_cme_hours_across_daylight_saving(tmp_path: Path) -> None:
    """The maintenance break is 16:00-17:00 Chicago all year: 22:00 UTC in winter, 21:00
    UTC in summer (a fixed UTC calendar made every winter Friday short of bars)."""
    from src_clean.sample_data import session

    for start, utc_break in ((dt.date(2024, 1, 8), 22), (dt.date(2024, 7, 8), 21)):
        trading = session.trading_minutes(start, 5)  # Monday to Friday
        minute_of_day = trading % 1440
        assert not ((minute_of_day >= utc_break * 60) & (minute_of_day < utc_break * 60 + 60)).any()
        assert (
            (minute_of_day >= (utc_break + 1) * 60) & (minute_of_day < (utc_break + 2) * 60)
        ).any()
        # Friday's session ends at 16:00 Chicago: no minute after it that day
        friday = trading[(trading // 1440) == 4]
        assert (friday % 1440).max() == utc_break * 60 - 1
    # the March change: Monday 11 March 2024 is CDT, the Friday before CST
    trading = session.trading_minutes(dt.date(2024, 3, 4), 14)
    day = trading // 1440
    assert (trading[day == 4] % 1440).max() == 22 * 60 - 1  # Friday 8 March, CST
    assert (trading[day == 11] % 1440).max() == 21 * 60 - 1  # Friday 15 March, CDT


def test_only_the_last_candle_is_incomplete(sample: SampleData) -> None:
    complete = _candles(sample)["complete"]
    assert not complete.iloc[-1]
    assert complete.iloc[:-1].all()


def test_article_files_follow_the_schema(sample: SampleData) -> None:
    articles = _article_files(sample)
    assert len(articles) == sample.articles
    for path in sample.articles_dir.rglob("*.json"):
        record = json.loads(path.read_text())
        assert list(record) == ARTICLE_KEYS
        assert path.stem == record["article_id"]
        assert path.parent.name == record["published_at"][:10]
        assert ISO_Z.match(record["published_at"]) and ISO_Z.match(record["collected_at"])
        assert record["language"] == "en"
        assert record["url"].startswith(f"https://{record['source']}/")
        assert record["headline"] and len(record["body"]) > len(record["headline"])
    published = pd.to_datetime([a["published_at"] for a in articles], utc=True)
    collected = pd.to_datetime([a["collected_at"] for a in articles], utc=True)
    assert ((collected > published) & (collected - published <= pd.Timedelta(minutes=15))).all()
    assert (published.weekday >= 5).any() and (published.hour < 6).any()


def test_jsonl_holds_the_same_articles_as_the_json_files(sample: SampleData) -> None:
    by_id = {a["article_id"]: a for a in _article_files(sample)}
    jsonl = _jsonl_articles(sample)
    assert len(jsonl) == len(by_id)
    assert {a["article_id"]: a for a in jsonl} == by_id
    assert sorted(p.name for p in sample.jsonl_dir.iterdir()) == [
        f"{day}.jsonl.gz" for day in pd.date_range(START, periods=DAYS).strftime("%Y-%m-%d")
    ]


def test_truth_covers_every_article_with_all_sentiments(sample: SampleData) -> None:
    truth = _truth(sample)
    assert set(truth["article_id"]) == {a["article_id"] for a in _article_files(sample)}
    shares = truth["planted_sentiment"].value_counts(normalize=True)
    assert set(shares.index) == {-1, 0, 1} and shares.min() > 0.2
    planted = truth["effect_start"].notna()
    assert planted.sum() == sample.planted_articles
    assert (truth.loc[planted, "planted_sentiment"] != 0).all()
    assert truth.loc[planted, "effect_minutes"].between(30, 60).all()
    # the tradable part starts when the article was collected, the other part before
    start = truth.loc[planted, "effect_start"]
    assert (start >= truth.loc[planted, "collected_at"]).all()
    assert (start - truth.loc[planted, "collected_at"] < pd.Timedelta(minutes=1)).all()
    pre = truth["pre_effect_start"].notna()
    assert pre.sum() > 0.9 * planted.sum()  # the same articles (but at a session's edge)
    pre_start, published = truth.loc[pre, "pre_effect_start"], truth.loc[pre, "published_at"]
    assert ((pre_start >= published) & (pre_start - published < pd.Timedelta(minutes=1))).all()
    pre_end = pre_start + pd.to_timedelta(truth.loc[pre, "pre_effect_minutes"], unit="min")
    both = pre & planted  # the part before availability ends where the tradable one starts
    assert pre_end[both].equals(truth.loc[both, "effect_start"])


def test_headlines_carry_clear_sentiment_words(sample: SampleData) -> None:
    truth = _truth(sample).set_index("article_id")["planted_sentiment"]
    words = {
        1: r"surge|rally|beat|record|strong|upgrade|gain|raises|wins|jump",
        -1: r"plunge|slump|miss|loss|weak|downgrade|layoff|fraud|recession|fall|fail",
    }
    for article in _article_files(sample):
        sentiment = truth[article["article_id"]]
        text = f"{article['headline']} {article['body']}".lower()
        if sentiment:
            assert re.search(words[sentiment], text), text
        else:
            assert not re.search(f"{words[1]}|{words[-1]}", text), text


def _post_publication_returns(data: SampleData, planted: pd.DataFrame) -> pd.Series:
    """Signed log return (bps) from just before each effect start to 30 minutes later."""
    closes = _candles(data)[["time", "c"]]
    before = pd.merge_asof(
        planted[["effect_start"]],
        closes,
        left_on="effect_start",
        right_on="time",
        allow_exact_matches=False,
    )["c"]
    later = planted["effect_start"] + pd.Timedelta(minutes=30)
    after = pd.merge_asof(
        later.rename("at").to_frame(),
        closes,
        left_on="at",
        right_on="time",
        allow_exact_matches=False,
    )["c"]
    returns = 1e4 * np.log(after.to_numpy() / before.to_numpy())
    return pd.Series(returns * planted["planted_sentiment"].to_numpy())


def test_planted_effect_biases_post_publication_returns(
    sample: SampleData, no_effect: SampleData
) -> None:
    truth, truth_zero = _truth(sample), _truth(no_effect)
    pd.testing.assert_frame_equal(
        truth[["article_id", "published_at", "planted_sentiment"]],
        truth_zero[["article_id", "published_at", "planted_sentiment"]],
    )
    assert truth_zero["effect_start"].isna().all() and no_effect.planted_articles == 0
    planted = truth[truth["effect_start"].notna()].reset_index(drop=True)
    assert len(planted) > 50
    with_effect = _post_publication_returns(sample, planted)
    without = _post_publication_returns(no_effect, planted)
    assert with_effect.mean() > 10 and (with_effect > 0).mean() > 0.75
    assert abs(without.mean()) < 3 and 0.35 < (without > 0).mean() < 0.65


def test_prices_move_only_after_the_first_planted_article(
    sample: SampleData, no_effect: SampleData
) -> None:
    closes, closes_zero = _candles(sample), _candles(no_effect)
    pd.testing.assert_series_equal(closes["time"], closes_zero["time"])
    truth = _truth(sample)
    first_published = truth.loc[truth["effect_start"].notna(), "published_at"].min()
    differs = closes["c"] != closes_zero["c"]
    assert differs.any()
    assert closes.loc[differs, "time"].min() >= first_published


def test_rejects_a_range_without_trading(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no trading minutes"):
        generate_sample_data(tmp_path, dt.date(2024, 1, 6), 1)


def test_zero_articles_per_day_writes_candles_and_empty_news(tmp_path: Path) -> None:
    data = generate_sample_data(tmp_path, START, 2, articles_per_day=0)
    assert data.candles > 0 and data.articles == data.planted_articles == 0
    assert data.articles_dir.is_dir() and not any(data.articles_dir.iterdir())
    assert _truth(data).empty
