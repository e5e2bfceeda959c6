"""fetch-market and fetch-news against local API stand-ins, then bronze ingests their files.

Proves the landing files are exactly what today's bronze readers take: OANDA candles as the
API sends them, GDELT's field names and ``seendate`` spelling, an empty (weekend) day file.
"""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from fake_apis import (
    GDELT_PATH,
    OANDA_PATH,
    TOKEN,
    FakeGdelt,
    FakeOanda,
    gdelt_article,
    recent_friday,
)
from fake_apis import minute_candles as candles_of

from src_clean import tables
from src_clean.cli import main as cli_main
from src_clean.lake import Lake

FRIDAY = recent_friday()  # inside GDELT DOC's 3-month window
SATURDAY = FRIDAY + dt.timedelta(days=1)


def run(*argv: str) -> None:
    """Run one ``python -m src_clean`` command in-process; it must succeed."""
    assert cli_main(list(argv)) == 0


@pytest.fixture
def servers(httpserver):
    oanda = FakeOanda(candles=candles_of(FRIDAY))
    oanda.candles[-1]["complete"] = False  # as a download taken during the last minute
    noon = dt.datetime.combine(FRIDAY, dt.time(12), tzinfo=dt.UTC)
    # 40 articles from Friday noon into Saturday (an empty old day would stay not final)
    articles = [gdelt_article(noon + dt.timedelta(minutes=45 * n), n) for n in range(40)]
    articles[3]["title"] = "Dow \u2013 S&P 500 slip as yields jump"
    gdelt = FakeGdelt(articles=articles + [articles[5]])  # one URL twice
    httpserver.expect_request(OANDA_PATH).respond_with_handler(oanda)
    httpserver.expect_request(GDELT_PATH).respond_with_handler(gdelt)
    return httpserver, oanda, gdelt


def test_fetched_files_ingest_into_bronze(servers, tmp_path, monkeypatch, capsys):
    server, oanda, gdelt = servers
    monkeypatch.setenv("OANDA_API_TOKEN", TOKEN)
    landing, lake = tmp_path / "landing", str(tmp_path / "lake")
    days = ["--start", str(FRIDAY), "--end", str(SATURDAY), "--no-progress"]
    news_api = ["--api-url", server.url_for(GDELT_PATH), "--min-interval", "0"]

    run("fetch-market", *days, "--out", str(landing / "market"), "--api-url", server.url_for("/"))
    run("fetch-news", *days, "--out", str(landing / "news"), *news_api)
    run("bronze-market", "--input", str(landing / "market"), "--lake", lake, "--only-new")
    run("bronze-news", "--input", str(landing / "news"), "--lake", lake, "--only-new")

    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line[:1] == "{"]
    market_report, news_report = reports[2], reports[3]
    assert market_report["read"] == 1440 and market_report["incomplete"] == 1
    assert market_report["written"] == 1439 and market_report["quarantined"] == 0
    assert news_report["read"] == 40 and news_report["written"] == 40  # deduplicated on fetch

    bronze = Lake(lake).read(tables.BRONZE_CANDLES).sort_values("time", ignore_index=True)
    sent = [c for c in oanda.candles if c["complete"]]
    assert bronze["time"].tolist() == [pd.Timestamp(c["time"]) for c in sent]
    assert bronze["open"].tolist() == [float(c["mid"]["o"]) for c in sent]
    assert bronze["close"].tolist() == [float(c["mid"]["c"]) for c in sent]
    assert bronze["volume"].tolist() == [c["volume"] for c in sent]
    assert set(bronze["instrument"]) == {"SPX500_USD"} and set(bronze["granularity"]) == {"M1"}

    news = Lake(lake).read(tables.BRONZE_NEWS).set_index("url").sort_index()
    held = pd.DataFrame(gdelt.articles[:40]).set_index("url").sort_index()
    assert news["headline"].tolist() == held["title"].tolist()
    assert news["source"].tolist() == held["domain"].tolist()
    assert set(news["language"]) == {"en"}
    assert news["published_at"].tolist() == [
        pd.Timestamp(dt.datetime.strptime(s, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC))
        for s in held["seendate"]
    ]

    # The next run fetches nothing, and the ingests find nothing new.
    requests = len(server.log)
    run("fetch-market", *days, "--out", str(landing / "market"), "--api-url", server.url_for("/"))
    assert len(server.log) == requests + 1  # only Friday, whose last candle was incomplete
    run("fetch-news", *days, "--out", str(landing / "news"), *news_api)
    assert len(server.log) == requests + 1
