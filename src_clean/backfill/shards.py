"""Cut the history into shards (calendar months, or days) and keep the shard manifest.

Shards cover ``[start, end]`` exactly: consecutive, no gap, no overlap; the first and
last are clipped to the range. A shard's id is its period (``2024-01`` for a month,
``2024-01-05`` for a day), so the id alone says which articles it holds. Months without
articles stay in the manifest with ``n_articles = 0`` and status ``empty`` (the manifest
then proves the whole range was considered); the DAG maps only over the others.

Manifest lines: ``{"shard_id", "start", "end", "n_articles", "status"}``. ``status`` is
``planned`` or ``empty`` when planned; ``refresh_manifest`` replaces ``planned`` with the
status of the shard's checkpoint (``running``, ``complete`` or ``failed``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pandas as pd

from src_clean.backfill.checkpoint import load_checkpoint
from src_clean.backfill.config import ShardUnit
from src_clean.backfill.state import manifest_path, read_jsonl, write_jsonl
from src_clean.lake import Lake
from src_clean.tables import BRONZE_NEWS

SHARD_FREQUENCIES: dict[ShardUnit, str] = {"month": "M", "day": "D"}
PLANNED, EMPTY = "planned", "empty"


@dataclasses.dataclass(frozen=True)
class Shard:
    """One slice of the history, scored by one task."""

    shard_id: str
    start: dt.date
    end: dt.date
    n_articles: int
    status: str

    def to_record(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Shard:
        return cls(
            shard_id=record["shard_id"],
            start=dt.date.fromisoformat(record["start"]),
            end=dt.date.fromisoformat(record["end"]),
            n_articles=int(record["n_articles"]),
            status=record["status"],
        )


def plan_shards(lake: Lake, start: dt.date, end: dt.date, unit: ShardUnit = "month") -> list[Shard]:
    """The shards of ``[start, end]`` with their bronze article counts."""
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    freq = SHARD_FREQUENCIES[unit]
    periods = pd.period_range(start, end, freq=freq)
    published = pd.to_datetime(
        lake.read(BRONZE_NEWS, start, end, columns=["published_at"])["published_at"], utc=True
    )
    counts = published.dt.tz_localize(None).dt.to_period(freq).value_counts()
    counts = counts.reindex(periods, fill_value=0)
    return [
        Shard(
            shard_id=str(period),
            start=max(period.start_time.date(), start),
            end=min(period.end_time.date(), end),
            n_articles=int(count),
            status=PLANNED if count else EMPTY,
        )
        for period, count in counts.items()
    ]


def shard_bounds(
    shard_id: str, start: dt.date | None = None, end: dt.date | None = None
) -> tuple[dt.date, dt.date]:
    """The dates of shard ``shard_id`` (a month or day), clipped to ``start``/``end``."""
    try:
        period = pd.Period(shard_id)
    except ValueError as exc:
        raise ValueError(f"shard id {shard_id!r} is not a month or a day") from exc
    if period.freqstr not in SHARD_FREQUENCIES.values() or str(period) != shard_id:
        raise ValueError(f"shard id {shard_id!r} must be YYYY-MM or YYYY-MM-DD")
    first = max(period.start_time.date(), start or dt.date.min)
    last = min(period.end_time.date(), end or dt.date.max)
    if first > last:
        raise ValueError(f"shard {shard_id} does not overlap {start}..{end}")
    return first, last


def plan_backfill(
    lake: Lake, run_id: str, start: dt.date, end: dt.date, unit: ShardUnit = "month"
) -> list[Shard]:
    """Plan the shards of ``[start, end]`` and write them as the run's manifest."""
    shards = plan_shards(lake, start, end, unit)
    write_manifest(lake, run_id, shards)
    return shards


def write_manifest(lake: Lake, run_id: str, shards: list[Shard]) -> str:
    """Write the run's shard manifest; return its path in the lake."""
    path = manifest_path(run_id)
    write_jsonl(lake, path, (shard.to_record() for shard in shards))
    return path


def read_manifest(lake: Lake, run_id: str) -> list[Shard]:
    return [Shard.from_record(record) for record in read_jsonl(lake, manifest_path(run_id))]


def refresh_manifest(lake: Lake, run_id: str) -> list[Shard]:
    """Rewrite the manifest with each planned shard's checkpoint status; return it."""
    if not lake.files.exists(manifest_path(run_id)):
        raise FileNotFoundError(f"run {run_id} has no shard manifest: was it planned?")
    shards = [_with_checkpoint_status(lake, run_id, shard) for shard in read_manifest(lake, run_id)]
    write_manifest(lake, run_id, shards)
    return shards


def _with_checkpoint_status(lake: Lake, run_id: str, shard: Shard) -> Shard:
    checkpoint = None if shard.status == EMPTY else load_checkpoint(lake, run_id, shard.shard_id)
    return shard if checkpoint is None else dataclasses.replace(shard, status=checkpoint.status)
