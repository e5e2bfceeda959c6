"""Raw bytes to numbered lines and JSON values, with the checks that must run before decoding.

- Line endings: LF, CRLF and CR each end a line (as ``bytes.splitlines``); line numbers
  are 1-based and count blank lines; a UTF-8 byte-order mark is ignored.
- A line longer than ``MAX_LINE_BYTES`` is rejected (``line_too_long``) without being
  decoded or copied whole: only its first 64 KiB, length and SHA-256 are kept.
- A line that is not UTF-8 is rejected (``invalid_utf8``).
- JSON nested deeper than ``MAX_JSON_DEPTH`` is rejected (``too_deep``) before any decoder
  sees it: Python's ``json`` recurses (``RecursionError`` near 1,000 levels) and Arrow's
  reader crashes the process (about 10^5 levels).

The depth check (``json_depth``) is a scan of the bytes, not a parse. A bracket counts
when an even number of unescaped double quotes precede it on its line (a quote is escaped
when an odd run of backslashes precedes it). For valid JSON this is exact: strings are
the only place a bracket can be non-structural, they never span lines, and inside them
a quote is always escaped. For invalid JSON it is an upper bound on how deep a decoder
gets: a decoder reads left to right with the same notion of "inside a string" until the
first syntax error, where it stops; so the bound can only reject lines that would have
failed anyway or that really are too deep. Most lines are cleared without the scan,
since a line with at most ``MAX_JSON_DEPTH`` opening brackets cannot be deeper.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from src_clean.data_pipelines.bronze.quarantine import Rejected

MAX_LINE_BYTES = 8 * 1024 * 1024
MAX_JSON_DEPTH = 64

LINE_TOO_LONG = "line_too_long"
INVALID_UTF8 = "invalid_utf8"
INVALID_JSON = "invalid_json"
TOO_DEEP = "too_deep"
TRUNCATED_LINE = "truncated_line"

_JSON_DECODER = json.JSONDecoder(parse_constant=str)
# Integers of 19+ digits may not fit int64 (or even a float): decoded as floats (``inf``
# when too large), so that range checks see a number instead of an overflow error.
_NUMERIC_DECODER = json.JSONDecoder(
    parse_constant=str, parse_int=lambda s: int(s) if len(s) < 19 else float(s)
)
# byte -> 1 opening bracket, 2 closing bracket, 3 double quote, 4 line break
_KIND = np.zeros(256, np.int8)
_KIND[[ord("["), ord("{")]] = 1
_KIND[[ord("]"), ord("}")]] = 2
_KIND[ord('"')] = 3
_KIND[[ord("\n"), ord("\r")]] = 4


@dataclass
class Lines:
    """A file's lines: the usable ones as ``(number, text)`` and the rejected ones."""

    good: list[tuple[int, str]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    last_line: int = 0
    terminated: bool = True

    @property
    def clean(self) -> bool:
        """Every non-blank line is usable (nothing was rejected)."""
        return not self.rejected


def split_lines(data: bytes, source_file: str) -> Lines:
    """Numbered non-blank lines of ``data``; overlong and non-UTF-8 lines rejected."""
    data = data.removeprefix(codecs.BOM_UTF8)
    terminated = not data or data.endswith((b"\n", b"\r"))
    if len(data) <= MAX_LINE_BYTES:
        try:
            texts = _split_text(data.decode("utf-8"))
        except UnicodeDecodeError:
            return _decode_each(enumerate(data.splitlines(), start=1), source_file, terminated)
        good = [(n, t) for n, t in enumerate(texts, start=1) if t.strip()]
        return Lines(good, [], len(texts), terminated)
    return _decode_each(_line_slices(data), source_file, terminated)


def cut_last_line(lines: Lines, source_file: str) -> list[Rejected]:
    """After a damaged gzip: the unterminated last line is a cut record, never a value.

    Removed from ``lines.good`` and returned as a ``truncated_line`` rejection.
    """
    if lines.terminated or not lines.good or lines.good[-1][0] != lines.last_line:
        return []
    number, text = lines.good.pop()
    return [Rejected.of(source_file, number, TRUNCATED_LINE, text)]


def _split_text(text: str) -> list[str]:
    """``text`` split like ``bytes.splitlines`` (only CR, LF, CRLF; not U+2028 and kin)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    texts = text.split("\n")
    if texts[-1] == "":
        texts.pop()
    return texts


def _decode_each(
    pieces: Iterator[tuple[int, bytes | memoryview]], source_file: str, terminated: bool
) -> Lines:
    lines = Lines(terminated=terminated)
    for number, piece in pieces:
        lines.last_line = number
        if len(piece) > MAX_LINE_BYTES:
            lines.rejected.append(Rejected.of(source_file, number, LINE_TOO_LONG, piece))
            continue
        try:
            text = bytes(piece).decode("utf-8")
        except UnicodeDecodeError:
            lines.rejected.append(Rejected.of(source_file, number, INVALID_UTF8, piece))
            continue
        if text.strip():
            lines.good.append((number, text))
    return lines


def _line_slices(data: bytes) -> Iterator[tuple[int, memoryview]]:
    """``(number, line)`` without copying: views of ``data`` between line breaks."""
    view = memoryview(data)
    array = np.frombuffer(data, np.uint8)
    breaks = np.flatnonzero((array == 10) | (array == 13))
    is_crlf = np.zeros(len(breaks), bool)
    if len(breaks) > 1:
        is_crlf[:-1] = (np.diff(breaks) == 1) & (array[breaks[:-1]] == 13)
        is_crlf[:-1] &= array[breaks[1:]] == 10
    second_of_pair = np.zeros(len(breaks), bool)
    second_of_pair[1:] = is_crlf[:-1]
    ends = breaks[~second_of_pair]
    starts = np.concatenate([[0], ends + 1 + is_crlf[~second_of_pair]])
    ends = np.concatenate([ends, [len(data)]])
    if starts[-1] == len(data):
        starts, ends = starts[:-1], ends[:-1]
    for number, (start, end) in enumerate(
        zip(starts.tolist(), ends.tolist(), strict=True), start=1
    ):
        yield number, view[start:end]


# -- JSON -------------------------------------------------------------------------------


def json_depth(text: str) -> int:
    """The deepest bracket nesting in ``text`` (exact for valid JSON; see the module doc)."""
    raw = text.encode("utf-8", "surrogatepass")
    array = np.frombuffer(raw, np.uint8)
    where = np.flatnonzero(_KIND[array])
    kind = _KIND[array[where]]
    quote = kind == 3
    if b"\\" in raw and quote.any():
        quote[np.flatnonzero(quote)[_escaped(array, where[quote])]] = False
    quotes_so_far = np.cumsum(quote)
    at_line_start = np.maximum.accumulate(np.where(kind == 4, quotes_so_far, 0))
    outside = (quotes_so_far - at_line_start) % 2 == 0
    step = (outside & (kind == 1)).astype(np.int64) - (outside & (kind == 2))
    return int(np.cumsum(step).max(initial=0))


def _escaped(array: np.ndarray, quotes: np.ndarray) -> np.ndarray:
    """For each quote position: is it preceded by an odd run of backslashes?"""
    positions = np.arange(len(array), dtype=np.int64)
    last_other = np.maximum.accumulate(np.where(array == 92, -1, positions))
    before = np.maximum(quotes - 1, 0)
    run = np.where(quotes > 0, before - last_other[before], 0)
    return run % 2 == 1


def is_too_deep(text: str) -> bool:
    """Nesting deeper than ``MAX_JSON_DEPTH`` (cheap unless the text has many brackets)."""
    return text.count("{") + text.count("[") > MAX_JSON_DEPTH and json_depth(text) > (
        MAX_JSON_DEPTH
    )


def load_json(text: str, *, big_ints_as_floats: bool = False) -> tuple[Any] | str:
    """``(value,)`` for JSON within the depth cap, else the reason (``too_deep``, ``invalid_json``).

    ``NaN``/``Infinity`` literals stay text. ``big_ints_as_floats``: integers of 19 or
    more digits become floats (``inf`` beyond the float range).
    """
    if is_too_deep(text):
        return TOO_DEEP
    decoder = _NUMERIC_DECODER if big_ints_as_floats else _JSON_DECODER
    try:
        return (decoder.decode(text),)
    except (ValueError, RecursionError):
        return INVALID_JSON


def reject_too_deep(lines: Lines, source_file: str) -> None:
    """Move the lines nested deeper than ``MAX_JSON_DEPTH`` from ``good`` to ``rejected``."""
    deep = {number for number, text in lines.good if is_too_deep(text)}
    if deep:
        lines.rejected += [
            Rejected.of(source_file, n, TOO_DEEP, t) for n, t in lines.good if n in deep
        ]
        lines.rejected.sort(key=lambda rejected: rejected.record_number)
        lines.good = [(n, t) for n, t in lines.good if n not in deep]


def is_unicode(text: str) -> bool:
    """``text`` is valid Unicode (JSON can smuggle in lone surrogates: ``"\\ud800"``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def single_values(lines: Lines) -> bool:
    """Whether the file is NDJSON (its first line is JSON alone), not one multi-line document."""
    return bool(lines.good) and not isinstance(load_json(lines.good[0][1]), str)


def document(lines: Lines) -> str:
    """The usable lines joined back into one text (a JSON document spanning lines)."""
    return "\n".join(text for _, text in lines.good)
