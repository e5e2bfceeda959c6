"""Raw candle files -> one record per candle holding the raw field values (no validation).

A file is decoded line by line (invalid UTF-8 and a truncated last line are kept as error
records), its format is detected from its first non-blank line (JSON or CSV), and each
candle becomes one row. Field values stay as found (strings or JSON numbers); nested OANDA
prices become ``mid.o``, ``bid.h``, ... columns. ``market_validate`` turns them into typed
candles or quarantine reasons.
"""

from __future__ import annotations

import codecs
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from src_clean.data_pipelines.bronze.sources import InputFile, read_bytes

BASE_SUFFIXES = (".ndjson", ".jsonl", ".json", ".csv", ".txt")
INPUT_SUFFIXES = BASE_SUFFIXES + tuple(f"{s}.gz" for s in BASE_SUFFIXES)

PRICE_FIELDS = ("open", "high", "low", "close")
OANDA_PRICE_KEYS = {"open": "o", "high": "h", "low": "l", "close": "c"}
PRICE_SIDES = ("mid", "bid", "ask")
FIELDS = ("time", *PRICE_FIELDS, "volume", "complete", "instrument", "granularity")
NESTED_FIELDS = tuple(f"{side}.{key}" for side in PRICE_SIDES for key in OANDA_PRICE_KEYS.values())
RECORD_COLUMNS = ("source_file", "line_number", "raw", "error")

CSV_TIME_ALIASES = {"datetime": "time", "timestamp": "time"}
HEADERLESS_COLUMNS = ("time", *PRICE_FIELDS, "volume")
REQUIRED_CSV_COLUMNS = ("time", *PRICE_FIELDS)

INVALID_UTF8 = "invalid_utf8"
INVALID_JSON = "invalid_json"
TRUNCATED_LINE = "truncated_line"
NOT_A_CANDLE = "not_a_candle"
EXTRA_FIELDS = "extra_fields"
MISSING_FIELD = "missing_field:"

_JSON_DECODER = json.JSONDecoder(parse_constant=str)
# ``time`` stays text even when it looks like a timestamp; unix numbers take the slow path.
_ARROW_JSON_OPTIONS = pa_json.ParseOptions(
    explicit_schema=pa.schema([("time", pa.string())]), unexpected_field_behavior="infer"
)


@dataclass(frozen=True)
class DecodedLines:
    """A file's non-blank lines as ``(line_number, text)`` (1-based), split by UTF-8 validity."""

    good: list[tuple[int, str]]
    invalid_utf8: list[tuple[int, str]]
    last_line: int
    terminated: bool


def decode_lines(data: bytes) -> DecodedLines:
    """Split ``data`` into lines; a line that is not valid UTF-8 is kept, decoded leniently."""
    terminated = data.endswith(b"\n")
    try:
        texts, invalid = data.decode("utf-8").split("\n"), set()
    except UnicodeDecodeError:
        texts, invalid = _decode_each(data.split(b"\n"))
    if terminated:
        texts.pop()
    texts = [text.removesuffix("\r") for text in texts]
    good = [(n, t) for n, t in enumerate(texts, start=1) if t.strip() and n not in invalid]
    bad = [(n, texts[n - 1]) for n in sorted(invalid)]
    return DecodedLines(good, bad, last_line=len(texts), terminated=terminated)


def _decode_each(chunks: list[bytes]) -> tuple[list[str], set[int]]:
    """Decode line by line: texts (lenient for bad lines) and the numbers of the bad lines."""
    texts, invalid = [], set()
    for number, chunk in enumerate(chunks, start=1):
        try:
            texts.append(chunk.decode("utf-8"))
        except UnicodeDecodeError:
            texts.append(chunk.decode("utf-8", "replace"))
            invalid.add(number)
    return texts, invalid


def parse_file(file: InputFile) -> pd.DataFrame:
    """All candle records of one raw file, in file order, with an ``error`` for broken ones."""
    data = read_bytes(file).removeprefix(codecs.BOM_UTF8)
    lines = decode_lines(data)
    frame = _records(data, lines)
    if lines.invalid_utf8:
        invalid = pd.DataFrame(lines.invalid_utf8, columns=["line_number", "raw"])
        frame = pd.concat([frame, invalid.assign(error=INVALID_UTF8)], ignore_index=True)
        frame = frame.sort_values("line_number", kind="stable", ignore_index=True)
    if not lines.terminated:
        cut = (frame["line_number"] == lines.last_line) & frame["error"].notna()
        frame["error"] = frame["error"].mask(cut, TRUNCATED_LINE)
    frame.insert(0, "source_file", file.uri)
    return frame


def _records(data: bytes, lines: DecodedLines) -> pd.DataFrame:
    """Records of the valid lines, by the format of the first one (JSON or CSV)."""
    if not lines.good or not lines.good[0][1].lstrip().startswith(("{", "[")):
        return csv_records(lines.good)
    fast = None if lines.invalid_utf8 else arrow_json_records(data, lines.good)
    return fast if fast is not None else json_records(lines.good)


# -- JSON -------------------------------------------------------------------------------


