"""What one fetch run did, per day, and its one-line summary and exit status."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json


@dataclasses.dataclass
class FetchReport:
    """Days written, skipped (already final), failures (with why); requests, retries and
    named counts of what a source repaired or flagged (``counts``)."""

    what: str
    written: dict[str, int] = dataclasses.field(default_factory=dict)
    skipped: list[str] = dataclasses.field(default_factory=list)
    failed: dict[str, str] = dataclasses.field(default_factory=dict)
    requests: int = 0
    retries: int = 0
    counts: dict[str, int] = dataclasses.field(default_factory=dict)

    def wrote(self, day: dt.date, records: int) -> None:
        self.written[str(day)] = records

    def skip(self, day: dt.date) -> None:
        self.skipped.append(str(day))

    def fail(self, what: dt.date | str, reason: str) -> None:
        """``what`` failed: a day, or a feed (RSS fails per feed)."""
        self.failed[str(what)] = reason

    def count(self, what: str, n: int) -> None:
        """Add ``n`` to the count of ``what`` (e.g. "invalid JSON escapes repaired")."""
        self.counts[what] = self.counts.get(what, 0) + n

    @property
    def records(self) -> int:
        return sum(self.written.values())

    @property
    def exit_code(self) -> int:
        """0 when every day was written or skipped, 1 when some failed (a rerun resumes)."""
        return 1 if self.failed else 0

    def summary(self) -> str:
        line = (
            f"{self.what}: {len(self.written)} days written ({self.records} records), "
            f"{len(self.skipped)} skipped (already final), {len(self.failed)} failed; "
            f"{self.requests} requests, {self.retries} retries"
        )
        line += "".join(f"; {n} {what}" for what, n in sorted(self.counts.items()))
        if self.failed:
            first = next(iter(self.failed.items()))
            line += f"; first failure {first[0]}: {first[1]}"
        return line

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self) | {"records": self.records}, sort_keys=True)
