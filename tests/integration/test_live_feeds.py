"""The live loop's fetching (``live.feeds``, ``gdelt.fetch_latest``) against the local
fakes of GDELT DOC and OANDA v20: only what is new is added, each article is stamped with
when it arrived here, bronze takes that as its availability, a damaged live file heals, a
feed that is down costs seconds and is reported, and bad settings are one-line errors."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import time
from pathlib import Path

import pytest
from fake_apis import GDELT_PATH, FakeGdelt, gdelt_article

from src_clean import tables
from src_clean.acquisition.gdelt import fetch_latest, live_day_file
from src_clean.acquisition.http import RetryPolicy
from src_clean.data_pipelines.bronze.news import ingest_news
from src_clean.errors import UserError
from src_clean.lake import Lake
from src_clean.live.feeds import FeedConfig, Feeds

pytestmark = pytest.mark.integration

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
FAST = RetryPolicy(attempts=2, deadline_s=5, initial_wait_s=0.01, max_wait_s=0.05)


@pytest.fixture
def gdelt(httpserver):
    fake = FakeGdelt(now=NOW)
    httpserver.expect_request(GDELT_PATH).respond_with_handler(fake)
    fake.url = httpserver.url_for(GDELT_PATH)
    return fake


def _live_file(out: Path, now: dt.datetime = NOW) -> list[dict]:
    data = gzip.decompress((out / live_day_file(now.date())).read_bytes())
    return [json.loads(line) for line in data.splitlines()]


def _fetch(gdelt: FakeGdelt, out: Path, now: dt.datetime):
    options = {"api_url": gdelt.url, "min_interval_s": 0, "policy": FAST}
    return fetch_latest(out, now=now, **options)


def test_only_new_articles_are_added_each_stamped_when_it_arrived(gdelt, tmp_path: Path) -> None:
    gdelt.articles = [
        gdelt_article(NOW - dt.timedelta(minutes=m), n) for n, m in enumerate([50, 20, 5])
    ]
    report = _fetch(gdelt, tmp_path, NOW)
    stamp = NOW.isoformat().replace("+00:00", "Z")
    held = _live_file(tmp_path)
    # the 50-minute-old one is outside the 30-minute look-back
    assert [a["url"] for a in held] == [gdelt.articles[1]["url"], gdelt.articles[2]["url"]]
    assert {a["collected_at"] for a in held} == {stamp}
    assert report.written == {str(NOW.date()): 2}

    later = NOW + dt.timedelta(minutes=1)
    gdelt.articles.append(gdelt_article(later, 7))
    assert _fetch(gdelt, tmp_path, later).written == {str(NOW.date()): 1}
    again = _live_file(tmp_path)
    assert again[:2] == held  # the first arrival time is kept
    assert again[2]["url"] == gdelt.articles[3]["url"]
    assert again[2]["collected_at"] == later.isoformat().replace("+00:00", "Z")

    # bronze times each article by its arrival here, not by GDELT's earlier batch time
    lake = Lake(tmp_path / "lake")
    ingested = ingest_news(tmp_path, lake)
    assert (ingested.read, ingested.written) == (3, 3)
    stored = lake.read(tables.BRONZE_NEWS).set_index("url")
    for article in again:
        assert stored.loc[article["url"], "available_at"].isoformat() == article[
            "collected_at"
        ].replace("Z", "+00:00")


def test_a_damaged_live_file_is_set_aside_and_the_day_goes_on(gdelt, tmp_path: Path) -> None:
    gdelt.articles = [gdelt_article(NOW - dt.timedelta(minutes=5), 1)]
    damaged = b"\x1f\x8b\x08\x00 not a whole gzip stream"
    (tmp_path / live_day_file(NOW.date())).write_bytes(damaged)
    report = _fetch(gdelt, tmp_path, NOW)
    assert report.counts == {"damaged live files set aside": 1}
    assert [a["url"] for a in _live_file(tmp_path)] == [gdelt.articles[0]["url"]]
    assert (tmp_path / f"{live_day_file(NOW.date())}.damaged").read_bytes() == damaged


def test_a_feed_that_is_down_is_reported_in_seconds(tmp_path: Path) -> None:
    config = FeedConfig(news=("gdelt",), gdelt_api_url="http://127.0.0.1:9/doc", policy=FAST)
    feeds = Feeds(config, str(tmp_path / "market"), str(tmp_path / "news"))
    began = time.monotonic()
    errors = feeds.poll(NOW)
    assert time.monotonic() - began < 10
    assert set(errors) == {"gdelt"} and "\n" not in errors["gdelt"]
    assert feeds.poll(NOW + dt.timedelta(seconds=10)) == {}  # news is not due again yet


def test_bad_feed_settings_are_one_line_user_errors(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(UserError, match="unknown news feeds"):
        FeedConfig(news=("gdelt", "twitter"))
    with pytest.raises(UserError, match="needs --rss-feeds"):
        FeedConfig(news=("rss",))
    monkeypatch.delenv("OANDA_API_TOKEN", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_OANDA_DEFAULT", "")
    with pytest.raises(UserError, match="no OANDA API token"):
        Feeds(FeedConfig(market=True), str(tmp_path), str(tmp_path))


def test_news_polled_faster_than_gdelt_allows_is_refused() -> None:
    with pytest.raises(UserError, match="below GDELT's limit of one request every 5 s"):
        FeedConfig(news=("gdelt",), news_every_s=1)


def test_the_look_back_starts_on_a_batch_boundary(gdelt, tmp_path: Path) -> None:
    now = dt.datetime(NOW.year, NOW.month, NOW.day, 12, 7, 30, tzinfo=dt.UTC)
    _fetch(gdelt, tmp_path, now)
    asked = gdelt.log[0].args
    assert (asked["startdatetime"], asked["enddatetime"]) == (
        f"{now:%Y%m%d}113000",
        f"{now:%Y%m%d}120729",
    )
