"""The dates a run processes when its trigger form leaves them empty, on a DAG without a
schedule.

A DAG with a schedule (the default, 17:30 New York on weekdays) has data intervals: a run
without form dates processes its interval, and a session without candles fails it. A DAG
without one (``SP500_SCHEDULE`` empty: ``make airflow`` on the sample data, a research
deployment fed by hand) has no intervals worth the name (Airflow gives a manual run the
instant it was triggered), so its landing data says what there is to process: a run
without ``start_date``/``end_date`` processes the **last complete trading session in the
landing data**, whatever logical date the form proposed (the UI proposes today; the sample
data is from 2024). With ``SP500_SOURCES`` fetching from ``oanda`` the fetch, not the
landing folder, brings the candles, so the run keeps its own date.

The days with data are the UTC dates in the landing market files' names
(``SPX500_USD_M1_2024-02-29.ndjson``, any name holding ``YYYY-MM-DD``) and the dates bronze
already holds. The last complete session is the latest session of the market calendar
(the NYSE's for cash-hours data, see ``market_sessions``) all of whose UTC dates have
data; the run processes its closing UTC date.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re

from src_clean import tables
from src_clean.orchestration.run_window import DateRange
from src_clean.orchestration.trigger_form import RunParams
from src_clean.settings import Settings

log = logging.getLogger(__name__)

DATE_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")


def landing_days(landing_market: str) -> set[dt.date]:
    """UTC dates named by the landing market files (none if the folder does not exist)."""
    from src_clean.data_pipelines.bronze.market_parse import INPUT_SUFFIXES
    from src_clean.data_pipelines.bronze.sources import list_input_files

    try:
        files = list_input_files(landing_market, INPUT_SUFFIXES)
    except FileNotFoundError:
        return set()
    days = set()
    for file in files:
        match = DATE_IN_NAME.search(file.name)
        if match:
            try:
                days.add(dt.date.fromisoformat(match[1]))
            except ValueError:  # 2024-13-45: not a date
                continue
    return days


def last_complete_session(days: set[dt.date], calendar: str) -> DateRange | None:
    """The closing UTC date of the latest ``calendar`` session whose dates all have data."""
    from src_clean.market_sessions import sessions_between

    if not days:
        return None
    first = dt.datetime.combine(min(days), dt.time(), dt.UTC)
    end = dt.datetime.combine(max(days) + dt.timedelta(days=1), dt.time(), dt.UTC)
    for label, opens, closes in reversed(sessions_between(calendar, first, end)):
        closing = (closes - dt.timedelta(microseconds=1)).astimezone(dt.UTC).date()
        needed = {opens.astimezone(dt.UTC).date(), closing}
        if needed <= days:
            return DateRange(closing, closing)
        log.debug("session %s incomplete: no data for %s", label, sorted(needed - days))
    return None


def with_default_dates(params: RunParams, settings: Settings) -> RunParams:
    """``params`` with the landing data's last complete session as its dates, for a run of
    an unscheduled DAG whose form left both dates empty and that fetches no candles; else
    unchanged."""
    from src_clean.lake import Lake
    from src_clean.market_sessions import calendar_for

    if params.start_date or params.end_date or settings.schedule or "oanda" in settings.sources:
        return params
    lake = Lake(settings.lake_root)
    days = landing_days(settings.landing_market) | set(lake.partitions(tables.BRONZE_CANDLES))
    if not days:
        log.info("no data in %s: the run's data interval", settings.landing_market)
        return params
    end = dt.datetime.combine(max(days) + dt.timedelta(days=1), dt.time(), dt.UTC)
    calendar, _ = calendar_for(
        settings.lake_root, settings.market_calendar, settings.market_hours, end
    )
    session = last_complete_session(days, calendar)
    if session is None:
        log.info("no complete session in %s: the run's data interval", settings.landing_market)
        return params
    log.info(
        "no dates in the trigger form: the last complete %s session in the landing data, %s",
        calendar,
        session.end,
    )
    day = session.end.isoformat()
    return dataclasses.replace(params, start_date=day, end_date=day)
