"""What a run without form dates processes on a DAG without a schedule (#21)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from src_clean.orchestration.default_dates import (
    landing_days,
    last_complete_session,
    with_default_dates,
)
from src_clean.orchestration.run_window import DateRange
from src_clean.orchestration.trigger_form import RunParams
from src_clean.settings import Settings


def landing(tmp_path: Path, *days: str) -> Path:
    folder = tmp_path / "market"
    folder.mkdir()
    for day in days:
        (folder / f"SPX500_USD_M1_{day}.ndjson").write_text("")
    (folder / "notes-2024-13-45.txt").write_text("")  # a name holding no real date
    return folder


def test_landing_days_come_from_file_names(tmp_path: Path) -> None:
    folder = landing(tmp_path, "2024-02-28", "2024-02-29")
    assert landing_days(str(folder)) == {dt.date(2024, 2, 28), dt.date(2024, 2, 29)}
    assert landing_days(str(tmp_path / "missing")) == set()


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        # Thursday's CME session opens Wednesday evening (UTC): both dates needed
        (["2024-02-28", "2024-02-29"], dt.date(2024, 2, 29)),
        # Friday's session lacks Thursday evening's opening hour: Thursday's is complete
        (["2024-02-28", "2024-02-29", "2024-03-01"], dt.date(2024, 3, 1)),
        (["2024-02-29"], None),  # Thursday's session opened on a day without data
        (["2024-03-02", "2024-03-03"], None),  # a weekend alone
    ],
)
def test_the_last_complete_session(days: list[str], expected: dt.date | None) -> None:
    session = last_complete_session({dt.date.fromisoformat(d) for d in days}, "CMES")
    assert session == (DateRange(expected, expected) if expected else None)


def test_only_an_unscheduled_dag_without_dates_takes_the_landing_session(tmp_path: Path) -> None:
    folder = landing(tmp_path, "2024-02-28", "2024-02-29")
    unscheduled = Settings.defaults(
        schedule="", landing_market=str(folder), lake_root=str(tmp_path / "lake")
    )
    taken = with_default_dates(RunParams(), unscheduled)
    assert (taken.start_date, taken.end_date) == ("2024-02-29", "2024-02-29")
    explicit = RunParams(start_date="2024-02-28", end_date="2024-02-28")
    assert with_default_dates(explicit, unscheduled) == explicit
    scheduled = Settings.defaults(landing_market=str(folder), lake_root=str(tmp_path / "lake"))
    assert with_default_dates(RunParams(), scheduled) == RunParams()  # its data interval
    fetching = Settings.defaults(
        schedule="", sources="oanda", landing_market=str(folder), lake_root=str(tmp_path)
    )
    assert with_default_dates(RunParams(), fetching) == RunParams()