def arrow_json_records(data: bytes, lines: list[tuple[int, str]]) -> pd.DataFrame | None:
    """Records via pyarrow's JSON reader, or ``None`` unless each line is one candle object.

    The fast path for clean NDJSON; anything else (bad lines, wrappers, type changes between
    lines, unix-second times) returns ``None`` and goes through ``json_records``. Float
    columns become text so that NaN stays distinguishable from a missing field.
    """
    try:
        table = pa_json.read_json(io.BytesIO(data), parse_options=_ARROW_JSON_OPTIONS)
    except pa.ArrowInvalid:
        return None
    if table.num_rows != len(lines) or "candles" in table.column_names:
        return None
    table = table.flatten()
    fields = [c for c in (*FIELDS, *NESTED_FIELDS) if c in table.column_names]
    columns = {
        "line_number": pa.array([number for number, _ in lines], pa.int64()),
        "raw": pa.array([text for _, text in lines], pa.string()),
        "error": pa.nulls(len(lines), pa.string()),
        **{name: _floats_as_text(table.column(name)) for name in fields},
    }
    return pa.table(columns).to_pandas()


def _floats_as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.cast(column, pa.string()) if pa.types.is_floating(column.type) else column


def json_records(lines: list[tuple[int, str]]) -> pd.DataFrame:
    """Records of NDJSON lines, or of one JSON document spanning the whole file.

    Each line (or the document) is a candle, a list of candles, or an OANDA response
    ``{"instrument", "granularity", "candles": [...]}``.
    """
    if lines and _load(lines[0][1]) is None:
        document = "\n".join(text for _, text in lines)
        if _load(document) is not None:
            lines = [(lines[0][0], document)]
    rows: list[dict[str, Any]] = []
    for number, text in lines:
        loaded = _load(text)
        if loaded is None:
            rows.append({"line_number": number, "raw": text, "error": INVALID_JSON})
        else:
            rows.extend(_candle_rows(loaded[0], number, text, {}))
    frame = pd.DataFrame(rows)
    fields = [c for c in (*FIELDS, *NESTED_FIELDS) if c in frame.columns]
    return frame.reindex(columns=[*RECORD_COLUMNS[1:], *fields])


def _load(text: str) -> tuple[Any] | None:
    """``(value,)`` for valid JSON (NaN/Infinity kept as text), ``None`` otherwise."""
    try:
        return (_JSON_DECODER.decode(text),)
    except ValueError:
        return None


def _candle_rows(value: Any, number: int, raw: Any, context: dict[str, Any]) -> Iterator[dict]:
    """Flat rows for a candle, a list of candles or an OANDA response (recursively)."""
    if isinstance(value, list):
        for item in value:
            yield from _candle_rows(item, number, item, context)
    elif isinstance(value, dict) and "candles" in value:
        wrapper = {k: value[k] for k in ("instrument", "granularity") if value.get(k)}
        yield from _candle_rows(value["candles"], number, value["candles"], context | wrapper)
    elif isinstance(value, dict):
        row = _flatten(value, into=dict(context))
        row["line_number"] = number
        row["raw"] = raw
        yield row
    else:
        yield {"line_number": number, "raw": raw, "error": NOT_A_CANDLE}


def _flatten(candle: dict[str, Any], into: dict[str, Any]) -> dict[str, Any]:
    """One level of nesting flattened into ``into``: ``{"mid": {"o": 1}}`` -> ``{"mid.o": 1}``."""
    for key, value in candle.items():
        if isinstance(value, dict):
            into.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            into[key] = value
    return into


# -- CSV --------------------------------------------------------------------------------


def csv_records(lines: list[tuple[int, str]]) -> pd.DataFrame:
    """Records of comma-separated lines, with a header row or ``time,open,high,low,close[,volume]``.

    Header names are case-insensitive; ``datetime``/``timestamp`` mean ``time``. A row
    with fewer fields than the required columns gets ``missing_field:<name>``, a row
    with more fields than the header gets ``extra_fields``.
    """
    header = _csv_header(lines[0][1]) if lines else None
    names = header or list(HEADERLESS_COLUMNS)
    rows = lines[1:] if header else lines
    if not rows:
        return pd.DataFrame(columns=list(RECORD_COLUMNS[1:]))
    texts = pd.Series([text for _, text in rows], dtype="str")
    split = texts.str.split(",", expand=True).iloc[:, : len(names)]
    split.columns = names[: split.shape[1]]
    fields = split[[c for c in split.columns if c in FIELDS]]
    frame = fields.apply(lambda col: col.str.strip().str.strip('"'))
    frame.insert(0, "error", _csv_shape_errors(texts.str.count(",").to_numpy() + 1, names))
    frame.insert(0, "raw", texts)
    frame.insert(0, "line_number", [number for number, _ in rows])
    return frame


def _csv_header(line: str) -> list[str] | None:
    """Normalized column names when ``line`` is a header row, else ``None``."""
    names = [f.strip().strip('"').strip().lower() for f in line.split(",")]
    names = [CSV_TIME_ALIASES.get(n, n) for n in names]
    return names if set(names) & set(HEADERLESS_COLUMNS) else None


def _csv_shape_errors(counts: np.ndarray, names: list[str]) -> np.ndarray:
    """Per row: ``missing_field:<name>`` when too short, ``extra_fields`` when too long."""
    required = [i for i, name in enumerate(names) if name in REQUIRED_CSV_COLUMNS]
    min_width = max(required, default=-1) + 1
    first_missing = np.array([*names, ""], dtype=object)[np.minimum(counts, len(names))]
    errors = np.where(counts < min_width, MISSING_FIELD + first_missing, None)
    return np.where(counts > len(names), EXTRA_FIELDS, errors)
