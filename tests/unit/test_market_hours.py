"""The freshness check on data of either trading hours: full CME hours (OANDA) or cash
hours only (FirstRate's SPX files, any RTH-only export), as the README documents them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import exchange_calendars
import numpy as np
import pandas as pd
import pytest

from src_clean.data_pipelines.bronze.market import ingest_market
from src_clean.errors import UserError
from src_clean.lake import Lake
from src_clean.market_sessions import check_market_data, detect_hours
from src_clean.sample_data import generate_sample_data

NY = ZoneInfo("America/New_York")
UTC_DAY = (dt.datetime(2024, 3, 20, tzinfo=dt.UTC), dt.datetime(2024, 3, 21, tzinfo=dt.UTC))


def firstrate_files(folder: Path, first: str, last: str, skip: tuple[str, ...] = ()) -> Path:
    """FirstRate-format SPX files: headerless ``YYYY-MM-DD HH:MM:SS,open,high,low,close``,
    New York time, one bar a minute from 09:30 to 16:00 on NYSE days (early closes too)."""
    folder.mkdir(parents=True, exist_ok=True)
    nyse = exchange_calendars.get_calendar("XNYS")
    rng = np.random.default_rng(3)
    for label in nyse.sessions_in_range(first, last):
        if str(label.date()) in skip:
            continue
        minutes = pd.date_range(nyse.session_open(label), nyse.session_close(label), freq="min")
        close = 5200 + rng.normal(0, 0.5, len(minutes)).cumsum()
        lines = [
            f"{t.tz_convert(NY):%Y-%m-%d %H:%M:%S},{c:.2f},{c + 0.4:.2f},{c - 0.4:.2f},{c:.2f}"
            for t, c in zip(minutes, close, strict=True)
        ]
        (folder / f"SPX_1min_{label.date()}.txt").write_text("\n".join(lines) + "\n")
    return folder


def cash_lake(tmp_path: Path, skip: tuple[str, ...] = ()) -> str:
    raw = firstrate_files(tmp_path / "firstrate", "2024-03-11", "2024-03-20", skip)
    report = ingest_market(raw, Lake(tmp_path / "lake"), timezone="America/New_York")
    assert report.quarantined == 0 and report.written > 0
    return str(tmp_path / "lake")


def test_a_utc_day_of_cash_hours_data_passes_without_the_next_sessions_sliver(
    tmp_path: Path,
) -> None:
    """2024-03-20 is a Wednesday: its UTC day ends inside the CME's 2024-03-21 session,
    which cash-hours data cannot have (the issue's failing daily run)."""
    lake = cash_lake(tmp_path)
    assert detect_hours(lake, UTC_DAY[1]) == "cash"
    check = check_market_data(lake, "landing", "CMES", *UTC_DAY)
    assert check.open
    assert check.note == (
        "XNYS session(s) 2024-03-20 (cash hours, detected from bronze): candles present in bronze"
    )
    scheduled = (
        dt.datetime(2024, 3, 19, 17, 30, tzinfo=NY),
        dt.datetime(2024, 3, 20, 17, 30, tzinfo=NY),
    )
    assert check_market_data(lake, "landing", "CMES", *scheduled).open


def test_a_missing_cash_session_still_fails_naming_it(tmp_path: Path) -> None:
    lake = cash_lake(tmp_path, skip=("2024-03-20",))
    with pytest.raises(UserError) as error:
        check_market_data(lake, "/landing/market", "CMES", *UTC_DAY)
    message = str(error.value)
    assert "XNYS session(s) 2024-03-20 (2024-03-20 13:30-2024-03-20 20:00 UTC" in message
    assert "(cash hours, detected from bronze)" in message


def test_a_cash_holiday_that_the_cme_trades_is_closed_for_cash_data(tmp_path: Path) -> None:
    """Martin Luther King Day: the CME has a short session, the NYSE none. Set hours
    override the detection."""
    raw = firstrate_files(tmp_path / "firstrate", "2024-01-08", "2024-01-16")
    ingest_market(raw, Lake(tmp_path / "lake"), timezone="America/New_York")
    lake = str(tmp_path / "lake")
    day = (dt.datetime(2024, 1, 15, tzinfo=dt.UTC), dt.datetime(2024, 1, 16, tzinfo=dt.UTC))
    check = check_market_data(lake, "landing", "CMES", *day)
    assert not check.open and check.note.startswith("market closed: no XNYS session")
    assert not check_market_data(lake, "landing", "CMES", *day, hours="cash").open
    with pytest.raises(UserError, match=r"CMES session\(s\) 2024-01-15 .*\(full hours\)"):
        check_market_data(lake, "landing", "CMES", *day, hours="full")


def test_full_hours_data_ending_on_a_utc_day_never_needs_the_next_session(
    tmp_path: Path,
) -> None:
    """OANDA-shaped data through Wednesday 2024-03-20 only: the CME session that opens at
    22:00 UTC that evening (summer time in the US) is not this run's."""
    sample = generate_sample_data(tmp_path / "raw", dt.date(2024, 3, 14), 7, seed=1)
    ingest_market(sample.market_dir, Lake(tmp_path / "lake"))
    lake = str(tmp_path / "lake")
    assert detect_hours(lake, UTC_DAY[1]) == "full"
    check = check_market_data(lake, "landing", "CMES", *UTC_DAY)
    assert check.open and check.note.startswith("CMES session(s) 2024-03-20 (full hours")
