"""Property-based tests: arbitrary bytes and JSON values never raise out of the bronze
parsers or ingests, and every record read is accounted for.

Bounded for CI: ``derandomize`` makes every run draw the same examples (a failure seen
once is seen again), ``deadline=None`` tolerates a loaded machine.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from src_clean import tables
from src_clean.data_pipelines.bronze.market import ingest_market, validate_safely
from src_clean.data_pipelines.bronze.market_parse import parse_file
from src_clean.data_pipelines.bronze.news import ingest_news
from src_clean.data_pipelines.bronze.news_fields import to_articles
from src_clean.data_pipelines.bronze.news_formats import parse_news_file
from src_clean.data_pipelines.bronze.quarantine import RAW_LIMIT
from src_clean.data_pipelines.bronze.sources import list_input_files
from src_clean.lake import Lake

RUN_TS = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
FAST = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SLOW = settings(FAST, max_examples=40)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["2024-01-02T14:31:00Z", "2024-01-02T14Z", "3000-01-01", "1e400", "NaN"])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
price_sides = st.fixed_dictionaries({}, optional={k: json_values for k in "ohlc"})
candles = st.fixed_dictionaries(
    {},
    optional={
        **{k: json_values for k in ("time", "open", "high", "low", "close", "volume")},
        **{k: json_values for k in ("complete", "instrument", "granularity")},
        **{side: price_sides | json_values for side in ("mid", "bid", "ask")},
    },
)
wrappers = st.fixed_dictionaries(
    {"candles": st.lists(candles, max_size=3) | json_values},
    optional={"instrument": json_values, "granularity": json_values},
)
articles = st.fixed_dictionaries(
    {},
    optional={
        k: json_values
        for k in ("article_id", "id", "headline", "title", "body", "published_at", "url")
    }
    | {"source": st.fixed_dictionaries({}, optional={"name": json_values}) | json_values},
)
separators = st.sampled_from(["\n", "\r\n", "\r"])


def _dump(value: Any) -> str:
    return json.dumps(value)  # NaN/Infinity literals included, as some producers write them


def _lines(values: list[Any], separator: str) -> bytes:
    return "".join(_dump(v) + separator for v in values).encode("utf-8", "surrogatepass")


def _market_counts(path: Path) -> tuple[int, int]:
    """(records read, records accounted for) by parsing and validating one file."""
    [file] = list_input_files(path, [path.name])
    parsed = parse_file(file)
    checked = validate_safely(
        parsed.records, timezone="UTC", instrument="SPX500_USD", granularity="M1"
    )
    accounted = len(checked.candles) + checked.incomplete + len(checked.rejected)
    _no_parser_errors([*checked.rejected, *parsed.rejected])
    return parsed.read, accounted + len(parsed.rejected)


def _no_parser_errors(rejected: list) -> None:
    """Every rejection has a precise reason: the safety net (``parser_error``) caught nothing."""
    assert not [r.reason for r in rejected if r.reason.startswith("parser_error")]


def _news_counts(path: Path) -> tuple[int, int]:
    [file] = list_input_files(path, [path.name])
    parsed = parse_news_file(file)
    valid, invalid = to_articles(parsed.rows)
    _no_parser_errors([*invalid, *parsed.rejected])
    return parsed.records, len(valid) + len(invalid) + len(parsed.rejected)


@FAST
@given(
    data=st.binary(max_size=400),
    name=st.sampled_from(["a.ndjson", "a.csv", "a.json", "a.ndjson.gz"]),
)
def test_candle_parser_takes_any_bytes(tmp_path: Path, data: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    read, accounted = _market_counts(path)
    assert read == accounted


@FAST
@given(values=st.lists(candles | wrappers | json_values, max_size=6), sep=separators)
def test_candle_parser_takes_any_json(tmp_path: Path, values: list[Any], sep: str) -> None:
    path = tmp_path / "a.ndjson"
    path.write_bytes(_lines(values, sep))
    read, accounted = _market_counts(path)
    assert read == accounted


@FAST
@given(data=st.binary(max_size=400), name=st.sampled_from(["a.jsonl", "a.json", "a.jsonl.gz"]))
def test_news_parser_takes_any_bytes(tmp_path: Path, data: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    read, accounted = _news_counts(path)
    assert read == accounted


@FAST
@given(
    values=st.lists(articles | json_values, max_size=6),
    sep=separators,
    name=st.sampled_from(["a.jsonl", "a.json"]),
)
def test_news_parser_takes_any_json(tmp_path: Path, values: list[Any], sep: str, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(_lines(values, sep))
    read, accounted = _news_counts(path)
    assert read == accounted
    if name == "a.jsonl":
        assert read == len(values)


def _quarantine_rows(lake: Lake, table: str) -> pd.DataFrame:
    target = tables.quarantine(table)
    return lake.read(target) if lake.exists(target) else pd.DataFrame()


@SLOW
@given(
    market=st.lists(candles | wrappers | json_values, max_size=5),
    news=st.lists(articles, max_size=5),
    garbage=st.binary(max_size=200),
    gzip_cut=st.integers(min_value=0, max_value=200),
)
def test_ingests_balance_and_store_what_they_report(
    tmp_path_factory: Any, market: list, news: list, garbage: bytes, gzip_cut: int
) -> None:
    root = tmp_path_factory.mktemp("fuzz")
    raw = root / "raw"
    raw.mkdir()
    (raw / "a.ndjson").write_bytes(_lines(market, "\n"))
    (raw / "b.ndjson").write_bytes(garbage)
    compressed = gzip.compress(_lines(market, "\r\n"))
    (raw / "c.ndjson.gz").write_bytes(compressed[: max(len(compressed) - gzip_cut, 0)])
    (raw / "d.jsonl").write_bytes(_lines(news, "\n") + garbage)
    (raw / "e.json").write_bytes(_lines(news, "\n"))
    lake = Lake(root / "lake")

    for ingest, table in (
        (ingest_market, tables.BRONZE_CANDLES),
        (ingest_news, tables.BRONZE_NEWS),
    ):
        report = ingest(raw, lake, run_ts=RUN_TS)
        assert report.balanced
        stored = lake.read(table) if lake.exists(table) else pd.DataFrame()
        assert len(stored) == report.written  # a fresh lake: every written row is new
        quarantined = _quarantine_rows(lake, table)
        records = quarantined[quarantined["record_number"] > 0] if len(quarantined) else []
        assert len(records) <= report.quarantined  # identical rejections are stored once
        assert (len(records) == 0) == (report.quarantined == 0)
        failed = set(report.files_failed) | set(report.files_truncated)
        files = (
            set(quarantined[quarantined["record_number"] == 0]["source_file"])
            if len(quarantined)
            else set()
        )
        assert files == failed
        if len(quarantined):
            assert (quarantined["raw"].str.len() <= RAW_LIMIT).all()
            assert (quarantined["raw_sha256"].str.len() == 64).all()
