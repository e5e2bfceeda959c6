"""Per-run ingest report: records read = written + duplicates + incomplete + quarantined.

Files are counted apart from records: ``files_failed`` maps each file that gave no
records at all (unreadable, not gzip, a symbolic link loop, ...) to its reason, and
``files_truncated`` each damaged gzip whose records before the damage were kept. Both also
get a file-level quarantine row (``record_number`` 0), which is not a record and so not
in ``quarantined``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field


@dataclass
class IngestReport:
    """Counts for one ingest run. ``check()`` enforces the no-record-lost invariant."""

    table: str
    read: int = 0
    written: int = 0
    duplicates: int = 0
    incomplete: int = 0
    quarantined: int = 0
    files: int = 0
    skipped_files: list[str] = field(default_factory=list)
    files_failed: dict[str, str] = field(default_factory=dict)
    files_truncated: dict[str, str] = field(default_factory=dict)
    quarantine_reasons: Counter[str] = field(default_factory=Counter)
    partitions: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return self.read == self.written + self.duplicates + self.incomplete + self.quarantined

    def merged(self, other: IngestReport) -> IngestReport:
        """The counts of this run and ``other`` (a later batch of the same ingest) together."""
        return IngestReport(
            table=self.table,
            read=self.read + other.read,
            written=self.written + other.written,
            duplicates=self.duplicates + other.duplicates,
            incomplete=self.incomplete + other.incomplete,
            quarantined=self.quarantined + other.quarantined,
            files=self.files + other.files,
            skipped_files=[*self.skipped_files, *other.skipped_files],
            files_failed={**self.files_failed, **other.files_failed},
            files_truncated={**self.files_truncated, **other.files_truncated},
            quarantine_reasons=self.quarantine_reasons + other.quarantine_reasons,
            partitions=sorted({*self.partitions, *other.partitions}),
        )

    def check(self) -> IngestReport:
        if not self.balanced:
            raise AssertionError(f"ingest counts do not balance: {self.summary()}")
        return self

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["quarantine_reasons"] = dict(self.quarantine_reasons)
        data["balanced"] = self.balanced
        return data

    def summary(self) -> str:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.quarantine_reasons.items()))
        line = (
            f"{self.table}: read={self.read} written={self.written} duplicates={self.duplicates} "
            f"incomplete={self.incomplete} quarantined={self.quarantined} files={self.files}"
        )
        if reasons:
            line += f" [quarantine: {reasons}]"
        if self.skipped_files:
            line += f" [skipped files: {len(self.skipped_files)}]"
        if self.files_failed:
            line += f" [FAILED files: {len(self.files_failed)}]"
        if self.files_truncated:
            line += f" [TRUNCATED files: {len(self.files_truncated)}]"
        return line

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)
