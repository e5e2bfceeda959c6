"""Bad input, one case per class: each checks ``read``, the reason and the rows written.

Record level (values of any type or size), file level (unreadable, special, not gzip,
truncated, symlink loops), counting (line endings, headers, empty containers, CSV), the
quarantine contract (C2) and article identity (C3).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from src_clean import tables
from src_clean.data_pipelines.bronze import lines
from src_clean.data_pipelines.bronze.market import ingest_market
from src_clean.data_pipelines.bronze.news import ingest_news
from src_clean.data_pipelines.bronze.quarantine import RAW_LIMIT
from src_clean.data_pipelines.silver.sentiment import score_new_articles
from src_clean.lake import Lake
from src_clean.reports import IngestReport

RUN_TS = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
T0 = pd.Timestamp("2024-01-02T14:31:00Z")


def candle(minute: int = 0, **changes: Any) -> dict[str, Any]:
    """A valid flat candle at 14:31 + ``minute``; ``changes`` replace fields (None drops)."""
    base = {
        "time": f"{T0 + pd.Timedelta(minutes=minute):%Y-%m-%dT%H:%M:%SZ}",
        "open": 4701.25,
        "high": 4702.5,
        "low": 4700.75,
        "close": 4701.5,
        "volume": 120,
    }
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


def ndjson(*records: Any, end: str = "\n") -> bytes:
    return "".join(json.dumps(r) + end for r in records).encode()


def deep(levels: int) -> str:
    return "[" * levels + "1" + "]" * levels


@dataclass(frozen=True)
class Case:
    """One input file, and what the ingest must report and write."""

    name: str
    content: bytes
    read: int
    reasons: dict[str, int] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)  # candle times (HH:MM) or article ids
    failed: str | None = None  # file-level reason in files_failed / files_truncated


GOOD = ndjson(candle(0))

MARKET_CASES = {
    # record level: no value in any field raises
    "volume 1e30": Case(
        "a.ndjson",
        GOOD
        + b'{"time":"2024-01-02T14:32:00Z","open":1,"high":2,"low":1,"close":1,"volume":1e30}\n',
        2,
        {"overflow:volume": 1},
        ["14:31"],
    ),
    "volume 2^63": Case(
        "a.ndjson", GOOD + ndjson(candle(1, volume=2**63)), 2, {"overflow:volume": 1}, ["14:31"]
    ),
    "volume 2^53": Case(
        "a.ndjson", GOOD + ndjson(candle(1, volume=2**53)), 2, {"overflow:volume": 1}, ["14:31"]
    ),
    "price 1e400": Case(
        "a.ndjson",
        GOOD + b'{"time":"2024-01-02T14:32:00Z","open":1e400,"high":2,"low":1,"close":1}\n',
        2,
        {"overflow:open": 1},
        ["14:31"],
    ),
    "hour-only time with Z": Case(
        "a.ndjson", ndjson(candle(0, time="2024-01-02T14Z")), 1, {}, ["14:00"]
    ),
    "basic-format time": Case(
        "a.ndjson", ndjson(candle(0, time="20240102T143100Z")), 1, {}, ["14:31"]
    ),
    "time with sub-microsecond digits": Case(
        "a.ndjson",
        GOOD + ndjson(candle(1, time="2024-01-02T14:05:00.1234567891Z")),
        2,
        {"too_precise:time": 1},
        ["14:31"],
    ),
    "unix seconds with float noise": Case(
        "a.ndjson", ndjson(candle(0, time=f"{T0.timestamp() + 0.1}")), 1, {}, ["14:31"]
    ),
    "year 1677": Case(
        "a.ndjson",
        GOOD + ndjson(candle(0, time="1677-09-21T00:13:00Z")),
        2,
        {"out_of_range:time": 1},
        ["14:31"],
    ),
    "year 2262": Case(
        "a.ndjson",
        GOOD + ndjson(candle(0, time="2262-04-12T00:00:00Z")),
        2,
        {"out_of_range:time": 1},
        ["14:31"],
    ),
    "year 3000": Case(
        "a.ndjson",
        GOOD + ndjson(candle(0, time="3000-01-01T00:00:00Z")),
        2,
        {"out_of_range:time": 1},
        ["14:31"],
    ),
    "year 9999 naive": Case(
        "a.ndjson",
        GOOD + ndjson(candle(0, time="9999-12-31 23:59:00")),
        2,
        {"out_of_range:time": 1},
        ["14:31"],
    ),
    "year 0001": Case(
        "a.ndjson",
        GOOD + ndjson(candle(0, time="0001-01-01T00:00:00Z")),
        2,
        {"out_of_range:time": 1},
        ["14:31"],
    ),
    "unix seconds 1e20": Case(
        "a.ndjson", GOOD + ndjson(candle(1, time=1e20)), 2, {"out_of_range:time": 1}, ["14:31"]
    ),
    "negative unix seconds": Case(
        "a.ndjson", GOOD + ndjson(candle(1, time=-60)), 2, {"out_of_range:time": 1}, ["14:31"]
    ),
    "price nested 100 deep": Case(
        "a.ndjson",
        GOOD + f'{{"time":"2024-01-02T14:32:00Z","open":{deep(100)}}}\n'.encode(),
        2,
        {"too_deep": 1},
        ["14:31"],
    ),
    "price nested 100,000 deep": Case(
        "a.ndjson", GOOD + f'{{"open":{deep(100_000)}}}\n'.encode(), 2, {"too_deep": 1}, ["14:31"]
    ),
    "price nested 60 deep": Case(
        "a.ndjson",
        GOOD + f'{{"time":"2024-01-02T14:32:00Z","open":{deep(60)}}}\n'.encode(),
        2,
        {"wrong_type:open": 1},
        ["14:31"],
    ),
    "brackets inside strings": Case(
        "a.ndjson", ndjson(candle(0, note="[" * 200 + '"\\')), 1, {}, ["14:31"]
    ),
    "price true": Case(
        "a.ndjson", GOOD + ndjson(candle(1, open=True)), 2, {"wrong_type:open": 1}, ["14:31"]
    ),
    "price object": Case(
        "a.ndjson", GOOD + ndjson(candle(1, close={"v": 1})), 2, {"wrong_type:close": 1}, ["14:31"]
    ),
    "mid not an object": Case(
        "a.ndjson",
        GOOD + ndjson({"time": "2024-01-02T14:32:00Z", "mid": "4701"}),
        2,
        {"wrong_type:mid": 1},
        ["14:31"],
    ),
    "instrument a list": Case(
        "a.ndjson",
        GOOD + ndjson(candle(1, instrument=["SPX"])),
        2,
        {"wrong_type:instrument": 1},
        ["14:31"],
    ),
    "lone surrogate": Case(
        "a.ndjson",
        GOOD + ndjson(candle(1)).replace(b'"time"', b'"instrument": "\\ud800", "time"'),
        2,
        {"invalid_unicode:instrument": 1},
        ["14:31"],
    ),
    "invalid UTF-8": Case(
        "a.ndjson", GOOD + b'{"time": "\xff"}\n', 2, {"invalid_utf8": 1}, ["14:31"]
    ),
    # counting
    "CR line endings": Case(
        "a.ndjson",
        ndjson(candle(0), candle(1), candle(2), end="\r"),
        3,
        {},
        ["14:31", "14:32", "14:33"],
    ),
    "CRLF line endings": Case(
        "a.ndjson", ndjson(candle(0), candle(1), end="\r\n"), 2, {}, ["14:31", "14:32"]
    ),
    "empty array line": Case("a.ndjson", GOOD + b"[]\n", 2, {"empty_array": 1}, ["14:31"]),
    "response without candles": Case(
        "a.ndjson",
        GOOD + b'{"instrument":"SPX500_USD","candles":[]}\n',
        2,
        {"no_candles": 1},
        ["14:31"],
    ),
    "candles not a list": Case(
        "a.ndjson", GOOD + b'{"candles":5}\n', 2, {"wrong_type:candles": 1}, ["14:31"]
    ),
    "array of candles on one line": Case(
        "a.ndjson", ndjson([candle(0), candle(1)]), 2, {}, ["14:31", "14:32"]
    ),
    "TSV with a header": Case(
        "a.txt",
        b"time\topen\thigh\tlow\tclose\tvolume\n2024-01-02T14:31:00Z\t1\t2\t0.5\t1.5\t7\n2024-01-02T14:32:00Z\t1\t2\t0.5\t1.5\t7\n",
        2,
        {},
        ["14:31", "14:32"],
    ),
    "semicolons, CRLF": Case(
        "a.csv",
        b"time;open;high;low;close\r\n2024-01-02T14:31:00Z;1;2;0.5;1.5\r\n",
        1,
        {},
        ["14:31"],
    ),
    "quoted field holding a comma": Case(
        "a.csv",
        b'time,open,high,low,close,note\n2024-01-02T14:31:00Z,1,2,0.5,1.5,"up, then down"\n',
        1,
        {},
        ["14:31"],
    ),
    "quoted values": Case(
        "a.csv", b'"2024-01-02T14:31:00Z","1","2","0.5","1.5","7"\n', 1, {}, ["14:31"]
    ),
    "header only": Case("a.csv", b"time,open,high,low,close\n", 0),
    "byte-order mark": Case("a.ndjson", b"\xef\xbb\xbf" + GOOD, 1, {}, ["14:31"]),
    "empty file": Case("a.ndjson", b"", 0),
    "blank lines only": Case("a.ndjson", b"\n\r\n  \n", 0),
    # file level
    "plain text named .gz": Case("a.ndjson.gz", GOOD * 3, 0, failed="not_gzip"),
    "gzip with garbage after it": Case(
        "a.ndjson.gz", gzip.compress(GOOD) + b"junk", 1, {}, ["14:31"], failed="truncated_gzip"
    ),
}


def _ingest(tmp_path: Path, case: Case, ingest: Any = ingest_market) -> tuple[IngestReport, Lake]:
    raw = tmp_path / "raw"
    raw.mkdir(exist_ok=True)
    (raw / case.name).write_bytes(case.content)
    lake = Lake(tmp_path / "lake")
    return ingest(raw, lake, run_ts=RUN_TS), lake


def _quarantine(lake: Lake, table: str) -> pd.DataFrame:
    target = tables.quarantine(table)
    if not lake.exists(target):
        return pd.DataFrame(columns=["source_file", "record_number", "reason", "raw"])
    order = ["source_file", "record_number", "record_index"]
    return lake.read(target).sort_values(order, ignore_index=True)


def _check(report: IngestReport, lake: Lake, case: Case, table: str) -> pd.DataFrame:
    assert report.read == case.read
    assert dict(report.quarantine_reasons) == case.reasons
    assert report.balanced
    failures = {**report.files_failed, **report.files_truncated}
    assert [r.split(":")[0] for r in failures.values()] == ([case.failed] if case.failed else [])
    quarantine = _quarantine(lake, table)
    records = quarantine[quarantine["record_number"] > 0]
    assert sorted(records["reason"]) == sorted(r for r, n in case.reasons.items() for _ in range(n))
    assert list(quarantine.loc[quarantine["record_number"] == 0, "reason"]) == (
        [case.failed] if case.failed else []
    )
    return lake.read(table) if lake.exists(table) else pd.DataFrame()


@pytest.mark.parametrize("case", MARKET_CASES.values(), ids=MARKET_CASES.keys())
def test_candle_input_classes(tmp_path: Path, case: Case) -> None:
    report, lake = _ingest(tmp_path, case)
    stored = _check(report, lake, case, tables.BRONZE_CANDLES)
    times = [f"{t:%H:%M}" for t in stored["time"]] if len(stored) else []
    assert times == case.written
    if len(stored):  # the values written are the values given, not cut or rounded
        assert set(stored["close"]) <= {4701.5, 1.5}
        assert stored["instrument"].eq("SPX500_USD").all()


def test_truncated_gzip_keeps_candles_before_the_cut_and_never_a_cut_value(tmp_path: Path) -> None:
    data = ndjson(*[candle(i, close=4701.55) for i in range(60)])
    compressed = gzip.compress(data)
    cut = compressed[: len(compressed) - 25]
    case = Case("cut.ndjson.gz", cut, 0)
    report, lake = _ingest(tmp_path, case)
    stored = lake.read(tables.BRONZE_CANDLES)
    assert report.files_truncated and not report.files_failed
    assert report.read == len(stored) + 1 and report.quarantine_reasons == {"truncated_line": 1}
    assert (stored["close"] == 4701.55).all()
    assert list(stored["time"]) == [T0 + pd.Timedelta(minutes=i) for i in range(len(stored))]
    assert _quarantine(lake, tables.BRONZE_CANDLES)["reason"].tolist() == [
        "truncated_gzip",
        "truncated_line",
    ]


def test_corrupt_gzip_data_keeps_what_came_before(tmp_path: Path) -> None:
    data = ndjson(*[candle(i) for i in range(3000)])
    compressed = bytearray(gzip.compress(data, compresslevel=0))  # stored blocks: 1:1 offsets
    compressed[len(compressed) // 2 :] = b"\xff" * (len(compressed) - len(compressed) // 2)
    report, lake = _ingest(tmp_path, Case("bad.ndjson.gz", bytes(compressed), 0))
    assert report.files_truncated and report.written > 0 and report.balanced
    # what was kept is the file's first candles, exactly as given
    stored = lake.read(tables.BRONZE_CANDLES)
    expected = pd.DataFrame([candle(i) for i in range(report.written)])
    assert list(stored["time"]) == [T0 + pd.Timedelta(minutes=i) for i in range(report.written)]
    for column in ("open", "high", "low", "close"):
        assert stored[column].tolist() == expected[column].tolist()
    assert stored["volume"].tolist() == expected["volume"].tolist()


def test_line_longer_than_the_cap_is_quarantined_without_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lines, "MAX_LINE_BYTES", 1000)
    long_line = b'"' + b"x" * 5000 + b'"\n'
    report, lake = _ingest(tmp_path, Case("a.ndjson", GOOD + long_line + GOOD, 0))
    assert (report.read, report.written, report.duplicates) == (3, 1, 1)
    assert report.quarantine_reasons == {"line_too_long": 1}
    row = _quarantine(lake, tables.BRONZE_CANDLES).iloc[0]
    assert (row["record_number"], row["raw_bytes"]) == (2, len(long_line) - 1)
    assert row["raw_sha256"] == hashlib.sha256(long_line[:-1]).hexdigest()


# -- files that cannot be read -------------------------------------------------------------


def test_special_files_and_symlink_loops_are_reported_and_the_rest_ingested(
    tmp_path: Path,
) -> None:
    raw = tmp_path / "raw"
    (raw / "sub").mkdir(parents=True)
    (raw / "good.ndjson").write_bytes(GOOD)
    (raw / "sub" / "loop").symlink_to(raw)  # a folder loop
    (raw / "self.ndjson").symlink_to(raw / "self.ndjson")  # a link to itself
    (raw / "dangling.ndjson").symlink_to(raw / "missing.ndjson")
    (raw / "null.ndjson").symlink_to("/dev/null")
    os.mkfifo(raw / "fifo.ndjson")
    Path(os.fsdecode(os.fsencode(raw) + b"/bad\xff.ndjson")).write_bytes(GOOD)
    lake = Lake(tmp_path / "lake")

    report = ingest_market(raw, lake, run_ts=RUN_TS)

    assert (report.read, report.written) == (1, 1)
    assert {
        Path(uri).name: reason.split(":")[0] for uri, reason in report.files_failed.items()
    } == {
        "loop": "symlink_loop",
        "self.ndjson": "symlink_loop",
        "dangling.ndjson": "broken_link",
        "null.ndjson": "not_a_regular_file",
        "fifo.ndjson": "not_a_regular_file",
        "bad\ufffd.ndjson": "undecodable_name",
    }
    quarantine = _quarantine(lake, tables.BRONZE_CANDLES)
    assert set(quarantine["source_file"]) == set(report.files_failed)
    assert (quarantine["record_number"] == 0).all()


def test_a_file_that_fails_to_read_is_reported(tmp_path: Path) -> None:
    """``/proc/self/mem`` is a regular file whose first read fails (EIO), even for root."""
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "good.ndjson").write_bytes(GOOD)
    (raw / "mem.ndjson").symlink_to("/proc/self/mem")
    report = ingest_market(raw, Lake(tmp_path / "lake"), run_ts=RUN_TS)
    assert (report.read, report.written) == (1, 1)
    assert report.files_failed[str(raw / "mem.ndjson")].startswith("unreadable")


def test_an_unreadable_file_is_not_recorded_as_ingested(tmp_path: Path) -> None:
    case = Case("a.ndjson.gz", GOOD, 0, failed="not_gzip")
    _ingest(tmp_path, case)
    path = tmp_path / "raw" / "a.ndjson.gz"
    path.write_bytes(gzip.compress(GOOD))
    report = ingest_market(tmp_path / "raw", Lake(tmp_path / "lake"), only_new=True)
    assert (report.read, report.written) == (1, 1)


# -- news ----------------------------------------------------------------------------------


def article(n: int, **changes: Any) -> dict[str, Any]:
    base = {
        "article_id": f"a{n}",
        "headline": f"Stocks move {n}",
        "published_at": f"2024-01-02T14:{n:02d}:00Z",
        "url": f"https://news.example.com/{n}",
    }
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


NEWS_CASES = {
    ".json array of articles": Case(
        "a.json", json.dumps([article(1), article(2)]).encode(), 2, {}, ["a1", "a2"]
    ),
    ".json array, pretty-printed": Case(
        "a.json", json.dumps([article(1), 5], indent=2).encode(), 2, {"not_an_object": 1}, ["a1"]
    ),
    "NDJSON in a .json file": Case(
        "a.json", ndjson(article(1), article(2), article(3)), 3, {}, ["a1", "a2", "a3"]
    ),
    "broken .json document": Case("a.json", b'{\n"title": "cut', 1, {"invalid_json": 1}),
    ".json empty array": Case("a.json", b"[]", 0),
    "CR line endings": Case(
        "a.jsonl", ndjson(article(1), article(2), end="\r"), 2, {}, ["a1", "a2"]
    ),
    "published year 3000": Case(
        "a.jsonl",
        ndjson(article(1), article(2, published_at="3000-01-01T00:00:00Z")),
        2,
        {"out_of_range:published_at": 1},
        ["a1"],
    ),
    "published epoch 1e300": Case(
        "a.jsonl",
        ndjson(article(1), article(2, published_at=1e300)),
        2,
        {"out_of_range:published_at": 1},
        ["a1"],
    ),
    "published epoch 10**40": Case(
        "a.jsonl",
        ndjson(article(1), article(2, published_at=10**40)),
        2,
        {"out_of_range:published_at": 1},
        ["a1"],
    ),
    "published RFC 2822 year 9999": Case(
        "a.jsonl",
        ndjson(article(1), article(2, published_at="Fri, 31 Dec 9999 10:00:00 GMT")),
        2,
        {"out_of_range:published_at": 1},
        ["a1"],
    ),
    "published true": Case(
        "a.jsonl",
        ndjson(article(1), article(2, published_at=True)),
        2,
        {"wrong_type:published_at": 1},
        ["a1"],
    ),
    "published with sub-microsecond digits": Case(
        "a.jsonl",
        ndjson(article(1), article(2, published_at="2024-01-02T14:05:00.1234567891Z")),
        2,
        {"too_precise:published_at": 1},
        ["a1"],
    ),
    "GDELT tone out of its -100..100 scale": Case(
        "a.jsonl",
        ndjson(article(1, gdelt_tone=-3.25), article(2, gdelt_tone=150.0)),
        2,
        {"out_of_range:gdelt_tone": 1},
        ["a1"],
    ),
    "GDELT tone a string": Case(
        "a.jsonl",
        ndjson(article(1, gdelt_tone=0), article(2, gdelt_tone="-2.1")),
        2,
        {"wrong_type:gdelt_tone": 1},
        ["a1"],
    ),
    "headline a list": Case(
        "a.jsonl",
        ndjson(article(1), article(2, headline=["x"])),
        2,
        {"wrong_type:headline": 1},
        ["a1"],
    ),
    "numeric id": Case(
        "a.jsonl",
        ndjson(article(1, article_id=12345678901234567890123)),
        1,
        {},
        ["12345678901234567890123"],
    ),
    "lone surrogate": Case(
        "a.jsonl",
        ndjson(article(1)) + b'{"headline": "\\udc00", "published_at": "2024-01-02T14:00:00Z"}\n',
        2,
        {"invalid_unicode:headline": 1},
        ["a1"],
    ),
    "malformed url": Case("a.jsonl", ndjson(article(1, url="http://[::1")), 1, {}, ["a1"]),
    "nested 100,000 deep": Case(
        "a.jsonl",
        ndjson(article(1)) + f'{{"title":{deep(100_000)}}}\n'.encode(),
        2,
        {"too_deep": 1},
        ["a1"],
    ),
    ".json nested 100,000 deep": Case(
        "a.json", f'{{"title":{deep(100_000)}}}'.encode(), 1, {"too_deep": 1}
    ),
    "not gzip": Case("a.jsonl.gz", ndjson(article(1)), 0, failed="not_gzip"),
}


@pytest.mark.parametrize("case", NEWS_CASES.values(), ids=NEWS_CASES.keys())
def test_news_input_classes(tmp_path: Path, case: Case) -> None:
    report, lake = _ingest(tmp_path, case, ingest_news)
    stored = _check(report, lake, case, tables.BRONZE_NEWS)
    ids = sorted(stored["article_id"]) if len(stored) else []
    assert ids == case.written


# -- quarantine contract (C2) --------------------------------------------------------------


def test_quarantine_is_idempotent_across_run_days(tmp_path: Path) -> None:
    case = Case("a.ndjson", GOOD + b"{bad\n" + b"[]\n", 3)
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / case.name).write_bytes(case.content)
    (raw / "b.ndjson.gz").write_bytes(b"not gzip")
    lake = Lake(tmp_path / "lake")
    ingest_market(raw, lake, run_ts=RUN_TS)
    first = _quarantine(lake, tables.BRONZE_CANDLES)

    ingest_market(raw, lake, run_ts=RUN_TS + dt.timedelta(days=3))

    again = _quarantine(lake, tables.BRONZE_CANDLES)
    pd.testing.assert_frame_equal(again, first)
    assert (again["quarantined_at"] == pd.Timestamp(RUN_TS)).all()
    assert len(again) == 3


def test_a_changed_bad_line_is_a_new_quarantine_row(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    lake = Lake(tmp_path / "lake")
    for n, bad in enumerate([b"{bad\n", b"{worse\n"]):
        (raw / "a.ndjson").write_bytes(bad)
        ingest_market(raw, lake, run_ts=RUN_TS + dt.timedelta(days=n))
    assert _quarantine(lake, tables.BRONZE_CANDLES)["raw"].tolist() == ["{bad", "{worse"]


def test_identical_bad_candles_in_one_line_are_each_kept(tmp_path: Path) -> None:
    bad = candle(1, high=1.0)  # high below open and close
    response = {"instrument": "SPX500_USD", "candles": [candle(0), bad, bad]}
    report, lake = _ingest(tmp_path, Case("a.ndjson", ndjson(response), 3))
    assert (report.read, report.written, report.quarantined) == (3, 1, 2)
    stored = _quarantine(lake, tables.BRONZE_CANDLES)
    assert stored[["record_number", "record_index", "reason"]].values.tolist() == [
        [1, 2, "high_below_open_close"],
        [1, 3, "high_below_open_close"],
    ]
    assert stored["raw"].map(json.loads).tolist() == [bad, bad]

    ingest_market(tmp_path / "raw", lake, run_ts=RUN_TS + dt.timedelta(days=1))  # rerun
    pd.testing.assert_frame_equal(_quarantine(lake, tables.BRONZE_CANDLES), stored)


BIG_LINE_SCRIPT = """
import datetime as dt, sys
from src_clean.data_pipelines.bronze.market import ingest_market
from src_clean.lake import Lake
from src_clean.memory import peak_rss_mb, reset_peak_rss, rss_mb
reset_peak_rss()
before = rss_mb()
report = ingest_market(sys.argv[1], Lake(sys.argv[2]), run_ts=dt.datetime(2024, 6, 1))
print(report.to_json())
print(int((peak_rss_mb() - before) * 1024))
"""


def _ingest_in_child(tmp_path: Path, name: str, bad_line: bytes) -> tuple[dict, int]:
    """GOOD + bad_line + one candle ingested in a new interpreter: report, peak RSS growth (KB)."""
    raw = tmp_path / name / "raw"
    raw.mkdir(parents=True)
    (raw / "a.ndjson").write_bytes(GOOD + bad_line + b"\n" + ndjson(candle(1)))
    result = subprocess.run(
        [sys.executable, "-c", BIG_LINE_SCRIPT, str(raw), str(tmp_path / name / "lake")],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    report_json, growth_kb = result.stdout.strip().splitlines()[-2:]
    return json.loads(report_json), int(growth_kb)


@pytest.mark.slow
def test_a_40_mb_bad_line_is_stored_as_64_kib_and_not_copied_around(tmp_path: Path) -> None:
    big = b'"' + b"x" * (40 * 1024 * 1024) + b'"'
    report, growth_kb = _ingest_in_child(tmp_path, "big", big)
    assert (report["read"], report["written"]) == (3, 2)
    assert report["quarantine_reasons"] == {"line_too_long": 1}
    row = _quarantine(Lake(tmp_path / "big" / "lake"), tables.BRONZE_CANDLES).iloc[0]
    assert len(row["raw"]) == RAW_LIMIT and row["raw_bytes"] == len(big)
    assert row["raw_sha256"] == hashlib.sha256(big).hexdigest()
    # A control with a bad line just over the limit pays the same lazy imports and allocator
    # warm-up (100-160 MB depending on the machine), so the difference is the big line's cost:
    # the file held once (40 MB) plus working copies of at most a few MB.
    _, control_kb = _ingest_in_child(tmp_path, "control", b'"' + b"x" * (RAW_LIMIT + 8) + b'"')
    extra_mb = (growth_kb - control_kb) // 1024
    assert extra_mb < 80, f"a 40 MB line cost {extra_mb} MB of peak RSS beyond a 64 KiB one"


# -- article identity (C3) -----------------------------------------------------------------


def _ingest_articles(tmp_path: Path, lake: Lake, records: list[dict], day: int) -> IngestReport:
    raw = tmp_path / f"raw{day}"
    raw.mkdir()
    (raw / "a.jsonl").write_bytes(ndjson(*records))
    return ingest_news(raw, lake, run_ts=RUN_TS + dt.timedelta(days=day))


def test_a_corrected_published_at_moves_the_article(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    _ingest_articles(tmp_path, lake, [article(1), article(2)], 0)
    moved = article(1, published_at="2024-01-05T09:00:00Z")
    _ingest_articles(tmp_path, lake, [moved], 1)
    stored = lake.read(tables.BRONZE_NEWS).set_index("article_id")
    assert sorted(stored.index) == ["a1", "a2"]
    assert stored.loc["a1", "published_at"] == pd.Timestamp("2024-01-05T09:00:00Z")
    assert lake.read(tables.BRONZE_NEWS, "2024-01-02", "2024-01-02")["article_id"].tolist() == [
        "a2"
    ]


def _move_and_score(tmp_path: Path) -> tuple[Lake, list]:
    lake = Lake(tmp_path / "lake")
    _ingest_articles(tmp_path, lake, [article(1), article(2)], 0)
    first = score_new_articles(lake, "lexicon", progress=False)
    _ingest_articles(tmp_path, lake, [article(1, published_at="2024-01-05T09:00:00Z")], 1)
    second = score_new_articles(lake, "lexicon", progress=False)
    return lake, [first, second]


def test_silver_rescores_an_article_whose_published_at_moved(tmp_path: Path) -> None:
    lake, (first, second) = _move_and_score(tmp_path)
    assert (first.scored, second.scored) == (2, 1)
    moved = lake.read(tables.SILVER_SENTIMENT, "2024-01-05", "2024-01-05")
    assert moved["article_id"].tolist() == ["a1"]
    assert moved["published_at"].tolist() == [pd.Timestamp("2024-01-05T09:00:00Z")]
    rerun = score_new_articles(lake, "lexicon", progress=False)
    assert rerun.scored == 0  # nothing moved since


def test_silver_keeps_one_row_per_article_and_model_after_a_move(tmp_path: Path) -> None:
    lake, _ = _move_and_score(tmp_path)
    silver = lake.read(tables.SILVER_SENTIMENT)
    assert not silver.duplicated(["article_id", "model_id"]).any()
    assert silver.set_index("article_id").loc["a1", "published_at"] == pd.Timestamp(
        "2024-01-05T09:00:00Z"
    )
