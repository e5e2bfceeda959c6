"""Lake I/O: atomic partition writes, upsert semantics, reads by date range."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from src_clean.lake import PARTITION_FILE, Lake
from src_clean.time_convention import segment_ids, segment_starts


def _frame(ids: list[int], times: list[str], values: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"id": ids, "t": pd.to_datetime(times, utc=True), "v": values})


def test_write_partitioned_splits_by_utc_date_and_reads_back(tmp_path) -> None:
    lake = Lake(tmp_path)
    df = _frame(
        [1, 2, 3], ["2024-01-01T23:59Z", "2024-01-02T00:00Z", "2024-01-03T12:00Z"], [1, 2, 3]
    )
    assert lake.write_partitioned("t/x", df, "t") == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert lake.partitions("t/x") == [dt.date(2024, 1, d) for d in (1, 2, 3)]
    assert (tmp_path / "t/x/date=2024-01-02" / PARTITION_FILE).is_file()
    assert lake.read("t/x", start="2024-01-02", end="2024-01-02")["id"].tolist() == [2]
    assert lake.read("t/x")["t"].dtype == "datetime64[ns, UTC]"


def test_write_leaves_no_temp_files(tmp_path) -> None:
    lake = Lake(tmp_path)
    lake.write_partition("t/x", "2024-01-01", _frame([1], ["2024-01-01T00:00Z"], [1.0]))
    lake.write_partition("t/x", "2024-01-01", _frame([2], ["2024-01-01T00:00Z"], [2.0]))
    files = [p.name for p in (tmp_path / "t/x/date=2024-01-01").iterdir()]
    assert files == [PARTITION_FILE]
    assert lake.read("t/x")["id"].tolist() == [2]


def test_upsert_new_rows_win_and_kept_columns_survive(tmp_path) -> None:
    lake = Lake(tmp_path)
    first = _frame([1, 2], ["2024-01-01T01:00Z", "2024-01-01T02:00Z"], [1.0, 2.0])
    first["seen"] = pd.Timestamp("2024-02-01", tz="UTC")
    lake.upsert_partitioned(
        "t/x", first, date_column="t", key_columns=["id"], keep_existing=["seen"]
    )
    second = _frame([2, 3], ["2024-01-01T02:00Z", "2024-01-01T03:00Z"], [20.0, 30.0])
    second["seen"] = pd.Timestamp("2024-03-01", tz="UTC")
    result = lake.upsert_partitioned(
        "t/x", second, date_column="t", key_columns=["id"], keep_existing=["seen"]
    )
    assert result.rows_replaced == 1
    out = lake.read("t/x").set_index("id")
    assert out["v"].to_dict() == {1: 1.0, 2: 20.0, 3: 30.0}
    assert out.loc[2, "seen"] == pd.Timestamp("2024-02-01", tz="UTC")
    assert out.loc[3, "seen"] == pd.Timestamp("2024-03-01", tz="UTC")


def test_upsert_twice_is_identical(tmp_path) -> None:
    lake = Lake(tmp_path)
    df = _frame(
        [3, 1, 2], ["2024-01-01T03:00Z", "2024-01-01T01:00Z", "2024-01-02T02:00Z"], [3, 1, 2]
    )
    lake.upsert_partitioned("t/x", df, date_column="t", key_columns=["id"])
    before = lake.read("t/x")
    lake.upsert_partitioned("t/x", df, date_column="t", key_columns=["id"])
    pd.testing.assert_frame_equal(before, lake.read("t/x"))
    assert before["id"].tolist() == [1, 3, 2]


def test_json_roundtrip_and_missing_table(tmp_path) -> None:
    lake = Lake(tmp_path)
    lake.write_json("reports/x.json", {"a": 1})
    assert lake.read_json("reports/x.json") == {"a": 1}
    assert lake.read("nothing/here").empty
    assert not lake.exists("nothing/here")


@pytest.mark.parametrize("unit", ["ns", "us"])
def test_segments_split_on_gaps_longer_than_max_gap(unit: str) -> None:
    times = pd.DatetimeIndex(
        pd.to_datetime(
            ["2024-01-02T20:58Z", "2024-01-02T20:59Z", "2024-01-02T22:00Z", "2024-01-02T22:10Z"]
        )
    ).as_unit(unit)
    assert segment_starts(times).tolist() == [True, False, True, False]
    assert segment_ids(times).tolist() == [0, 0, 1, 1]
