"""Point in time: an article counts for a bar only once it is available, whatever its
publication time says; bronze keeps the first availability across revisions."""

from __future__ import annotations

import json

import pandas as pd
from gold_data import sentiment
from hypothesis import given, settings
from hypothesis import strategies as st

from src_clean.data_pipelines.bronze.news import ingest_news
from src_clean.data_pipelines.gold.news import compute_news_signals
from src_clean.lake import Lake
from src_clean.tables import BRONZE_NEWS

BAR = pd.Timestamp("2024-03-05 15:00", tz="UTC")  # decision time 15:01


def _count(published: pd.Timestamp, available: pd.Timestamp) -> int:
    articles = sentiment(pd.Series([published]), available=pd.Series([available]))
    signals = compute_news_signals(pd.Series([BAR]), articles, 60, 0, 30.0)
    return int(signals["news_count"].iloc[0])


@settings(max_examples=200, deadline=None)
@given(
    published=st.integers(-600, 600),
    available=st.integers(-600, 600),
)
def test_an_article_counts_only_once_available_before_the_decision_time(
    published: int, available: int
) -> None:
    decision = BAR + pd.Timedelta(minutes=1)
    pub = decision + pd.Timedelta(seconds=published * 6)
    avail = decision + pd.Timedelta(seconds=available * 6)
    counted = _count(pub, avail)
    expected = decision - pd.Timedelta(minutes=60) <= avail < decision
    assert counted == int(expected)  # publication time plays no part
    if expected:
        # moving availability to the decision time (or later) removes it from that bar
        assert _count(pub, decision) == 0 and _count(pub, avail + pd.Timedelta(hours=2)) == 0


def _write(path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_bronze_keeps_the_first_availability_and_records_where_it_came_from(tmp_path) -> None:
    lake = Lake(tmp_path / "lake")
    raw = tmp_path / "raw"
    raw.mkdir()
    _write(
        raw / "a.jsonl",
        [
            {
                "article_id": "c",
                "headline": "h",
                "published_at": "2024-03-05T14:00:00Z",
                "collected_at": "2024-03-05T14:09:00Z",
            },
            {"article_id": "g", "title": "h", "seendate": "20240305T141500Z"},
            {"article_id": "p", "headline": "h", "published_at": "2024-03-05T14:00:00Z"},
            {
                "article_id": "bad",
                "headline": "h",
                "published_at": "2024-03-05T14:00:00Z",
                "collected_at": "yesterday-ish",
            },
        ],
    )
    report = ingest_news(raw, lake)
    assert report.quarantine_reasons == {"unparseable_available_at": 1}
    stored = lake.read(BRONZE_NEWS).set_index("article_id")
    assert stored.loc["c", "available_at"] == pd.Timestamp("2024-03-05T14:09Z")
    assert stored.loc["c", "available_from"] == "collected_at"
    assert stored.loc["g", "available_from"] == "seendate"
    assert stored.loc["p", "available_at"] == stored.loc["p", "published_at"]
    assert stored.loc["p", "available_from"] == "published_at"
    # a revision corrects published_at to earlier and is collected again later: the
    # article moves, but it never becomes available earlier than first seen
    (raw / "a.jsonl").unlink()
    _write(
        raw / "b.jsonl",
        [
            {
                "article_id": "c",
                "headline": "h2",
                "published_at": "2024-03-04T23:00:00Z",
                "collected_at": "2024-03-06T10:00:00Z",
            }
        ],
    )
    ingest_news(raw, lake)
    row = lake.read(BRONZE_NEWS).set_index("article_id").loc["c"]
    assert row["published_at"] == pd.Timestamp("2024-03-04T23:00Z")
    assert row["available_at"] == pd.Timestamp("2024-03-05T14:09Z")
    assert row["headline"] == "h2"


def test_without_an_availability_field_the_landing_ledger_fetch_time_is_used(tmp_path) -> None:
    raw = tmp_path / "landing"
    (raw / ".fetch-state").mkdir(parents=True)
    _write(
        raw / "2024-03-05.jsonl",
        [{"article_id": "r", "title": "h", "published": "Tue, 05 Mar 2024 14:00:00 GMT"}],
    )
    (raw / ".fetch-state" / "2024-03-05.jsonl.json").write_text(
        json.dumps(
            {"fetched_at": "2024-03-05T14:20:00+00:00", "records": 1, "final": True, "note": ""}
        )
    )
    lake = Lake(tmp_path / "lake")
    ingest_news(raw, lake)
    row = lake.read(BRONZE_NEWS).set_index("article_id").loc["r"]
    assert row["available_at"] == pd.Timestamp("2024-03-05T14:20Z")
    assert row["available_from"] == "fetched_at"
    assert row["published_at"] == pd.Timestamp("2024-03-05T14:00Z")  # the record's own
