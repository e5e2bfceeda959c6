"""Bronze market ingest: formats, quarantine reasons, counts, time zones, reruns."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import zlib
from pathlib import Path

import pandas as pd
import pytest

from src_clean import cli, tables
from src_clean.data_pipelines.bronze.lines import split_lines
from src_clean.data_pipelines.bronze.market import ingest_market
from src_clean.data_pipelines.bronze.market_parse import arrow_json_records, json_records
from src_clean.data_pipelines.bronze.market_validate import validate
from src_clean.lake import Lake
from src_clean.reports import IngestReport

RUN_TS = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
QUARANTINE = tables.quarantine(tables.BRONZE_CANDLES)
OHLCV = ["open", "high", "low", "close", "volume"]

# Two candles in canonical form: (time, open, high, low, close, volume). Quarter-point
# prices keep bid/ask midpoints exact in binary floating point.
CANDLES = [
    ("2024-01-02T14:31:00Z", 4701.25, 4702.5, 4700.75, 4701.5, 120),
    ("2024-01-02T14:32:00Z", 4701.5, 4703.0, 4701.0, 4702.75, 95),
]


def _ohlc(candle: tuple, shift: float = 0.0) -> dict[str, str]:
    return {k: str(v + shift) for k, v in zip("ohlc", candle[1:5], strict=True)}


def _oanda(candle: tuple, **prices: dict[str, str]) -> dict:
    time = candle[0].replace("Z", ".000000000Z")
    return {"complete": True, "volume": candle[5], "time": time, **prices}


def _flat(candle: tuple) -> dict:
    prices = dict(zip(OHLCV[:4], candle[1:5], strict=True))
    labels = {"instrument": "SPX500_USD", "granularity": "M1"}
    return {"time": candle[0], **labels, **prices, "volume": candle[5]}


def _ndjson(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def _csv_rows(with_volume: bool) -> list[str]:
    return [",".join(map(str, c[:5] + ((c[5],) if with_volume else ()))) for c in CANDLES]


WRAPPER = {
    "instrument": "SPX500_USD",
    "granularity": "M1",
    "candles": [_oanda(c, mid=_ohlc(c)) for c in CANDLES],
}
FORMATS = {
    "oanda_mid": _ndjson([_oanda(c, mid=_ohlc(c)) for c in CANDLES]),
    "oanda_bid_ask": _ndjson([_oanda(c, bid=_ohlc(c, -0.25), ask=_ohlc(c, 0.25)) for c in CANDLES]),
    "oanda_wrapper_line": _ndjson([WRAPPER]),
    "oanda_wrapper_file": json.dumps(WRAPPER, indent=2),
    "flat_ndjson": _ndjson([_flat(c) for c in CANDLES]),
    "csv_header": "Timestamp,OPEN,High,low,Close,Volume\n" + "\n".join(_csv_rows(True)) + "\n",
    "csv_headerless_volume": "\n".join(_csv_rows(True)) + "\n",
    "csv_headerless_no_volume": "\n".join(_csv_rows(False)) + "\n",
}


def _write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


def _ingest(tmp_path: Path, files: dict[str, str | bytes], **kwargs) -> IngestReport:
    for name, content in files.items():
        _write(tmp_path / "raw", name, content)
    return ingest_market(tmp_path / "raw", Lake(tmp_path / "lake"), run_ts=RUN_TS, **kwargs)


def _candles(tmp_path: Path) -> pd.DataFrame:
    return Lake(tmp_path / "lake").read(tables.BRONZE_CANDLES)


def _quarantine(tmp_path: Path) -> pd.DataFrame:
    lake = Lake(tmp_path / "lake")
    return lake.read(QUARANTINE).sort_values(["source_file", "record_number"], ignore_index=True)


def _expected(with_volume: bool = True) -> pd.DataFrame:
    frame = pd.DataFrame(CANDLES, columns=["time", *OHLCV])
    frame["time"] = pd.to_datetime(frame["time"]).astype("datetime64[ns, UTC]")
    volume = frame["volume"] if with_volume else [pd.NA] * len(frame)
    frame["volume"] = pd.array(volume, dtype="Int64")
    return frame


# -- formats ----------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_gives_the_same_candles(tmp_path: Path, fmt: str, gz: bool) -> None:
    suffix = ".csv" if fmt.startswith("csv") else ".ndjson"
    name = f"candles{suffix}{'.gz' if gz else ''}"

    report = _ingest(tmp_path, {name: FORMATS[fmt]})

    assert (report.read, report.written, report.quarantined) == (2, 2, 0)
    stored = _candles(tmp_path)
    assert stored.columns.tolist() == ["time", "instrument", "granularity", *OHLCV, "source_file"]
    assert stored["time"].dtype == "datetime64[ns, UTC]"
    assert (stored["instrument"] == "SPX500_USD").all()
    assert (stored["granularity"] == "M1").all()
    assert stored["source_file"].str.endswith(name).all()
    got = stored[["time", *OHLCV]]
    pd.testing.assert_frame_equal(got, _expected(with_volume=fmt != "csv_headerless_no_volume"))


def _validated(records: pd.DataFrame) -> pd.DataFrame:
    records = records.assign(source_file="f.ndjson")
    return validate(records, timezone="UTC", instrument="X", granularity="M1").candles


@pytest.mark.parametrize("fmt", ["oanda_mid", "oanda_bid_ask", "flat_ndjson"])
def test_clean_ndjson_takes_the_arrow_path_with_the_same_candles(fmt: str) -> None:
    data = FORMATS[fmt].encode()
    lines = split_lines(data, "f.ndjson")

    fast = arrow_json_records(data, lines.good)

    assert fast is not None
    pd.testing.assert_frame_equal(_validated(fast), _validated(json_records(lines)))


@pytest.mark.parametrize("fmt", ["oanda_wrapper_line", "oanda_wrapper_file"])
def test_arrow_path_leaves_wrappers_to_the_line_parser(fmt: str) -> None:
    data = FORMATS[fmt].encode()

    assert arrow_json_records(data, split_lines(data, "f.ndjson").good) is None


def test_instrument_comes_from_the_record_then_the_wrapper_then_the_default(
    tmp_path: Path,
) -> None:
    t1, t2 = CANDLES
    rows = [
        {**_flat(t1), "instrument": "NAS100_USD"},
        {"instrument": "US30_USD", "candles": [_oanda(t2, mid=_ohlc(t2))]},
    ]
    headerless = "\n".join(_csv_rows(True)[:1]) + "\n"

    _ingest(tmp_path, {"a.ndjson": _ndjson(rows), "b.csv": headerless}, instrument="X")

    got = _candles(tmp_path).sort_values(["instrument"])["instrument"].tolist()
    assert got == ["NAS100_USD", "US30_USD", "X"]


# -- rejections -------------------------------------------------------------------------

GOOD = _ndjson([_flat(CANDLES[0])])


def _bad(**changes: object) -> str:
    """A flat candle at 14:40 with ``changes`` applied (``None`` removes the field)."""
    row = {**_flat(CANDLES[0]), "time": "2024-01-02T14:40:00Z", **changes}
    return json.dumps({k: v for k, v in row.items() if v is not None})


def _mid(**prices: str) -> str:
    candle = ("2024-01-02T14:40:00Z", 10.0, 12.0, 9.0, 11.0, 5)
    return json.dumps(
        _oanda(candle, mid={k: v for k, v in {**_ohlc(candle), **prices}.items() if v})
    )


REJECTIONS = {
    "invalid_json": '{"time": "2024-01-02T14:40:00Z", "open": 1',
    "not_a_candle": "42",
    "unparseable_time": _bad(time="yesterday"),
    "missing_field:time": _bad(time=None),
    "missing_field:close": _mid(c=""),
    "unparseable_price": _mid(o="abc"),
    "non_finite_price": _bad(open=float("nan")),
    "non_positive_price": _mid(o="0", l="0"),
    "high_below_open_close": _bad(high=4701.0),
    "low_above_open_close": _bad(low=4701.4),
    "negative_volume": _bad(volume=-3),
    "invalid_volume": _bad(volume=1.5),
    "granularity_mismatch": _bad(granularity="M5"),
}


@pytest.mark.parametrize("reason", list(REJECTIONS))
def test_bad_json_records_are_quarantined_with_a_reason(tmp_path: Path, reason: str) -> None:
    bad = REJECTIONS[reason]

    report = _ingest(tmp_path, {"c.ndjson": GOOD + "\n" + bad + "\n"})

    assert (report.read, report.written, report.quarantined) == (2, 1, 1)
    assert report.quarantine_reasons == {reason: 1}
    rejected = _quarantine(tmp_path)
    assert rejected[["record_number", "reason"]].values.tolist() == [[3, reason]]
    assert rejected.at[0, "raw"] == bad
    assert rejected.at[0, "source_file"].endswith("c.ndjson")
    assert len(_candles(tmp_path)) == 1


@pytest.mark.parametrize("literal", ["NaN", "-Infinity", '"inf"', '"nan"'])
def test_non_finite_prices_are_not_missing_fields(tmp_path: Path, literal: str) -> None:
    line = _bad().replace('"open": 4701.25', f'"open": {literal}')

    report = _ingest(tmp_path, {"c.ndjson": GOOD + line + "\n"})

    assert report.quarantine_reasons == {"non_finite_price": 1}


def test_invalid_utf8_line_is_quarantined_and_the_rest_kept(tmp_path: Path) -> None:
    bad = b'{"time": "2024-01-02T14:40:00Z", "open": "\xff\xfe"}\n'

    report = _ingest(tmp_path, {"c.ndjson": GOOD.encode() + bad + FORMATS["oanda_mid"].encode()})

    assert report.quarantine_reasons == {"invalid_utf8": 1}
    assert (report.read, report.written) == (4, 2)
    assert _quarantine(tmp_path)["record_number"].tolist() == [2]


def test_bad_csv_rows_are_quarantined(tmp_path: Path) -> None:
    rows = [
        "time,open,high,low,close,volume",
        "2024-01-02 14:31:00,1,2,0.5,1.5,7",
        "2024-01-02 14:32:00,1,2",
        "2024-01-02 14:33:00,1,2,0.5,1.5,7,99",
        "2024-01-02 14:34:00,1,2,0.5,1.5",
        "not a time,1,2,0.5,1.5,7",
    ]

    report = _ingest(tmp_path, {"c.csv": "\n".join(rows) + "\n"})

    assert (report.read, report.written, report.quarantined) == (5, 2, 3)
    assert _quarantine(tmp_path)[["record_number", "reason"]].values.tolist() == [
        [3, "missing_field:low"],
        [4, "extra_fields"],
        [6, "unparseable_time"],
    ]


def test_counts_balance_over_a_mixed_run(tmp_path: Path) -> None:
    t1, t2 = CANDLES
    lines = [
        json.dumps(_oanda(t1, mid=_ohlc(t1))),
        "",
        json.dumps({**_oanda(t2, mid=_ohlc(t2)), "complete": False}),
        "   ",
        json.dumps(_oanda(t1, mid=_ohlc(t1, 1.0))),
        REJECTIONS["high_below_open_close"],
        "{broken",
    ]
    files = {"a.ndjson": "\n".join(lines) + "\n", "b.csv": "\n".join(_csv_rows(True)) + "\n"}

    report = _ingest(tmp_path, files)

    counts = (report.read, report.written, report.duplicates, report.incomplete)
    assert counts == (7, 2, 2, 1)  # blank lines are not records
    assert report.quarantined == 2 and report.balanced and report.files == 2
    assert report.partitions == ["2024-01-02"]


# -- duplicates, incomplete, reruns -------------------------------------------------------


def test_incomplete_candles_are_skipped_and_counted(tmp_path: Path) -> None:
    t1, t2 = CANDLES
    rows = [_oanda(t1, mid=_ohlc(t1)), {**_oanda(t2, mid=_ohlc(t2)), "complete": False}]

    report = _ingest(tmp_path, {"a.ndjson": _ndjson(rows)})

    assert (report.read, report.written, report.incomplete, report.quarantined) == (2, 1, 1, 0)
    assert _candles(tmp_path)["time"].tolist() == [pd.Timestamp(t1[0])]


def test_duplicates_keep_the_last_in_file_order(tmp_path: Path) -> None:
    t1 = CANDLES[0]
    first = _ndjson([_oanda(t1, mid=_ohlc(t1)), _oanda(t1, mid=_ohlc(t1, 1.0))])
    second = _ndjson([_oanda(t1, mid=_ohlc(t1, 2.0))])

    report = _ingest(tmp_path, {"2024/a.ndjson": first, "2024/b.ndjson": second})

    assert (report.read, report.written, report.duplicates) == (3, 1, 2)
    stored = _candles(tmp_path)
    assert stored["open"].tolist() == [t1[1] + 2.0]
    assert stored.at[0, "source_file"].endswith("b.ndjson")


def test_rerun_is_byte_identical(tmp_path: Path) -> None:
    files = {"a.ndjson": FORMATS["oanda_mid"] + "{broken\n", "b.csv.gz": FORMATS["csv_header"]}
    _ingest(tmp_path, files)
    lake_dir = tmp_path / "lake"
    first = {p: p.read_bytes() for p in sorted(lake_dir.rglob("*.parquet"))}

    report = _ingest(tmp_path, files)

    assert (report.written, report.duplicates, report.quarantined) == (2, 2, 1)
    assert {p: p.read_bytes() for p in sorted(lake_dir.rglob("*.parquet"))} == first
    assert len(_candles(tmp_path)) == 2


def test_a_later_corrected_candle_replaces_the_stored_one(tmp_path: Path) -> None:
    t1, t2 = CANDLES
    _ingest(tmp_path, {"a.ndjson": FORMATS["oanda_mid"]})
    fixed = _ndjson([{**_oanda(t2, mid=_ohlc(t2, 0.5)), "volume": 99}])
    (tmp_path / "raw" / "a.ndjson").unlink()

    report = _ingest(tmp_path, {"b.ndjson": fixed})

    assert report.written == 1
    stored = _candles(tmp_path)
    assert stored["close"].tolist() == [t1[4], t2[4] + 0.5]
    assert stored["volume"].tolist() == [t1[5], 99]


def test_only_new_skips_files_already_ingested(tmp_path: Path) -> None:
    t1, t2 = CANDLES
    _ingest(tmp_path, {"a.ndjson": _ndjson([_oanda(t1, mid=_ohlc(t1))])}, only_new=True)

    report = _ingest(tmp_path, {"b.ndjson": _ndjson([_oanda(t2, mid=_ohlc(t2))])}, only_new=True)
    again = _ingest(tmp_path, {}, only_new=True)

    assert (report.files, report.read, report.written) == (1, 1, 1)
    assert [Path(f).name for f in report.skipped_files] == ["a.ndjson"]
    assert (again.files, again.read, len(again.skipped_files)) == (0, 0, 2)
    assert len(_candles(tmp_path)) == 2


# -- time ---------------------------------------------------------------------------------


def test_naive_times_are_local_across_the_dst_changes(tmp_path: Path) -> None:
    rows = [
        "datetime,open,high,low,close",
        "2024-03-10 01:59:00,1,2,0.5,1.5",  # EST (UTC-5)
        "2024-03-10 02:30:00,1,2,0.5,1.5",  # does not exist: clocks jump 02:00 -> 03:00
        "2024-03-10 03:00:00,1,2,0.5,1.5",  # EDT (UTC-4)
        "2024-11-03 01:30:00,1,2,0.5,1.5",  # happens twice: ambiguous
        "2024-11-03 02:30:00,1,2,0.5,1.5",  # EST again
    ]

    report = _ingest(tmp_path, {"ny.csv": "\n".join(rows) + "\n"}, timezone="America/New_York")

    assert _candles(tmp_path)["time"].tolist() == [
        pd.Timestamp("2024-03-10T06:59Z"),
        pd.Timestamp("2024-03-10T07:00Z"),
        pd.Timestamp("2024-11-03T07:30Z"),
    ]
    assert report.quarantine_reasons == {"nonexistent_local_time": 1, "ambiguous_local_time": 1}
    assert _quarantine(tmp_path)["record_number"].tolist() == [3, 5]


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-02T14:31:00Z",
        "2024-01-02T14:31:00.000000000Z",
        "2024-01-02T09:31:00-05:00",
        "2024-01-02T20:01:00+0530",
        "2024-01-02 14:31:00+00:00",
        "1704205860",
        "1704205860.000000000",
    ],
)
def test_explicit_times_ignore_the_timezone_option(tmp_path: Path, text: str) -> None:
    line = f"{text},1,2,0.5,1.5,3\n"

    _ingest(tmp_path, {"t.csv": line}, timezone="Asia/Tokyo")

    assert _candles(tmp_path)["time"].tolist() == [pd.Timestamp("2024-01-02T14:31Z")]


def test_unix_seconds_in_json_numbers(tmp_path: Path) -> None:
    row = {**_flat(CANDLES[0]), "time": 1704205860}

    _ingest(tmp_path, {"u.ndjson": _ndjson([row])})

    assert _candles(tmp_path)["time"].tolist() == [pd.Timestamp("2024-01-02T14:31Z")]


# -- truncated input ------------------------------------------------------------------------


def test_unterminated_broken_last_line_is_truncated_not_fatal(tmp_path: Path) -> None:
    partial = FORMATS["oanda_mid"] + '{"complete": true, "time": "2024-01-02T14:3'

    report = _ingest(tmp_path, {"p.ndjson": partial})

    assert (report.written, report.quarantine_reasons) == (2, {"truncated_line": 1})
    assert _quarantine(tmp_path)["record_number"].tolist() == [3]


def test_truncated_gzip_keeps_the_complete_lines(tmp_path: Path) -> None:
    start = pd.Timestamp("2024-01-02T10:00Z")
    times = [f"{start + pd.Timedelta(minutes=i):%Y-%m-%dT%H:%M:%SZ}" for i in range(400)]
    candles = [(t, 100.0 + i, 102.0 + i, 99.0 + i, 101.0 + i, i) for i, t in enumerate(times)]
    rows = [_oanda(c, mid=_ohlc(c)) for c in candles]
    data = gzip.compress(_ndjson(rows).encode())
    cut = data[: len(data) * 2 // 3]
    partial = zlib.decompressobj(wbits=31).decompress(cut)
    assert not partial.endswith(b"\n")  # the cut falls inside a line
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "cut.ndjson.gz").write_bytes(cut)

    report = ingest_market(tmp_path / "raw", Lake(tmp_path / "lake"), run_ts=RUN_TS)

    complete_lines = partial.count(b"\n")
    assert 0 < complete_lines < len(rows)
    assert (report.read, report.written) == (complete_lines + 1, complete_lines)
    assert report.quarantine_reasons == {"truncated_line": 1}


# -- CLI ----------------------------------------------------------------------------------


def test_cli_prints_summary_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path / "raw", "a.ndjson", FORMATS["oanda_mid"] + "{bad\n")
    argv = ["bronze-market", "--input", str(tmp_path / "raw"), "--lake", str(tmp_path / "lake")]

    code = cli.main([*argv, "--run-ts", "2024-06-01T00:00:00"])

    summary, payload = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert summary.startswith("bronze/market/candles: read=3 written=2")
    assert json.loads(payload)["quarantine_reasons"] == {"invalid_json": 1}
    assert Lake(tmp_path / "lake").partitions(QUARANTINE) == [dt.date(2024, 6, 1)]


def test_cli_missing_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["bronze-market", "--input", str(tmp_path / "nope"), "--lake", str(tmp_path)])

    assert code == 2
    assert "input not found" in capsys.readouterr().err


def test_cli_rejects_an_unknown_timezone(tmp_path: Path) -> None:
    argv = ["bronze-market", "--input", str(tmp_path), "--timezone", "Mars/Olympus"]

    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)

    assert exit_info.value.code == 2
