"""Raw article objects to bronze rows: field aliases, timestamps, URLs and article ids.

Providers name the same fields differently (NewsAPI ``title``/``publishedAt``/``source``
dict, GDELT ``seendate``/``domain``, RSS ``link``/``published``). ``canonical_fields``
maps one object onto the bronze names; ``to_articles`` then cleans a whole batch at once
and splits it into valid rows and quarantined records.

Timestamps: ISO 8601 (``Z``, offsets, basic form such as GDELT's ``20240102T143000Z``),
compact ``YYYYMMDDHHMMSS``, RFC 2822 (RSS), and unix epoch seconds or milliseconds (JSON
numbers or 9-13 digit strings; values below 1e11 are seconds). A timestamp without an
offset is read as UTC. Everything is stored as ``datetime64[ns, UTC]``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import math
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import pandas as pd

from src_clean.data_pipelines.bronze.quarantine import Rejected

# Bronze field -> accepted raw keys (case-insensitive), in order of preference.
ALIASES: dict[str, tuple[str, ...]] = {
    "article_id": ("article_id", "id"),
    "headline": ("headline", "title"),
    "body": ("body", "content", "text", "summary", "description"),
    "published_at": ("published_at", "seendate", "publishedat", "date", "published"),
    "url": ("url", "link"),
    "source": ("source", "domain", "source_name"),
    "language": ("language",),
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
ARTICLE_COLUMNS = ["article_id", "published_at", "headline", "body", "source", "url", "language"]
PROVENANCE_COLUMNS = ["source_file", "line_number", "raw"]
REJECTED_COLUMNS = ["source_file", "line_number", "reason", "raw"]  # Rejected's field order
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
    """The bronze fields of one raw object: the first non-blank value among each field's aliases."""
    lowered = {str(k).lower(): v for k, v in obj.items()}
    lowered["source"] = _flatten_source(lowered.get("source"))
    return {
        field: next((lowered[k] for k in keys if not _is_blank(lowered.get(k))), None)
        for field, keys in ALIASES.items()
    }


def normalize_url(url: str) -> str:
    """Lowercase scheme and host, drop the fragment, ``utm_*`` parameters and trailing slash."""
    parts = urlsplit(url.strip())
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_")
    ]
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), urlencode(query), "")
    )


def url_host(url: str) -> str:
    """The URL's host without a leading ``www.`` ("" when there is none)."""
    return (urlsplit(url.strip()).hostname or "").removeprefix("www.")


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


def _parse_epochs(values: pd.Series) -> pd.Series:
    """Epoch seconds or milliseconds (by magnitude) to UTC timestamps."""
    numbers = pd.to_numeric(values, errors="coerce")
    millis = numbers.where(numbers.abs() >= MS_EPOCH_THRESHOLD, numbers * 1000).round()
    return pd.to_datetime(millis, unit="ms", utc=True, errors="coerce").dt.as_unit("ns")


def _parse_strings(text: pd.Series) -> pd.Series:
    """ISO 8601 (after expanding ``YYYYMMDDHHMMSS``), then RFC 2822 for what remains."""
    iso = text.str.replace(f"^{COMPACT_PATTERN}$", r"\1T\2", regex=True)
    parsed = pd.to_datetime(iso, format="ISO8601", utc=True, errors="coerce").dt.as_unit("ns")
    rest = parsed.isna()
    rfc2822 = pd.to_datetime(text[rest].map(_parse_rfc2822), utc=True).dt.as_unit("ns")
    return parsed.mask(rest, rfc2822)


def parse_timestamps(values: pd.Series) -> pd.Series:
    """Raw values (strings or JSON numbers) to ``datetime64[ns, UTC]``; NaT if unparseable."""
    is_number = _mask(values, _is_number)
    is_string = _mask(values, lambda v: isinstance(v, str))
    text = values.where(is_string).astype("str").str.strip()
    is_epoch = is_number | (is_string & text.str.fullmatch(EPOCH_PATTERN).fillna(False))
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    parsed = parsed.mask(is_epoch, _parse_epochs(values.where(is_epoch)))
    dated = is_string & ~is_epoch
    return parsed.mask(dated, _parse_strings(text[dated]))


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


def _rejection_reasons(frame: pd.DataFrame, published: pd.Series) -> pd.Series:
    """Why each row is rejected ("" when it is valid); the first failing check wins."""
    no_text = (frame["headline"] == "") & (frame["body"] == "")
    missing = _mask(frame["published_at"], _is_blank)
    reasons = np.select(
        [no_text, missing, published.isna()],
        ["no_text", "missing_published_at", "unparseable_published_at"],
        default="",
    )
    return pd.Series(reasons, index=frame.index)


def _clean(frame: pd.DataFrame) -> pd.DataFrame:
    """Strip text fields and fill defaults (body "", language "en", source from the URL host)."""
    out = frame.copy()
    for column in ("article_id", "headline", "body", "url", "source", "language"):
        out[column] = _text(frame[column])
    out["language"] = _languages(out["language"])
    no_source = out["source"] == ""
    out["source"] = out["source"].mask(no_source, out["url"][no_source].map(url_host))
    return out


def to_articles(rows: Iterable[dict[str, Any]]) -> tuple[pd.DataFrame, list[Rejected]]:
    """Canonical rows (with provenance) to valid bronze articles plus rejected records.

    The returned frame has ``ARTICLE_COLUMNS`` + ``source_file``, in input order, and may
    repeat an ``article_id`` (deduplication is the caller's job).
    """
    frame = pd.DataFrame(list(rows), columns=ARTICLE_COLUMNS + PROVENANCE_COLUMNS, dtype=object)
    frame = _clean(frame.astype({"line_number": "int64"}))
    published = parse_timestamps(frame["published_at"])
    reasons = _rejection_reasons(frame, published)
    bad = reasons != ""
    rejected_rows = frame.loc[bad].assign(reason=reasons[bad])[REJECTED_COLUMNS]
    rejected = [Rejected(*values) for values in rejected_rows.itertuples(index=False)]
    valid = frame.loc[~bad].assign(published_at=published[~bad])
    valid = valid.assign(article_id=derive_ids(valid))
    return valid[ARTICLE_COLUMNS + ["source_file"]].reset_index(drop=True), rejected
