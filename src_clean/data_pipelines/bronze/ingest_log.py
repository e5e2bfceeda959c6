"""Every bronze ingest run leaves one row in ``monitoring/ingests``: its record counts.

The monitor reads them to rate duplicates and quarantined records per table and day; the
counts are the run's own ``IngestReport`` (read = written + duplicates + incomplete +
quarantined), keyed by the run's ``ingested_at`` so a rerun of the same run replaces it.
"""

from __future__ import annotations

import pandas as pd

from src_clean import tables
from src_clean.lake import Lake
from src_clean.reports import IngestReport

COUNTS = ("files", "read", "written", "duplicates", "incomplete", "quarantined")


def log_ingest(lake: Lake, report: IngestReport, ingested_at: object) -> None:
    """Record ``report``'s counts for the run at ``ingested_at`` (naive: UTC)."""
    stamp = pd.Timestamp(ingested_at)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    row = {"ingested_at": [stamp], "table": [report.table]}
    row |= {name: [int(getattr(report, name))] for name in COUNTS}
    lake.upsert(tables.MONITORING_INGESTS, pd.DataFrame(row))
