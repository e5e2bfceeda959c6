"""One monitoring check's outcome, and the thresholds every check is judged by.

Status: ``ok``, ``warn`` or ``fail``; ``value`` and ``threshold`` are the figures behind
it (the threshold of the status reached, else the warning one). Thresholds live here,
once, and the monitoring table of docs/monitoring.md is written from them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

STATUSES = ("ok", "warn", "fail")
# the three drift tests' rows (each feature's verdict is the ``drift`` row beside them)
DRIFT_TESTS = ("drift_psi", "drift_ks", "drift_wasserstein")

# data quality
BAR_COVERAGE = (0.98, 0.90)  # share of a session's minutes with a bar: warn, fail below
DUPLICATE_RATE = (0.05, 0.20)  # duplicates / records read per table: warn, fail above
QUARANTINE_RATE = (0.01, 0.05)  # quarantined / records read per table: warn, fail above
NULL_SHARE_EXCESS = (0.05, 0.50)  # a feature's null share above its training share by
NEWS_VOLUME_LOW = (0.5, 0.2)  # a session's articles / trailing median: warn, fail below
NEWS_VOLUME_HIGH = 4.0  # ... warn above (a burst, often duplicates from one feed)
NEWS_TRAILING_SESSIONS = 20
LABEL_SHARE_SHIFT = (0.15, 0.30)  # |share - training share| of a sentiment label
LATE_SHARE = (0.20, 0.50)  # share of articles later than the feed's usual (p95) latency
LATE_MIN_ARTICLES = 20  # fewer in a day: the share is noise (2 of 6 is 33%), never an alarm
ROW_PARITY = (0.999, 0.99)  # rows in the next layer / rows in the one before: warn, fail
# drift (Evidently's documented defaults and the usual PSI bands)
PSI = (0.10, 0.25)
KS_STATISTIC = (0.10, 0.20)
WASSERSTEIN_NORMED = (0.10, 0.20)  # Wasserstein distance / the reference's std
# live performance
LIVE_WINDOWS = (5, 20, 60)  # sessions
BAND_Z = 3.0  # the expected band: walk-forward estimate -+ z sd / sqrt(sessions): a
# false warn about once a year per window on a daily run (one-sided 0.13%)
SUSTAINED_WINDOW = 20
SUSTAINED_SESSIONS = 5  # the 20-session IC below its band this many sessions running: fail


@dataclass(frozen=True)
class Check:
    """One row of ``monitoring/checks`` (without the run's day, id and time)."""

    kind: str  # quality | drift | live
    check: str
    subject: str
    value: float
    threshold: float
    status: str
    detail: str = ""

    def row(self) -> dict[str, object]:
        return asdict(self)


def above(value: float, limits: tuple[float, float]) -> tuple[str, float]:
    """Status and threshold of ``value`` where higher is worse (``limits``: warn, fail)."""
    warn, fail = limits
    if value > fail:
        return "fail", fail
    return ("warn", warn) if value > warn else ("ok", warn)


def below(value: float, limits: tuple[float, float]) -> tuple[str, float]:
    """Status and threshold of ``value`` where lower is worse (``limits``: warn, fail)."""
    warn, fail = limits
    if value < fail:
        return "fail", fail
    return ("warn", warn) if value < warn else ("ok", warn)


def status_counts(statuses: Iterable[str]) -> dict[str, int]:
    """How many of ``statuses`` are ok, warn and fail."""
    found = list(statuses)
    return {status: found.count(status) for status in STATUSES}


def worst(statuses: Iterable[str]) -> str:
    """The worst of ``statuses`` (``ok`` for none)."""
    return max(statuses, key=STATUSES.index, default="ok")


def headline_rows(checks: pd.DataFrame) -> pd.DataFrame:
    """The rows a day's status is judged on: every check but the three drift tests, which
    speak through each feature's ``drift`` verdict beside them. The CLI, the DAG summary,
    the alert and the page all count these rows, so they agree."""
    return checks[~checks["check"].isin(DRIFT_TESTS)]


def day_status(checks: pd.DataFrame) -> tuple[str, dict[str, int]]:
    """(status, counts) of one day's checks, computed once from ``headline_rows``."""
    rows = headline_rows(checks)
    return worst(rows["status"]), status_counts(rows["status"])
