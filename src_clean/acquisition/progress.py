"""Progress of a fetch: a tqdm bar (requests done, records, retries) and one line per day.

The bar goes to stderr and is off with ``--no-progress`` (or when stderr is not a
terminal); the per-day lines always go to stdout, so task logs keep them.
"""

from __future__ import annotations

import sys

from tqdm import tqdm


class Progress:
    """A bar whose total grows as work is planned (GDELT slices split while fetching)."""

    def __init__(self, unit: str, *, enabled: bool = True) -> None:
        self.bar = tqdm(
            total=0, unit=unit, disable=None if enabled else True, dynamic_ncols=True, leave=False
        )
        self.records = 0
        self.retries = 0
        self.megabytes = 0.0

    def plan(self, n: int) -> None:
        """``n`` more requests (windows, slices) to do."""
        self.bar.total += n
        self.bar.refresh()

    def done(self, records: int = 0, megabytes: float = 0.0) -> None:
        """One planned request finished with ``records`` records (``megabytes`` downloaded)."""
        self.records += records
        self.megabytes += megabytes
        self.bar.set_postfix(self._postfix(), refresh=False)
        self.bar.update(1)

    def retried(self) -> None:
        self.retries += 1
        self.bar.set_postfix(self._postfix())

    def _postfix(self) -> dict[str, object]:
        shown: dict[str, object] = {"records": self.records, "retries": self.retries}
        if self.megabytes:
            shown["MB"] = f"{self.megabytes:.1f}"
        return shown

    def line(self, text: str) -> None:
        """A summary line on stdout, above the bar."""
        if self.bar.disable:
            print(text, flush=True)
        else:
            self.bar.write(text, file=sys.stdout)

    def close(self) -> None:
        self.bar.close()
