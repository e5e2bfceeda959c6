"""Bronze news ingest: formats, aliases, article ids, quarantine, counts, idempotent reruns."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from src_clean import cli, tables
from src_clean.data_pipelines.bronze.news import BRONZE_NEWS_COLUMNS, ingest_news
from src_clean.data_pipelines.bronze.news_fields import normalize_url, timestamp_problems
from src_clean.lake import Lake

RUN_TS = dt.datetime(2024, 1, 3, 9, 0, tzinfo=dt.UTC)
QUARANTINE = tables.quarantine(tables.BRONZE_NEWS)


def _article(n: int, **fields: Any) -> dict[str, Any]:
    base = {
        "article_id": f"a{n}",
        "headline": f"Stocks move {n}",
        "body": f"Body {n}",
        "published_at": f"2024-01-02T14:{n:02d}:00Z",
        "url": f"https://news.example.com/{n}",
    }
    return {**base, **fields}


def _write_json(path: Path, obj: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def _jsonl_bytes(records: list[Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def _write_jsonl(path: Path, records: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _jsonl_bytes(records)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def _ingest(path: Path, lake_root: Path, **kwargs: Any):
    return ingest_news(path, Lake(lake_root), run_ts=kwargs.pop("run_ts", RUN_TS), **kwargs)


def _bronze(lake_root: Path) -> pd.DataFrame:
    return Lake(lake_root).read(tables.BRONZE_NEWS).set_index("article_id")


def test_json_per_article_files_in_nested_folders(tmp_path) -> None:
    raw = tmp_path / "raw"
    _write_json(raw / "2024/01/a1.json", _article(1))
    _write_json(raw / "2024/01/deeper/a2.json", _article(2, published_at="2024-01-03T00:05:00Z"))
    report = _ingest(raw, tmp_path / "lake")
    assert (report.read, report.written, report.files) == (2, 2, 2)
    assert report.partitions == ["2024-01-02", "2024-01-03"]
    bronze = Lake(tmp_path / "lake").read(tables.BRONZE_NEWS)
    assert list(bronze.columns) == BRONZE_NEWS_COLUMNS
    assert bronze["article_id"].tolist() == ["a1", "a2"]
    assert bronze["published_at"].dtype == "datetime64[ns, UTC]"
    assert bronze["ingested_at"].eq(pd.Timestamp(RUN_TS)).all()
    assert bronze["source_file"].str.endswith(("01/a1.json", "deeper/a2.json")).all()


@pytest.mark.parametrize("name", ["articles.jsonl", "articles.jsonl.gz"])
def test_jsonl_and_gzipped_jsonl(tmp_path, name) -> None:
    path = _write_jsonl(tmp_path / "raw/text" / name, [_article(n) for n in range(3)])
    report = _ingest(path, tmp_path / "lake")
    assert (report.read, report.written, report.quarantined) == (3, 3, 0)
    assert _bronze(tmp_path / "lake").loc["a2", "headline"] == "Stocks move 2"


def test_newsapi_gdelt_and_rss_aliases(tmp_path) -> None:
    newsapi = {
        "source": {"id": "reuters", "name": "Reuters"},
        "Title": "Fed holds rates",
        "description": "The Fed held.",
        "content": None,
        "publishedAt": "2024-01-02T14:30:00Z",
        "url": "https://www.reuters.com/markets/fed",
        "urlToImage": "https://img.example.com/x.png",
    }
    gdelt = {
        "url": "https://www.cnbc.com/2024/01/02/stocks.html",
        "title": "Stocks rally",
        "seendate": "20240102T143000Z",
        "domain": "cnbc.com",
        "language": "English",
        "socialimage": "",
    }
    rss = {
        "id": "rss-1",
        "title": "Oil slips",
        "summary": "Crude fell.",
        "link": "https://feeds.example.com/oil",
        "published": "Tue, 02 Jan 2024 09:30:00 -0500",
    }
    _write_jsonl(tmp_path / "raw/mixed.jsonl", [newsapi, gdelt, rss])
    report = _ingest(tmp_path / "raw", tmp_path / "lake")
    assert report.written == 3
    bronze = Lake(tmp_path / "lake").read(tables.BRONZE_NEWS).set_index("headline")
    expected_time = pd.Timestamp("2024-01-02T14:30:00Z")
    assert (bronze["published_at"] == expected_time).all()
    assert bronze.loc["Fed holds rates", ["source", "body"]].tolist() == [
        "Reuters",
        "The Fed held.",
    ]
    assert bronze.loc["Stocks rally", ["source", "language"]].tolist() == ["cnbc.com", "en"]
    assert bronze.loc["Oil slips", ["article_id", "url", "body"]].tolist() == [
        "rss-1",
        "https://feeds.example.com/oil",
        "Crude fell.",
    ]


def test_defaults_and_whitespace(tmp_path) -> None:
    record = {
        "title": "  Headline only \n",
        "url": " https://WWW.Example.com/x ",
        "date": 1704205800,
    }
    _write_json(tmp_path / "raw/a.json", record)
    _ingest(tmp_path / "raw", tmp_path / "lake")
    row = Lake(tmp_path / "lake").read(tables.BRONZE_NEWS).iloc[0]
    assert row["headline"] == "Headline only"
    assert (row["body"], row["language"], row["source"]) == ("", "en", "example.com")
    assert row["url"] == "https://WWW.Example.com/x"
    assert row["published_at"] == pd.Timestamp("2024-01-02T14:30:00Z")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-01-02T14:30:00Z", "2024-01-02T14:30:00Z"),
        ("2024-01-02T09:30:00-05:00", "2024-01-02T14:30:00Z"),
        ("2024-01-02 14:30:00", "2024-01-02T14:30:00Z"),  # naive is read as UTC
        ("20240102T143000Z", "2024-01-02T14:30:00Z"),
        ("20240102143000", "2024-01-02T14:30:00Z"),
        ("Tue, 02 Jan 2024 14:30:00 GMT", "2024-01-02T14:30:00Z"),
        (1704205800, "2024-01-02T14:30:00Z"),
        (1704205800.25, "2024-01-02T14:30:00.25Z"),
        (1704205800123, "2024-01-02T14:30:00.123Z"),
        ("1704205800", "2024-01-02T14:30:00Z"),
        ("2024-01-02T14:30:00.123456789Z", "2024-01-02T14:30:00.123456789Z"),
    ],
)
def test_timestamp_formats(raw, expected) -> None:
    parsed, _ = timestamp_problems(pd.Series([raw], dtype=object))
    assert parsed.dtype == "datetime64[ns, UTC]"
    assert parsed.iloc[0] == pd.Timestamp(expected)


def test_unparseable_timestamps_are_nat() -> None:
    values = pd.Series(["yesterday", True, {"t": 1}, [1], 1e30, "2024-13-45"], dtype=object)
    assert timestamp_problems(values)[0].isna().all()


def test_url_normalization() -> None:
    variants = [
        "https://News.Example.com/markets/story/?utm_source=x&utm_medium=y",
        "HTTPS://news.example.com/markets/story#comments",
        "https://news.example.com/markets/story/",
        "https://news.example.com/markets/story?UTM_campaign=z",
    ]
    assert {normalize_url(u) for u in variants} == {"https://news.example.com/markets/story"}
    assert normalize_url("https://x.com/a?id=3&utm_source=y") == "https://x.com/a?id=3"
    assert normalize_url("https://x.com/a?id=3") != normalize_url("https://x.com/a?id=4")


def test_article_ids_given_url_hash_and_text_hash(tmp_path) -> None:
    no_id = {"headline": "Same story", "published_at": "2024-01-02T14:00:00Z"}
    records = [
        {**no_id, "id": 123},
        {**no_id, "url": "https://News.Example.com/story/?utm_source=feed"},
        {**no_id, "url": "https://news.example.com/story#top", "headline": "Same story v2"},
        {**no_id, "url": "https://news.example.com/story/"},
        {**no_id, "published_at": "2024-01-02T15:00:00+01:00"},
        no_id,
    ]
    _write_jsonl(tmp_path / "raw/a.jsonl", records)
    report = _ingest(tmp_path / "raw", tmp_path / "lake")
    assert (report.read, report.written, report.duplicates) == (6, 3, 3)
    bronze = _bronze(tmp_path / "lake")
    ids = sorted(bronze.index)
    assert ids[0] == "123"
    # ids are hashes of the normalized URL or of headline + time: pinned, so that they
    # stay the same across versions (a changed id would duplicate every stored article)
    assert ids[1] == "text:b1d9bb854638d22e"  # sha1("Same story|2024-01-02 14:00:00+00:00")
    assert ids[2] == "url:c56043126f99418c"  # sha1("https://news.example.com/story")
    assert bronze.loc[ids[2], "url"] == "https://news.example.com/story/"  # last one wins


def test_text_hash_is_stable_across_runs(tmp_path) -> None:
    record = {"headline": "No url", "published_at": "2024-01-02T14:00:00Z"}
    _write_json(tmp_path / "raw1/a.json", record)
    _write_json(tmp_path / "raw2/b.json", {**record, "published_at": 1704204000})
    _ingest(tmp_path / "raw1", tmp_path / "lake")
    _ingest(tmp_path / "raw2", tmp_path / "lake")
    assert list(_bronze(tmp_path / "lake").index) == ["text:3812ac4ac1a59638"]


def test_every_quarantine_reason_and_count_invariant(tmp_path) -> None:
    lines = [
        json.dumps(_article(1)).encode(),
        b'{"headline": "broken", ',
        b'{"headline": "caf\xe9", "published_at": "2024-01-02T14:00:00Z"}',
        json.dumps(_article(2, headline="  ", body="\t")).encode(),
        json.dumps(_article(3, published_at=None)).encode(),
        json.dumps(_article(4, published_at="   ")).encode(),
        json.dumps(_article(5, published_at="not a date")).encode(),
        b"[1, 2]",
        b"",
        json.dumps(_article(1, headline="Stocks move 1, updated")).encode(),
    ]
    path = tmp_path / "raw/a.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = _ingest(path, tmp_path / "lake")
    assert dict(report.quarantine_reasons) == {
        "invalid_json": 1,
        "invalid_utf8": 1,
        "no_text": 1,
        "missing_published_at": 2,
        "unparseable_published_at": 1,
        "not_an_object": 1,
    }
    assert (report.read, report.written, report.duplicates, report.quarantined) == (9, 1, 1, 7)
    assert report.balanced
    assert _bronze(tmp_path / "lake").loc["a1", "headline"] == "Stocks move 1, updated"
    quarantine = Lake(tmp_path / "lake").read(QUARANTINE).set_index("record_number")
    assert quarantine["reason"].to_dict() == {
        2: "invalid_json",
        3: "invalid_utf8",
        4: "no_text",
        5: "missing_published_at",
        6: "missing_published_at",
        7: "unparseable_published_at",
        8: "not_an_object",
    }
    assert (
        quarantine.loc[3, "raw"]
        == '{"headline": "caf\ufffd", "published_at": "2024-01-02T14:00:00Z"}'
    )
    assert quarantine.loc[7, "raw"] == json.dumps(_article(5, published_at="not a date"))


def test_invalid_json_document_is_quarantined(tmp_path) -> None:
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw/bad.json").write_text('{"title": "cut off')
    (tmp_path / "raw/latin1.json").write_bytes(b'{"title": "\xe9t\xe9"}')
    report = _ingest(tmp_path / "raw", tmp_path / "lake")
    assert dict(report.quarantine_reasons) == {"invalid_json": 1, "invalid_utf8": 1}
    assert (report.read, report.quarantined, report.written) == (2, 2, 0)
    assert not Lake(tmp_path / "lake").exists(tables.BRONZE_NEWS)


def test_truncated_gzip_cut_line_is_quarantined_and_the_file_reported(tmp_path) -> None:
    bodies = [hashlib.sha256(bytes([n])).hexdigest() * 4 for n in range(5)]  # incompressible
    data = _jsonl_bytes([_article(n, body=body) for n, body in enumerate(bodies)])
    path = tmp_path / "raw/text/part.jsonl.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(data)[:-60])
    report = _ingest(path, tmp_path / "lake")
    assert report.quarantine_reasons == {"truncated_line": 1}
    assert (report.read, report.written) == (5, 4)
    assert list(report.files_truncated) == [str(path)]
    assert report.balanced


def test_non_article_json_files_are_skipped_with_a_note(tmp_path) -> None:
    raw = tmp_path / "raw"
    _write_json(raw / "a1.json", _article(1))
    seen = _write_json(raw / "seen_articles.json", ["a1", "https://news.example.com/2"])
    state = _write_json(raw / "state.json", {"last_run": "2024-01-02", "count": 4})
    report = _ingest(raw, tmp_path / "lake")
    assert (report.files, report.read, report.written, report.quarantined) == (3, 1, 1, 0)
    assert len(report.skipped_files) == 2
    assert report.skipped_files[0].startswith(str(seen)) and "list" in report.skipped_files[0]
    assert report.skipped_files[1].startswith(str(state))


def test_rerun_with_another_run_ts_leaves_the_table_identical(tmp_path) -> None:
    raw = _write_jsonl(tmp_path / "raw/a.jsonl", [_article(n) for n in range(4)])
    lake_root = tmp_path / "lake"
    _ingest(raw, lake_root)
    version = Lake(lake_root).version(tables.BRONZE_NEWS)
    first = Lake(lake_root).read(tables.BRONZE_NEWS)
    report = _ingest(raw, lake_root, run_ts=RUN_TS + dt.timedelta(days=1))
    assert report.written == 4
    pd.testing.assert_frame_equal(Lake(lake_root).read(tables.BRONZE_NEWS), first)
    assert Lake(lake_root).version(tables.BRONZE_NEWS) == version  # no file rewritten


def test_only_new_uses_the_ledger(tmp_path) -> None:
    raw, lake_root = tmp_path / "raw", tmp_path / "lake"
    _write_jsonl(raw / "day1.jsonl", [_article(1), _article(2)])
    assert _ingest(raw, lake_root, only_new=True).read == 2
    _write_jsonl(raw / "day2.jsonl", [_article(3)])
    later = RUN_TS + dt.timedelta(hours=1)
    report = _ingest(raw, lake_root, only_new=True, run_ts=later)
    assert (report.files, report.read, report.written) == (1, 1, 1)
    assert _ingest(raw, lake_root, only_new=True).files == 0
    ingested = _bronze(lake_root)["ingested_at"]
    assert ingested.to_dict() == {
        "a1": pd.Timestamp(RUN_TS),
        "a2": pd.Timestamp(RUN_TS),
        "a3": pd.Timestamp(later),
    }


def test_naive_run_ts_is_utc(tmp_path) -> None:
    path = _write_json(tmp_path / "raw/a.json", _article(1))
    _ingest(path, tmp_path / "lake", run_ts=dt.datetime(2024, 1, 3, 9, 0))
    assert _bronze(tmp_path / "lake").loc["a1", "ingested_at"] == pd.Timestamp(RUN_TS)


def test_cli_prints_report_and_exits_zero_on_bad_records(tmp_path, capsys) -> None:
    path = tmp_path / "raw/a.jsonl"
    path.parent.mkdir()
    path.write_bytes(_jsonl_bytes([_article(1)]) + b"not json\n")
    argv = ["bronze-news", "--input", str(path), "--lake", str(tmp_path / "lake")]
    assert cli.main([*argv, "--run-ts", "2024-01-03T09:00:00Z"]) == 0
    summary, payload = capsys.readouterr().out.strip().splitlines()
    assert summary.startswith(f"{tables.BRONZE_NEWS}: read=2 written=1")
    assert json.loads(payload)["quarantine_reasons"] == {"invalid_json": 1}
    assert _bronze(tmp_path / "lake").loc["a1", "ingested_at"] == pd.Timestamp(RUN_TS)


def test_cli_missing_input_exits_two(tmp_path, capsys) -> None:
    missing = tmp_path / "nope"
    argv = ["bronze-news", "--input", str(missing), "--lake", str(tmp_path / "lake")]
    assert cli.main(argv) == 2
    assert f"input not found: {missing}" in capsys.readouterr().err
