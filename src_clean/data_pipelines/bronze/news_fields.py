"""Raw article objects to bronze rows: field aliases, timestamps, URLs and article ids.

Providers name the same fields differently (NewsAPI ``title``/``publishedAt``/``source``
dict, GDELT ``seendate``/``domain``, RSS ``link``/``published``). ``canonical_fields``
maps one object onto the bronze names; ``to_articles`` then cleans a whole batch at once
and splits it into valid rows and quarantined records.

Timestamps: ISO 8601 (``Z``, offsets, basic form such as GDELT's ``20240102T143000Z``),
compact ``YYYYMMDDHHMMSS``, RFC 2822 (RSS), and unix epoch seconds or milliseconds (JSON
numbers or 9-13 digit strings; values below 1e11 are seconds). A timestamp without an
offset is read as UTC. Everything is stored as ``datetime64[ns, UTC]``; a time outside
the supported range (``time_range``) is ``out_of_range:published_at``.

Point in time: ``available_at`` is when a feed first had the article, which can be
minutes or hours after ``published_at``. It is the record's own ``available_at``,
``collected_at``, ``first_seen_at``, ``seen_at`` or GDELT ``seendate``, else the landing
ledger's fetch time of its file, else ``published_at``; ``available_from`` names which.
An availability field that is given but unreadable quarantines the record
(``unparseable_available_at``), never a silent fallback.

Field types: text fields must be JSON strings (``article_id`` may also be a number),
``published_at`` a string or number and ``gdelt_tone`` (GDELT's V1.5TONE, kept from GKG
files; empty for other sources) a number within -100..+100, else ``wrong_type:<field>``
or ``out_of_range:gdelt_tone``; text that is not valid
Unicode (a lone surrogate escape such as ``"\\ud800"``) is ``invalid_unicode:<field>``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import logging
import math
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import pandas as pd

from src_clean.data_pipelines.bronze.lines import is_unicode
from src_clean.data_pipelines.bronze.quarantine import Rejected
from src_clean.data_pipelines.bronze.time_range import (
    OUT_OF_RANGE,
    TOO_PRECISE,
    bounded_ns,
    seconds_in_range,
    sub_microsecond,
)

# Bronze field -> accepted raw keys (case-insensitive), in order of preference.
ALIASES: dict[str, tuple[str, ...]] = {
    "article_id": ("article_id", "id"),
    "headline": ("headline", "title"),
    "body": ("body", "content", "text", "summary", "description"),
    "published_at": ("published_at", "publishedat", "date", "published", "seendate"),
    # when a feed first had the article (GDELT's ``seendate`` is when GDELT saw it)
    "available_at": ("available_at", "collected_at", "first_seen_at", "seen_at", "seendate"),
    "url": ("url", "link"),
    "source": ("source", "domain", "source_name"),
    "language": ("language",),
    # GDELT's own tone of the article (GKG V1.5TONE, -100..+100); absent elsewhere
    "gdelt_tone": ("gdelt_tone",),
}
# An object holding none of these keys is not an article (e.g. a state file).
ARTICLE_KEYS = frozenset(ALIASES["headline"] + ALIASES["body"] + ALIASES["url"])
# GDELT spells languages out; bronze stores ISO 639-1 codes.
LANGUAGE_NAMES = {
    "english": "en",
    "spanish": "es",
    "french": "fr",
    "german": "de",
    "italian": "it",
    "portuguese": "pt",
    "chinese": "zh",
    "japanese": "ja",
}
DEFAULT_LANGUAGE = "en"
log = logging.getLogger(__name__)
ARTICLE_COLUMNS = [
    "article_id",
    "published_at",
    "available_at",
    "available_from",
    "headline",
    "body",
    "source",
    "url",
    "language",
    "gdelt_tone",
]
# ``fetched_at``: the landing ledger's fetch time of the record's file (None if unknown)
PROVENANCE_COLUMNS = ["source_file", "record_number", "raw", "error", "fetched_at"]
# where ``available_at`` came from when the record has none of its aliases
FROM_LEDGER = "fetched_at"
FROM_PUBLICATION = "published_at"
TEXT_FIELDS = ("article_id", "headline", "body", "url", "source", "language")
# JSON types each field may hold (a JSON true/false is never a number here)
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    **dict.fromkeys(TEXT_FIELDS, (str,)),
    "article_id": (str, int),
    "published_at": (str, int, float),
    "available_at": (str, int, float),
    "gdelt_tone": (int, float),
}
TONE_LIMIT = 100.0  # GDELT's tone scale runs from -100 to +100
WRONG_TYPE = "wrong_type:"
INVALID_UNICODE = "invalid_unicode:"
EPOCH_PATTERN = r"\d{9,13}(?:\.\d+)?"
COMPACT_PATTERN = r"(\d{8})(\d{6})"
MS_EPOCH_THRESHOLD = 1e11  # epoch values at or above this are milliseconds


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, float) and math.isnan(value)


def _flatten_source(value: Any) -> Any:
    """NewsAPI nests the source as ``{"id": ..., "name": ...}``: keep the name, else the id."""
    if isinstance(value, dict):
        return value.get("name") or value.get("id")
    return value


def is_article(obj: Any) -> bool:
    """True for a JSON object with at least one headline, body or URL key."""
    return isinstance(obj, dict) and any(str(k).lower() in ARTICLE_KEYS for k in obj)


def canonical_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """The bronze fields of one raw object: the first non-blank value among each field's
    aliases; ``error`` names the first field with a value of the wrong type or text that
    is not valid Unicode (that value is left out)."""
    lowered = {str(k).lower(): v for k, v in obj.items()}
    lowered["source"] = _flatten_source(lowered.get("source"))
    fields: dict[str, Any] = {"error": None, "available_from": None}
    for name, keys in ALIASES.items():
        key = next((k for k in keys if not _is_blank(lowered.get(k))), None)
        value = None if key is None else lowered[key]
        problem = None if value is None else _value_problem(name, value)
        if problem and fields["error"] is None:
            fields["error"] = problem
        fields[name] = None if problem else value
        if name == "available_at" and value is not None:
            fields["available_from"] = key
    return fields


def _value_problem(name: str, value: Any) -> str | None:
    """Why ``value`` cannot be field ``name`` (``None`` when it can)."""
    if isinstance(value, bool) or not isinstance(value, FIELD_TYPES[name]):
        return f"{WRONG_TYPE}{name}"
    if isinstance(value, str) and not is_unicode(value):
        return f"{INVALID_UNICODE}{name}"
    if name == "gdelt_tone" and not abs(value) <= TONE_LIMIT:  # NaN and inf included
        return f"{OUT_OF_RANGE}{name}"
    return None


def normalize_url(url: str) -> str:
    """Lowercase scheme and host, drop the fragment, ``utm_*`` parameters and trailing slash.

    A URL that cannot be split (e.g. ``http://[::1``) is only stripped.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_")
    ]
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), urlencode(query), "")
    )


