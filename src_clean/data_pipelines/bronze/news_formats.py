"""Raw news files to canonical records (``.json`` documents, ``.jsonl``/``.ndjson`` lines).

What counts as a record (``read``):

- ``.jsonl``/``.ndjson`` (optionally ``.gz``): each non-blank line (LF, CRLF or CR); a line
  that is not an object is rejected (``not_an_object``).
- ``.json``: when the whole file is one JSON value, an article object is one record and
  an array holds one record per element (numbered 1, 2, ...; ``not_an_object`` for an
  element that is not an object). A file that holds no article at all (a state object, a
  list of ids, an empty array) is skipped with a note in ``skipped_files``. When the file
  is not one JSON value but its first line is, it is NDJSON and read line by line; else
  it is one ``invalid_json`` record.

Lines over the length cap, not UTF-8 or nested too deeply are rejected before decoding
(``lines``); an unreadable file gives a ``failure``; a damaged gzip keeps the lines before
the damage, its cut last line rejected (``truncated_line``).
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass, field
from typing import Any

from src_clean.data_pipelines.bronze.lines import (
    INVALID_JSON,
    Lines,
    cut_last_line,
    document,
    load_json,
    split_lines,
)
from src_clean.data_pipelines.bronze.news_fields import canonical_fields, is_article
from src_clean.data_pipelines.bronze.quarantine import Rejected, file_rejection
from src_clean.data_pipelines.bronze.sources import InputFile, landing_fetch_time, read_input

LINE_SUFFIXES = (".jsonl", ".ndjson")
SUFFIXES = (".json", ".json.gz", *LINE_SUFFIXES, *(f"{s}.gz" for s in LINE_SUFFIXES))
NOT_AN_OBJECT = "not_an_object"


@dataclass
class ParsedFile:
    """What one file yielded: canonical rows with provenance, rejected records, a skip note,
    and the file-level failure or truncation (``record_number`` 0 entries), if any."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    skipped: str | None = None
    failure: Rejected | None = None
    truncated: Rejected | None = None

    @property
    def records(self) -> int:
        """Records read from the file (a skipped or failed file has none)."""
        return len(self.rows) + len(self.rejected)


def _row(source_file: str, number: int, raw: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Canonical fields of ``obj`` plus where it came from."""
    return {
        **canonical_fields(obj),
        "source_file": source_file,
        "record_number": number,
        "raw": raw,
    }


def _record(source_file: str, number: int, raw: str, value: Any) -> dict[str, Any] | Rejected:
    if not isinstance(value, dict):
        return Rejected.of(source_file, number, NOT_AN_OBJECT, raw)
    return _row(source_file, number, raw, value)


def _collect(parsed: ParsedFile, results: list[dict[str, Any] | Rejected]) -> ParsedFile:
    for result in results:
        (parsed.rejected if isinstance(result, Rejected) else parsed.rows).append(result)
    return parsed


def _parse_lines(source_file: str, lines: Lines, parsed: ParsedFile) -> ParsedFile:
    results: list[dict[str, Any] | Rejected] = []
    for number, text in lines.good:
        loaded = load_json(text)
        if isinstance(loaded, str):
            results.append(Rejected.of(source_file, number, loaded, text))
        else:
            results.append(_record(source_file, number, text, loaded[0]))
    return _collect(parsed, results)


def _parse_document(source_file: str, lines: Lines, parsed: ParsedFile) -> ParsedFile:
    """A ``.json`` file: one value (article or array), else NDJSON, else one bad record."""
    if not lines.good:
        return parsed
    text = document(lines)
    loaded = load_json(text)
    if isinstance(loaded, str):
        first = load_json(lines.good[0][1])
        if loaded == INVALID_JSON and not isinstance(first, str):
            return _parse_lines(source_file, lines, parsed)
        return _collect(parsed, [Rejected.of(source_file, lines.good[0][0], loaded, text)])
    value = loaded[0]
    if isinstance(value, dict):
        if not is_article(value):
            parsed.skipped = f"{source_file}: not an article object (keys: {_keys(value)})"
            return parsed
        return _collect(parsed, [_row(source_file, lines.good[0][0], text, value)])
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        items = [_record(source_file, n, _dumps(v), v) for n, v in enumerate(value, start=1)]
        return _collect(parsed, items)
    what = "an empty array" if value == [] else f"no article ({type(value).__name__})"
    parsed.skipped = f"{source_file}: {what}"
    return parsed


def _keys(value: dict[str, Any]) -> str:
    return ", ".join(sorted(map(str, value))[:5]) or "none"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def parse_news_file(file: InputFile) -> ParsedFile:
    """Read one raw news file (gzipped or not) into canonical rows and rejections."""
    read = read_input(file)
    if read.failure:
        return ParsedFile(failure=file_rejection(file.uri, read.failure, read.detail))
    lines = split_lines(read.data.removeprefix(codecs.BOM_UTF8), file.uri)
    parsed = ParsedFile(rejected=list(lines.rejected))
    if read.truncated:
        parsed.rejected += cut_last_line(lines, file.uri)
        parsed.truncated = file_rejection(file.uri, "truncated_gzip", read.detail)
    is_lines = file.name.lower().removesuffix(".gz").endswith(LINE_SUFFIXES)
    (_parse_lines if is_lines else _parse_document)(file.uri, lines, parsed)
    fetched_at = landing_fetch_time(file) if parsed.rows else None
    for row in parsed.rows:
        row["fetched_at"] = fetched_at
    parsed.rejected.sort(key=lambda rejected: rejected.record_number)
    return parsed
