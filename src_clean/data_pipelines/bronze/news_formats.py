"""Raw news files to canonical records: one article per ``.json`` file, or ``.jsonl`` lines.

Lines that are not UTF-8, not JSON, or not a JSON object are rejected with a reason; a
truncated last line of a ``.jsonl.gz`` is just invalid JSON. A ``.json`` file that is not
an article object (e.g. a list of seen ids) is skipped as a whole, with a note.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from src_clean.data_pipelines.bronze.news_fields import canonical_fields, is_article
from src_clean.data_pipelines.bronze.quarantine import Rejected
from src_clean.data_pipelines.bronze.sources import InputFile, read_bytes

SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz")


@dataclass
class ParsedFile:
    """What one file yielded: canonical rows with provenance, rejected lines, a skip note."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    skipped: str | None = None

    @property
    def records(self) -> int:
        """Records read from the file (a skipped file has none)."""
        return len(self.rows) + len(self.rejected)


def _decode(source_file: str, line_number: int, raw: bytes) -> tuple[str, Any] | Rejected:
    """The text and JSON value in ``raw``, or a ``Rejected`` saying why there is none."""
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return Rejected(source_file, line_number, "invalid_utf8", raw.decode("utf-8", "replace"))
    try:
        return text, json.loads(text)
    except json.JSONDecodeError:
        return Rejected(source_file, line_number, "invalid_json", text)


def _row(source_file: str, line_number: int, text: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Canonical fields of ``obj`` plus where it came from."""
    provenance = {"source_file": source_file, "line_number": line_number, "raw": text}
    return {**canonical_fields(obj), **provenance}


def _parse_line(source_file: str, line_number: int, raw: bytes) -> dict[str, Any] | Rejected:
    decoded = _decode(source_file, line_number, raw)
    if isinstance(decoded, Rejected):
        return decoded
    text, value = decoded
    if not isinstance(value, dict):
        return Rejected(source_file, line_number, "not_an_object", text)
    return _row(source_file, line_number, text, value)


def _parse_lines(source_file: str, data: bytes) -> ParsedFile:
    results = [
        _parse_line(source_file, line_number, line)
        for line_number, line in enumerate(data.splitlines(), start=1)
        if line.strip()
    ]
    return ParsedFile(
        rows=[r for r in results if not isinstance(r, Rejected)],
        rejected=[r for r in results if isinstance(r, Rejected)],
    )


def _parse_document(source_file: str, data: bytes) -> ParsedFile:
    decoded = _decode(source_file, 1, data)
    if isinstance(decoded, Rejected):
        return ParsedFile(rejected=[decoded])
    text, value = decoded
    if not is_article(value):
        return ParsedFile(skipped=f"{source_file}: not an article object ({type(value).__name__})")
    return ParsedFile(rows=[_row(source_file, 1, text, value)])


def parse_news_file(file: InputFile) -> ParsedFile:
    """Read one raw news file (gzipped or not) into canonical rows and rejections."""
    data = read_bytes(file)
    is_lines = file.name.lower().removesuffix(".gz").endswith(".jsonl")
    return (_parse_lines if is_lines else _parse_document)(file.uri, data)
