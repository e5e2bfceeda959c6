"""What a run covers in time: UTC date ranges, the data interval's dates, the training
history (pure functions; dates are UTC partition dates and ranges are inclusive)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from src_clean.orchestration.trigger_form import InvalidRunParams, RunParams


@dataclasses.dataclass(frozen=True)
class DateRange:
    """Inclusive range of UTC dates."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise InvalidRunParams(f"start date {self.start} is after end date {self.end}")

    def args(self) -> list[str]:
        """``--start D --end D`` for the CLI."""
        return ["--start", self.start.isoformat(), "--end", self.end.isoformat()]

    def window(self) -> tuple[dt.datetime, dt.datetime]:
        """The half-open UTC time window ``[start 00:00, end + 1 day 00:00)``."""
        first = dt.datetime.combine(self.start, dt.time(), tzinfo=dt.UTC)
        return first, dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), dt.UTC)


def _utc(moment: dt.datetime) -> dt.datetime:
    """A plain ``datetime`` in UTC (Airflow passes pendulum instances)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment}: the data interval must be timezone-aware")
    return dt.datetime.fromtimestamp(moment.timestamp(), tz=dt.UTC)


def interval_days(start: dt.datetime, end: dt.datetime) -> DateRange:
    """UTC dates touched by the half-open data interval ``[start, end)``."""
    first, stop = _utc(start), _utc(end)
    last = max(first, stop - dt.timedelta(microseconds=1))
    return DateRange(first.date(), last.date())


@dataclasses.dataclass(frozen=True)
class RunWindow:
    """What one DAG run processes: its UTC dates and the time window market data must fill."""

    days: DateRange
    start: dt.datetime
    end: dt.datetime
    run_ts: str


def run_window(
    params: RunParams,
    data_interval_start: dt.datetime | None,
    data_interval_end: dt.datetime | None,
    run_after: dt.datetime | None,
) -> RunWindow:
    """The trigger form's dates, else the data interval, else the UTC date of ``run_after``.

    A run triggered without a logical date (REST ``"logical_date": null``, ``airflow dags
    trigger``) has no data interval in Airflow 3: it processes the form's dates, else the
    day it was triggered for.
    """
    has_interval = data_interval_start is not None and data_interval_end is not None
    if has_interval:
        interval = interval_days(data_interval_start, data_interval_end)
        start, end = _utc(data_interval_start), _utc(data_interval_end)
    elif run_after is not None:
        day = _utc(run_after).date()
        interval = DateRange(day, day)
        start, end = interval.window()
    elif params.start_date and params.end_date:
        interval = None
    else:
        raise InvalidRunParams("a run without a data interval needs start_date and end_date")
    first = dt.date.fromisoformat(params.start_date) if params.start_date else interval.start
    last = dt.date.fromisoformat(params.end_date) if params.end_date else interval.end
    days = DateRange(first, last)
    if params.start_date or params.end_date or not has_interval:
        start, end = days.window()
    # ingested_at of new bronze rows: the interval's end, else when the run was triggered.
    stamp = data_interval_end if has_interval else run_after or end
    run_ts = _utc(stamp).isoformat()
    return RunWindow(days, start, end, run_ts)


def training_range(processing: DateRange, history_days: int) -> DateRange:
    """The last ``history_days`` dates ending at the end of ``processing``."""
    return DateRange(processing.end - dt.timedelta(days=history_days - 1), processing.end)