def url_host(url: str) -> str:
    """The URL's host without a leading ``www.`` ("" when there is none or it is malformed)."""
    try:
        return (urlsplit(url.strip()).hostname or "").removeprefix("www.")
    except ValueError:
        return ""


def _mask(values: pd.Series, predicate: Callable[[Any], bool]) -> pd.Series:
    """``predicate`` of each value as a boolean Series (boolean even when empty)."""
    return values.map(predicate).astype(bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _hashed_ids(prefix: str, keys: pd.Series) -> pd.Series:
    """``<prefix>:<first 16 hex digits of sha1(key)>`` for each key."""
    return keys.map(lambda key: f"{prefix}:{hashlib.sha1(key.encode()).hexdigest()[:16]}")


def _text(values: pd.Series) -> pd.Series:
    """Values as stripped strings; missing values become ""."""
    return values.astype("str").fillna("").str.strip()


def _parse_rfc2822(text: str) -> dt.datetime | None:
    try:
        return email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None


def _parse_epochs(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Epoch seconds or milliseconds (by magnitude) to UTC times, and which are out of range
    (checked before conversion, which could overflow)."""
    numbers = pd.to_numeric(values.map(_finite_float), errors="coerce").astype("float64")
    seconds = numbers.where(numbers.abs() < MS_EPOCH_THRESHOLD, numbers / 1000)
    ok = seconds_in_range(seconds)
    millis = (seconds[ok] * 1000).round()
    parsed = pd.to_datetime(millis, unit="ms", utc=True).dt.as_unit("ns")
    return parsed.reindex(values.index), ~ok


def _finite_float(value: Any) -> float:
    """``float(value)``; NaN for values too large for a float (huge JSON integers)."""
    try:
        return float(value)
    except (OverflowError, TypeError, ValueError):
        return math.nan


def _parse_strings(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """ISO 8601 (after expanding ``YYYYMMDDHHMMSS``), then RFC 2822 for what remains; and
    which parsed but are out of range."""
    iso = text.str.replace(f"^{COMPACT_PATTERN}$", r"\1T\2", regex=True)
    parsed, out = bounded_ns(pd.to_datetime(iso, format="ISO8601", utc=True, errors="coerce"))
    rest = parsed.isna() & ~out
    rfc2822, rfc_out = bounded_ns(pd.to_datetime(text[rest].map(_parse_rfc2822), utc=True))
    return parsed.mask(rest, rfc2822), out | rfc_out.reindex(text.index, fill_value=False)


def timestamp_problems(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Raw values (strings or JSON numbers) to ``datetime64[ns, UTC]`` (NaT if unparseable
    or out of the supported range), and which values parsed but are out of range."""
    is_number = _mask(values, _is_number)
    is_string = _mask(values, lambda v: isinstance(v, str))
    text = values.where(is_string).astype("str").str.strip()
    is_epoch = is_number | (is_string & text.str.fullmatch(EPOCH_PATTERN).fillna(False))
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    out = pd.Series(False, index=values.index)
    epochs, epochs_out = _parse_epochs(values[is_epoch])
    dated = is_string & ~is_epoch
    strings, strings_out = _parse_strings(text[dated])
    parsed = parsed.mask(is_epoch, epochs).mask(dated, strings)
    out = out.mask(is_epoch, epochs_out).mask(dated, strings_out)
    return parsed, out.astype(bool)


def derive_ids(frame: pd.DataFrame) -> pd.Series:
    """The given id, else a hash of the normalized URL, else of headline (or body) + time."""
    ids = frame["article_id"]
    by_url = (ids == "") & (frame["url"] != "")
    ids = ids.mask(by_url, _hashed_ids("url", frame["url"][by_url].map(normalize_url)))
    by_text = ids == ""
    text = frame["headline"].where(frame["headline"] != "", frame["body"])[by_text]
    keys = text + "|" + frame["published_at"][by_text].astype("str")
    return ids.mask(by_text, _hashed_ids("text", keys))


def _languages(values: pd.Series) -> pd.Series:
    lowered = values.str.lower()
    named = lowered.map(LANGUAGE_NAMES).fillna(lowered)
    return named.mask(named == "", DEFAULT_LANGUAGE)


def _rejection_reasons(
    frame: pd.DataFrame, times: dict[str, tuple[pd.Series, pd.Series]]
) -> pd.Series:
    """Why each row is rejected ("" when it is valid); the first failing check wins.

    ``times`` holds each parsed time field with its out-of-range mask; a blank
    ``available_at`` is no problem (availability falls back), an unreadable one is.
    """
    typed = frame["error"].fillna("").astype(str)
    no_text = (frame["headline"] == "") & (frame["body"] == "")
    conditions = [typed != "", no_text, _mask(frame["published_at"], _is_blank)]
    choices = [typed, "no_text", "missing_published_at"]
    for name, (parsed, out_of_range) in times.items():
        given = ~_mask(frame[name], _is_blank)
        conditions += [given & out_of_range, given & parsed.isna(), sub_microsecond(parsed)]
        choices += [f"{OUT_OF_RANGE}{name}", f"unparseable_{name}", f"{TOO_PRECISE}{name}"]
    return pd.Series(np.select(conditions, choices, default=""), index=frame.index)


def availability(
    frame: pd.DataFrame, published: pd.Series, available: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """``available_at`` and the field it came from: the record's own availability field
    (``available_at``, ``collected_at``, ``first_seen_at``, ``seen_at``, ``seendate``), else
    the landing ledger's fetch time of its file, else ``published_at``."""
    source = frame["available_from"].astype(object)
    fetched, _ = timestamp_problems(frame["fetched_at"])
    use_ledger = available.isna() & fetched.notna()
    use_published = available.isna() & fetched.isna()
    times = available.mask(use_ledger, fetched).mask(use_published, published)
    source = source.mask(use_ledger, FROM_LEDGER).mask(use_published, FROM_PUBLICATION)
    return times, source.astype("str")


def _clean(frame: pd.DataFrame) -> pd.DataFrame:
    """Strip text fields and fill defaults (body "", language "en", source from the URL host)."""
    out = frame.copy()
    for column in ("article_id", "headline", "body", "url", "source", "language"):
        out[column] = _text(frame[column])
    out["language"] = _languages(out["language"])
    out["gdelt_tone"] = pd.to_numeric(frame["gdelt_tone"], errors="coerce").astype("float64")
    no_source = out["source"] == ""
    out["source"] = out["source"].mask(no_source, out["url"][no_source].map(url_host))
    return out


def to_articles(rows: Iterable[dict[str, Any]]) -> tuple[pd.DataFrame, list[Rejected]]:
    """Canonical rows (with provenance) to valid bronze articles plus rejected records.

    The returned frame has ``ARTICLE_COLUMNS`` + ``source_file``, in input order, and may
    repeat an ``article_id`` (deduplication is the caller's job). Never raises for a
    value: should the batch checks fail on one nobody foresaw, the batch is halved until
    that record is alone, and it is rejected as ``parser_error:<exception>``.
    """
    rows = list(rows)
    try:
        return _to_articles(rows)
    except Exception as exc:
        if len(rows) == 1:
            log.warning("record %s: unexpected %r", rows[0].get("record_number"), exc)
            row = rows[0]
            reason = f"parser_error:{type(exc).__name__}"
            rejected = Rejected.of(row["source_file"], row["record_number"], reason, row["raw"])
            return pd.DataFrame(columns=[*ARTICLE_COLUMNS, "source_file"]), [rejected]
    middle = len(rows) // 2
    halves = [to_articles(rows[:middle]), to_articles(rows[middle:])]
    frames = [articles for articles, _ in halves if len(articles)]
    articles = pd.concat(frames, ignore_index=True) if frames else halves[0][0]
    return articles, [r for _, rejected in halves for r in rejected]


def _to_articles(rows: list[dict[str, Any]]) -> tuple[pd.DataFrame, list[Rejected]]:
    frame = pd.DataFrame(rows, columns=ARTICLE_COLUMNS + PROVENANCE_COLUMNS, dtype=object)
    frame = _clean(frame.astype({"record_number": "int64"}))
    times = {name: timestamp_problems(frame[name]) for name in ("published_at", "available_at")}
    reasons = _rejection_reasons(frame, times)
    bad = reasons != ""
    rejected = [
        Rejected.of(source, number, reason, raw)
        for source, number, reason, raw in zip(
            frame.loc[bad, "source_file"],
            frame.loc[bad, "record_number"],
            reasons[bad],
            frame.loc[bad, "raw"],
            strict=True,
        )
    ]
    published = times["published_at"][0][~bad]
    valid = frame.loc[~bad]
    available, available_from = availability(valid, published, times["available_at"][0][~bad])
    valid = valid.assign(
        published_at=published, available_at=available, available_from=available_from
    )
    valid = valid.assign(article_id=derive_ids(valid))
    return valid[ARTICLE_COLUMNS + ["source_file"]].reset_index(drop=True), rejected
