"""Raw candle records -> typed bronze candles, incomplete candles, and quarantine reasons.

Every check is vectorized over a batch of records. A record gets the first reason that
applies (in ``_reasons`` order); records without a reason and not flagged
``complete: false`` become candles. Times must fall in the supported range
(``time_range``); volumes must be whole numbers up to ``MAX_VOLUME`` (2^53 - 1, the largest
integer a JSON number holds exactly); a price that is a number too large for a float
(``1e400``) is ``overflow:<field>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from src_clean.data_pipelines.bronze.market_parse import (
    MISSING_FIELD,
    OANDA_PRICE_KEYS,
    PRICE_FIELDS,
)
from src_clean.data_pipelines.bronze.quarantine import Rejected
from src_clean.data_pipelines.bronze.time_range import (
    OUT_OF_RANGE,
    TOO_PRECISE,
    bounded_ns,
    seconds_in_range,
    sub_microsecond,
)

OVERFLOW = "overflow:"
CANDLE_COLUMNS = ["time", "instrument", "granularity", *PRICE_FIELDS, "volume", "source_file"]
NAN_WORDS = ("nan", "+nan", "-nan")
INF_WORDS = ("inf", "+inf", "-inf", "infinity", "+infinity", "-infinity")
MAX_VOLUME = 2**53 - 1
# An explicit UTC offset after a clock time of any precision: ``...T14:31:00Z``,
# ``... 09:31-05:00``, ``...T14Z``, basic ``20240102T143000+0530``.
# (``[0-9]`` and a plain space, not ``\d``/``\s``, keep pandas on pyarrow's RE2 engine.)
OFFSET_PATTERN = (
    r"[Tt ][0-9]{2}(?::?[0-9]{2}){0,2}(?:[.,][0-9]+)? *(?:[zZ]|[+-][0-9]{2}(?::?[0-9]{2})?)$"
)


@dataclass(frozen=True)
class Parsed:
    """A field parsed to numbers: values (NaN when absent or bad), presence, bad text, and
    numbers too large for a float (``inf`` from ``1e400``, not the word ``inf``)."""

    values: pd.Series
    present: pd.Series
    unparseable: pd.Series
    overflow: pd.Series


@dataclass(frozen=True)
class ParsedTimes:
    """UTC times (NaT when invalid), presence, and why a present time is invalid."""

    values: pd.Series
    present: pd.Series
    reason: pd.Series


@dataclass(frozen=True)
class Checked:
    """One validated batch: good candles (input order), rejected records, incomplete count."""

    candles: pd.DataFrame
    rejected: list[Rejected]
    incomplete: int


def validate(records: pd.DataFrame, *, timezone: str, instrument: str, granularity: str) -> Checked:
    """Split ``records`` (from ``market_parse``) into candles, rejects and incomplete ones."""
    times = parse_times(_column(records, "time"), timezone)
    prices = {field: parse_price(records, field) for field in PRICE_FIELDS}
    volume = parse_volume(_column(records, "volume"))
    labels = {
        "instrument": _text_or(_column(records, "instrument"), instrument),
        "granularity": _text_or(_column(records, "granularity"), granularity),
    }
    reason = _reasons(records, times, prices, volume, labels["granularity"] != granularity)
    incomplete = _is_false(_column(records, "complete")) & records["error"].isna()
    good = reason.isna() & ~incomplete
    candles = pd.DataFrame(
        {
            "time": times.values,
            **labels,
            **{field: parsed.values for field, parsed in prices.items()},
            "volume": volume.values.astype("Int64"),
            "source_file": records["source_file"].astype("str"),
        }
    )
    rejected = reason.notna() & ~incomplete
    return Checked(
        candles=candles[good].reset_index(drop=True)[CANDLE_COLUMNS],
        rejected=_rejected(records[rejected], reason[rejected]),
        incomplete=int(incomplete.sum()),
    )


def _reasons(
    records: pd.DataFrame,
    times: ParsedTimes,
    prices: dict[str, Parsed],
    volume: Parsed,
    wrong_granularity: pd.Series,
) -> pd.Series:
    """The first failing check per record (``NaN`` when all pass), in priority order."""
    v = {field: parsed.values for field, parsed in prices.items()}
    return first_reason(
        [
            (records["error"].notna(), records["error"]),
            (~times.present, f"{MISSING_FIELD}time"),
            (times.reason.notna(), times.reason),
            *[(~p.present, f"{MISSING_FIELD}{field}") for field, p in prices.items()],
            (_any(p.unparseable for p in prices.values()), "unparseable_price"),
            *[(p.overflow, f"{OVERFLOW}{field}") for field, p in prices.items()],
            (_any(~np.isfinite(x) for x in v.values()), "non_finite_price"),
            (_any(x <= 0 for x in v.values()), "non_positive_price"),
            (v["high"] < np.maximum(v["open"], v["close"]), "high_below_open_close"),
            (v["low"] > np.minimum(v["open"], v["close"]), "low_above_open_close"),
            (volume.unparseable, "invalid_volume"),
            (volume.values < 0, "negative_volume"),
            (volume.overflow, f"{OVERFLOW}volume"),
            (wrong_granularity, "granularity_mismatch"),
        ],
        records.index,
    )


def first_reason(
    checks: list[tuple[pd.Series | np.ndarray, str | pd.Series]], index: pd.Index
) -> pd.Series:
    """Per row, the name of the first check whose mask is true (``NaN`` when none is)."""
    reason = pd.Series(np.nan, index=index, dtype="object")
    for failed, name in reversed(checks):
        reason = reason.mask(failed, name)
    return reason


def _any(masks: Iterable[pd.Series]) -> np.ndarray:
    return np.logical_or.reduce([np.asarray(m) for m in masks])


# -- field parsing ------------------------------------------------------------------------


def parse_number(raw: pd.Series) -> Parsed:
    """Numbers from JSON numbers or text (``" 4701.2 "``, ``"NaN"``, ``"inf"``)."""
    if raw.isna().all() or (
        pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw)
    ):
        values = raw.astype("float64")
        return Parsed(values, values.notna(), _false(raw), pd.Series(np.isinf(values)))
    text = raw.astype("str").str.strip()
    present = text.fillna("") != ""
    values = to_float(text)
    lowered = text.str.lower()
    overflow = np.isinf(values) & ~lowered.isin(INF_WORDS)
    return Parsed(values, present, present & values.isna() & ~lowered.isin(NAN_WORDS), overflow)


def _false(like: pd.Series) -> pd.Series:
    return pd.Series(False, index=like.index)


def to_float(text: pd.Series) -> pd.Series:
    """Text to float64, NaN where not a number (pyarrow's cast; pandas when any entry is bad)."""
    try:
        values = pc.cast(pa.array(text), pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        return pd.to_numeric(text, errors="coerce").astype("float64")
    return pd.Series(values, index=text.index)


def parse_price(records: pd.DataFrame, field: str) -> Parsed:
    """A price from the first source present: ``mid.<k>``, ``bid.<k>``/``ask.<k>``, ``<field>``."""
    key = OANDA_PRICE_KEYS[field]
    bid = parse_number(_column(records, f"bid.{key}"))
    ask = parse_number(_column(records, f"ask.{key}"))
    midpoint = Parsed(
        values=(bid.values + ask.values) / 2,
        present=bid.present & ask.present,
        unparseable=bid.unparseable | ask.unparseable,
        overflow=bid.overflow | ask.overflow,
    )
    chosen = parse_number(_column(records, field))
    for source in (midpoint, parse_number(_column(records, f"mid.{key}"))):
        chosen = Parsed(
            values=source.values.where(source.present, chosen.values),
            present=source.present | chosen.present,
            unparseable=source.unparseable.where(source.present, chosen.unparseable),
            overflow=source.overflow.where(source.present, chosen.overflow),
        )
    return chosen


def parse_volume(raw: pd.Series) -> Parsed:
    """Tick volume: a whole number up to ``MAX_VOLUME``, or absent (NaN).

    Other numbers are ``unparseable``, larger whole numbers (and ``inf`` from a number
    too large for a float) ``overflow``.
    """
    parsed = parse_number(raw)
    values = parsed.values
    overflow = parsed.present & (
        parsed.overflow | (np.isfinite(values) & (values.abs() > MAX_VOLUME))
    )
    whole = np.isfinite(values) & (values % 1 == 0) & ~overflow
    unparseable = parsed.present & ~whole & ~overflow
    return Parsed(values.where(whole), parsed.present, unparseable, overflow)


def parse_times(raw: pd.Series, timezone: str) -> ParsedTimes:
    """UTC times from ISO 8601 (``Z``, offsets, nanoseconds), unix seconds or naive local text.

    Naive times are read in ``timezone``; a local time that occurs twice (DST fall-back)
    or never (spring-forward) is invalid rather than guessed.
    """
    text = raw.astype("str").str.strip()
    present = text.fillna("") != ""
    seconds = to_float(text)
    unix = seconds.notna()
    unix_ok = unix & seconds_in_range(seconds)
    aware = present & ~unix & text.str.contains(OFFSET_PATTERN)
    naive = present & ~unix & ~aware
    local, dst_reason = _localize(text[naive], timezone)
    parts = [
        # a float's last digits are noise below the microsecond: rounded, not refused
        pd.to_datetime(seconds[unix_ok], unit="s", utc=True).dt.round("us"),
        pd.to_datetime(text[aware], format="ISO8601", utc=True, errors="coerce"),
        local,
    ]
    bounded = [bounded_ns(part) for part in parts]
    values = pd.concat([times for times, _ in bounded]).reindex(raw.index)
    parsed_out = pd.concat([out for _, out in bounded]).reindex(raw.index, fill_value=False)
    out_of_range = (unix & ~unix_ok) | parsed_out
    dst_reason = dst_reason.reindex(raw.index)
    reason = first_reason(
        [
            (dst_reason.notna(), dst_reason),
            (out_of_range, f"{OUT_OF_RANGE}time"),
            (present & values.isna(), "unparseable_time"),
            (sub_microsecond(values), f"{TOO_PRECISE}time"),
        ],
        raw.index,
    )
    return ParsedTimes(values, present, reason)


def _localize(text: pd.Series, timezone: str) -> tuple[pd.Series, pd.Series]:
    """UTC times of naive local ``text``, and the reason where a DST change makes one invalid."""
    local = pd.to_datetime(text, format="ISO8601", errors="coerce")
    if local.dt.tz is not None:  # an offset OFFSET_PATTERN did not know: take it as given
        local = local.dt.tz_localize(None)
    strict = local.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    forward = local.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="shift_forward")
    dst = local.notna() & strict.isna()
    reason = first_reason(
        [(dst & forward.notna(), "nonexistent_local_time"), (dst, "ambiguous_local_time")],
        text.index,
    )
    return strict.dt.tz_convert("UTC"), reason


def _column(records: pd.DataFrame, name: str) -> pd.Series:
    """``records[name]``, or an all-missing column when the input never had that field."""
    if name in records.columns:
        return records[name]
    return pd.Series(np.nan, index=records.index, dtype="object")


def _text_or(raw: pd.Series, default: str) -> pd.Series:
    """Stripped text, ``default`` where missing or blank."""
    text = raw.astype("str").str.strip()
    return text.where(text.fillna("") != "", default)


def _is_false(raw: pd.Series) -> pd.Series:
    """``complete: false`` (JSON false, or text ``false``/``0``)."""
    return raw.astype("str").str.strip().str.lower().isin(("false", "0"))


def _rejected(records: pd.DataFrame, reason: pd.Series) -> list[Rejected]:
    """Quarantine entries for ``records`` (raw JSON values re-serialized compactly)."""
    return [
        Rejected.of(
            source,
            number,
            str(why),
            raw if isinstance(raw, str) else json.dumps(raw, separators=(",", ":")),
            record_index=index,
        )
        for source, number, index, raw, why in zip(
            records["source_file"],
            records["record_number"],
            records["record_index"],
            records["raw"],
            reason,
            strict=True,
        )
    ]
