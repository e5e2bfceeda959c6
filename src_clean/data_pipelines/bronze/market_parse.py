"""Raw candle files -> one record per candle holding the raw field values (no validation).

A file is split into lines (``lines``: any line ending; overlong, non-UTF-8 and too deeply
nested lines are rejected before decoding), its format is detected from its first usable
line (JSON when it starts with ``{`` or ``[``, else CSV), and each candle becomes one row.
Field values stay as found (strings or JSON numbers); nested OANDA prices become
``mid.o``, ``bid.h``, ... columns; a value of the wrong JSON type is an error
(``wrong_type:<field>``) rather than a row. ``market_validate`` turns rows into typed
candles or quarantine reasons.

What counts as a record (``read``): each non-blank NDJSON line holding one candle; each
candle of a line or document holding a list of candles or an OANDA response; a line or
document holding an empty list (``empty_array``) or a response without candles
(``no_candles``) counts as one record, quarantined; each CSV row after the header (the
header is not a record); each rejected line. A multi-line JSON document numbers its
candles 1, 2, ... (``record_number``); everything else uses the 1-based line number.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from src_clean.data_pipelines.bronze.lines import (
    INVALID_JSON,
    MAX_LINE_BYTES,
    TRUNCATED_LINE,
    Lines,
    cut_last_line,
    document,
    is_unicode,
    load_json,
    reject_too_deep,
    single_values,
    split_lines,
)
from src_clean.data_pipelines.bronze.quarantine import Rejected, file_rejection
from src_clean.data_pipelines.bronze.sources import InputFile, read_input

BASE_SUFFIXES = (".ndjson", ".jsonl", ".json", ".csv", ".txt")
INPUT_SUFFIXES = BASE_SUFFIXES + tuple(f"{s}.gz" for s in BASE_SUFFIXES)

PRICE_FIELDS = ("open", "high", "low", "close")
OANDA_PRICE_KEYS = {"open": "o", "high": "h", "low": "l", "close": "c"}
PRICE_SIDES = ("mid", "bid", "ask")
FIELDS = ("time", *PRICE_FIELDS, "volume", "complete", "instrument", "granularity")
NESTED_FIELDS = tuple(f"{side}.{key}" for side in PRICE_SIDES for key in OANDA_PRICE_KEYS.values())
# record_index: position of a candle inside a line holding several (1, 2, ...), else 0
RECORD_COLUMNS = ("source_file", "record_number", "record_index", "raw", "error")

CSV_TIME_ALIASES = {"datetime": "time", "timestamp": "time"}
HEADERLESS_COLUMNS = ("time", *PRICE_FIELDS, "volume")
REQUIRED_CSV_COLUMNS = ("time", *PRICE_FIELDS)

NOT_A_CANDLE = "not_a_candle"
EMPTY_ARRAY = "empty_array"
NO_CANDLES = "no_candles"
EXTRA_FIELDS = "extra_fields"
INVALID_CSV = "invalid_csv"
MISSING_FIELD = "missing_field:"
WRONG_TYPE = "wrong_type:"
INVALID_UNICODE = "invalid_unicode:"
CSV_DELIMITERS = (",", "\t", ";", "|")
SNIFF_LINES = 20

# JSON types each field may hold (bool is not a number here); sides hold these prices.
NUMBER_TYPES = (str, int, float)
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "time": NUMBER_TYPES,
    **dict.fromkeys((*PRICE_FIELDS, "volume"), NUMBER_TYPES),
    "complete": (bool, str, int),
    "instrument": (str,),
    "granularity": (str,),
}
# Arrow column types the fast path accepts for the candle fields.
_ARROW_SCALAR = (pa.types.is_string, pa.types.is_integer, pa.types.is_floating, pa.types.is_null)
csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE_BYTES))
# ``time`` stays text even when it looks like a timestamp; unix numbers take the slow path.
_ARROW_JSON_OPTIONS = pa_json.ParseOptions(
    explicit_schema=pa.schema([("time", pa.string())]), unexpected_field_behavior="infer"
)


@dataclass
class ParsedCandles:
    """One file's candle records (a frame, see ``RECORD_COLUMNS``), the lines rejected before
    decoding, and the file-level failure or truncation, if any."""

    records: pd.DataFrame
    rejected: list[Rejected] = field(default_factory=list)
    failure: Rejected | None = None
    truncated: Rejected | None = None

    @property
    def read(self) -> int:
        return len(self.records) + len(self.rejected)


def parse_file(file: InputFile, delimiter: str | None = None) -> ParsedCandles:
    """All candle records of one raw file, in file order, with an ``error`` for broken ones.

    Never raises for bad content: a file that cannot be read gives no records and a
    ``failure``; a damaged gzip keeps what came before the damage (``truncated``).
    """
    read = read_input(file)
    if read.failure:
        empty = pd.DataFrame(columns=list(RECORD_COLUMNS))
        return ParsedCandles(empty, failure=file_rejection(file.uri, read.failure, read.detail))
    data = read.data.removeprefix(codecs.BOM_UTF8)
    lines = split_lines(data, file.uri)
    cut = cut_last_line(lines, file.uri) if read.truncated else []
    frame = _records(data, lines, file.uri, delimiter, fast=not read.truncated)
    if not lines.terminated and not read.truncated:
        last = (frame["record_number"] == lines.last_line) & frame["error"].notna()
        frame["error"] = frame["error"].mask(last, TRUNCATED_LINE)
    frame.insert(0, "source_file", file.uri)
    truncated = file_rejection(file.uri, "truncated_gzip", read.detail) if read.truncated else None
    return ParsedCandles(frame, [*lines.rejected, *cut], truncated=truncated)


def _records(
    data: bytes, lines: Lines, source_file: str, delimiter: str | None, *, fast: bool
) -> pd.DataFrame:
    """Records of the usable lines, by the format of the first one (JSON or CSV).

    Lines rejected on the way (too deep) move to ``lines.rejected``. ``fast``: ``data``
    holds exactly ``lines`` (no line was cut off), so Arrow may read it.
    """
    if not lines.good or not lines.good[0][1].lstrip().startswith(("{", "[")):
        return csv_records(lines.good, delimiter)
    reject_too_deep(lines, source_file)
    fast_records = arrow_json_records(data, lines.good) if fast and lines.clean else None
    return fast_records if fast_records is not None else json_records(lines)


# -- JSON -------------------------------------------------------------------------------


def arrow_json_records(data: bytes, lines: list[tuple[int, str]]) -> pd.DataFrame | None:
    """Records via pyarrow's JSON reader, or ``None`` unless each line is one flat candle.

    The fast path for clean NDJSON (the caller has capped line length and depth); anything
    else (bad lines, wrappers, type changes between lines, values of the wrong JSON type,
    unix-second times) returns ``None`` and goes through ``json_records``. Float columns
    become text so that NaN stays distinguishable from a missing field.
    """
    try:
        table = pa_json.read_json(io.BytesIO(data), parse_options=_ARROW_JSON_OPTIONS)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != len(lines) or "candles" in table.column_names:
        return None
    for side in PRICE_SIDES:
        if side in table.column_names and not pa.types.is_struct(table.column(side).type):
            return None
    table = table.flatten()
    fields = [c for c in (*FIELDS, *NESTED_FIELDS) if c in table.column_names]
    if not all(_arrow_type_ok(name, table.column(name).type) for name in fields):
        return None
    columns = {
        "record_number": pa.array([number for number, _ in lines], pa.int64()),
        "record_index": pa.array(np.zeros(len(lines), np.int64)),
        "raw": pa.array([text for _, text in lines], pa.string()),
        "error": pa.nulls(len(lines), pa.string()),
        **{name: _floats_as_text(table.column(name)) for name in fields},
    }
    return pa.table(columns).to_pandas()


def _arrow_type_ok(name: str, type_: pa.DataType) -> bool:
    if name == "complete" and pa.types.is_boolean(type_):
        return True
    if name in ("instrument", "granularity"):
        return pa.types.is_string(type_) or pa.types.is_null(type_)
    return any(check(type_) for check in _ARROW_SCALAR)


def _floats_as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.cast(column, pa.string()) if pa.types.is_floating(column.type) else column


def json_records(lines: Lines) -> pd.DataFrame:
    """Records of NDJSON lines, or of one JSON document spanning the whole file.

    Each line (or the document) is a candle, a list of candles, or an OANDA response
    ``{"instrument", "granularity", "candles": [...]}``. The file is one document when
    its first line is not JSON on its own but all its lines together are.
    """
    good = lines.good
    rows: list[dict[str, Any]] = []
    if good and not single_values(lines):
        text = document(lines)
        loaded = load_json(text, big_ints_as_floats=True)
        if not isinstance(loaded, str):
            for number, (item, context) in enumerate(_candles(loaded[0], {}), start=1):
                rows.append(_row(item, context, number, None))
            return _frame(rows)
        if loaded != INVALID_JSON or len(good) == 1:
            return _frame([{"record_number": good[0][0], "raw": text, "error": loaded}])
    for number, text in good:
        loaded = load_json(text, big_ints_as_floats=True)
        if isinstance(loaded, str):
            rows.append({"record_number": number, "raw": text, "error": loaded})
            continue
        whole = isinstance(loaded[0], dict) and "candles" not in loaded[0]
        for index, (item, context) in enumerate(_candles(loaded[0], {}), start=1):
            row = _row(item, context, number, text if whole else None)
            rows.append(row | {"record_index": 0 if whole else index})
    return _frame(rows)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    fields = [c for c in (*FIELDS, *NESTED_FIELDS) if c in frame.columns]
    frame = frame.reindex(columns=[*RECORD_COLUMNS[1:], *fields])
    frame["record_index"] = frame["record_index"].fillna(0).astype("int64")
    return frame


def _candles(value: Any, context: dict[str, Any]) -> Iterator[tuple[Any, dict[str, Any]]]:
    """``(item, wrapper fields)`` for each candle in a candle, list or OANDA response.

    An empty list or a response without candles yields one marker item, so it is counted.
    """
    if isinstance(value, list):
        if not value:
            yield _Empty(EMPTY_ARRAY, value), context
        for item in value:
            yield from _candles(item, context)
    elif isinstance(value, dict) and "candles" in value:
        wrapper = {k: value[k] for k in ("instrument", "granularity") if value.get(k) is not None}
        candles = value["candles"]
        if not isinstance(candles, list):
            yield _Empty(f"{WRONG_TYPE}candles", value), context
        elif not candles:
            yield _Empty(NO_CANDLES, value), context
        else:
            yield from _candles(candles, context | wrapper)
    else:
        yield value, context


@dataclass(frozen=True)
class _Empty:
    """A container that held no candle: counted as one record with this reason."""

    reason: str
    value: Any


def _row(item: Any, context: dict[str, Any], number: int, text: str | None) -> dict[str, Any]:
    """One record: the candle's fields flattened, or an error with the raw value."""
    raw = text if text is not None else _dumps(item.value if isinstance(item, _Empty) else item)
    row: dict[str, Any] = {"record_number": number, "raw": raw}
    if isinstance(item, _Empty):
        row["error"] = item.reason
    elif not isinstance(item, dict):
        row["error"] = NOT_A_CANDLE
    else:
        flat, problem = _flatten({**context, **item})
        row.update(flat)
        if problem:
            row["error"] = problem
    return row


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _flatten(candle: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The known fields, sides flattened (``{"mid": {"o": 1}}`` -> ``{"mid.o": 1}``), and the
    first problem: ``wrong_type:<field>`` for a value of the wrong JSON type,
    ``invalid_unicode:<field>`` for text holding a lone surrogate (``None`` when all is fine)."""
    flat: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in candle.items():
        if value is None:
            continue
        if key in PRICE_SIDES:
            if not isinstance(value, dict):
                problems.append(f"{WRONG_TYPE}{key}")
                continue
            for price_key, price in value.items():
                if price_key in OANDA_PRICE_KEYS.values() and price is not None:
                    _take(flat, problems, f"{key}.{price_key}", price, NUMBER_TYPES)
        elif key in FIELD_TYPES:
            _take(flat, problems, key, value, FIELD_TYPES[key])
    return flat, problems[0] if problems else None


def _take(
    flat: dict[str, Any], problems: list[str], name: str, value: Any, types: tuple[type, ...]
) -> None:
    """Store ``value`` under ``name``, or note why it cannot be stored."""
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        problems.append(f"{WRONG_TYPE}{name}")
    elif isinstance(value, str) and not is_unicode(value):
        problems.append(f"{INVALID_UNICODE}{name}")
    else:
        flat[name] = value


# -- CSV --------------------------------------------------------------------------------


def csv_records(lines: list[tuple[int, str]], delimiter: str | None = None) -> pd.DataFrame:
    """Records of delimited lines, with a header row or ``time,open,high,low,close[,volume]``.

    Read with the ``csv`` module (quoted fields may hold the delimiter, quotes or line
    breaks). The delimiter is ``delimiter``, else the candidate (``, TAB ; |``) that
    splits the first lines into the same number (> 1) of fields, most fields winning,
    else a comma. Header names are case-insensitive; ``datetime``/``timestamp`` mean
    ``time``. A row with fewer fields than the required columns gets
    ``missing_field:<name>``, one with more fields than the header ``extra_fields``.
    """
    if not lines:
        return pd.DataFrame(columns=list(RECORD_COLUMNS[1:]))
    delimiter = delimiter or sniff_delimiter([text for _, text in lines[:SNIFF_LINES]])
    rows = list(_csv_rows(lines, delimiter))
    header = _csv_header(rows[0][2]) if rows and rows[0][2] else None
    names = header or list(HEADERLESS_COLUMNS)
    required = [i for i, name in enumerate(names) if name in REQUIRED_CSV_COLUMNS]
    min_width = max(required, default=-1) + 1
    records = []
    for number, raw, values in rows[1:] if header else rows:
        record: dict[str, Any] = {"record_number": number, "raw": raw}
        if values is None:
            record["error"] = INVALID_CSV
        elif len(values) < min_width:
            record["error"] = MISSING_FIELD + names[len(values)]
        elif len(values) > len(names):
            record["error"] = EXTRA_FIELDS
        else:
            record |= {n: v.strip() for n, v in zip(names, values, strict=False) if n in FIELDS}
        records.append(record)
    return _frame(records)


def sniff_delimiter(sample: list[str]) -> str:
    """The delimiter that splits every sample line into the same number (> 1) of fields."""
    best, best_width = ",", 1
    for candidate in CSV_DELIMITERS:
        try:
            widths = {len(row) for row in csv.reader(sample, delimiter=candidate)}
        except csv.Error:
            continue
        if len(widths) == 1 and (width := widths.pop()) > best_width:
            best, best_width = candidate, width
    return best


def _csv_rows(
    lines: list[tuple[int, str]], delimiter: str
) -> Iterator[tuple[int, str, list[str] | None]]:
    """``(first line number, raw text, fields or None)`` per CSV row."""
    consumed: list[tuple[int, str]] = []

    def feed() -> Iterable[str]:
        for number, text in lines:
            consumed.append((number, text))
            yield text + "\n"

    reader = csv.reader(feed(), delimiter=delimiter)
    while True:
        start = len(consumed)
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error:
            values = None
        taken = consumed[start:] or consumed[-1:]
        yield taken[0][0], "\n".join(text for _, text in taken), values


def _csv_header(values: list[str]) -> list[str] | None:
    """Normalized column names when ``values`` is a header row, else ``None``."""
    names = [CSV_TIME_ALIASES.get(v.strip().lower(), v.strip().lower()) for v in values]
    return names if set(names) & set(HEADERLESS_COLUMNS) else None
