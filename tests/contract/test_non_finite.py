"""No table stores ±inf (issue 35.5): every lake write nulls it and says how many, per
column; NaN stays a null. The monitor and the service still cope with ±inf written by an
older version (``tests/integration/test_monitor.py``, ``test_serving_champion.py``)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from src_clean import tables
from src_clean.lake import Lake

pytestmark = pytest.mark.contract


def gold(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time": pd.date_range("2024-01-02 15:00", periods=n, freq="min", tz="UTC"),
            "instrument": "SPX500_USD",
            "ret_1m": [0.1, np.inf, np.nan, 0.2][:n],
            "news_count": [1.0, 2.0, -np.inf, np.inf][:n],
            "close": [1.0, 2.0, 3.0, 4.0][:n],
        }
    )


def test_a_gold_write_nulls_infinities_and_counts_them_per_column(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    lake = Lake(tmp_path)
    with caplog.at_level(logging.WARNING, logger="src_clean.lake"):
        lake.replace_range(tables.GOLD_TRAINING, gold(), "2024-01-02", "2024-01-02")
    stored = lake.read(tables.GOLD_TRAINING)
    numeric = stored[["ret_1m", "news_count", "close"]].to_numpy(np.float64)
    assert not np.isinf(numeric).any()
    assert stored["ret_1m"].isna().tolist() == [False, True, True, False]
    assert stored["news_count"].isna().tolist() == [False, False, True, True]
    assert stored["close"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert [r.getMessage() for r in caplog.records] == [
        "gold/training: 3 ±inf values written as null (ret_1m: 1, news_count: 2)"
    ]


def test_a_declared_table_nulls_infinities_too(tmp_path) -> None:
    lake = Lake(tmp_path)
    spec = tables.spec(tables.MONITORING_CHECKS)
    row = {
        "day": pd.Timestamp("2024-01-02", tz="UTC"),
        "run_id": "r",
        "kind": "drift",
        "check": "psi",
        "subject": "ret_1m",
        "value": np.inf,
        "threshold": 0.2,
        "status": "fail",
        "detail": "",
        "checked_at": pd.Timestamp("2024-01-03", tz="UTC"),
    }
    lake.replace_range(spec, pd.DataFrame([row]), "2024-01-02", "2024-01-02")
    stored = lake.read(spec)
    assert stored["value"].isna().all() and stored["threshold"].tolist() == [0.2]


def test_finite_frames_are_written_untouched(tmp_path, caplog) -> None:
    lake = Lake(tmp_path)
    frame = gold().assign(ret_1m=[0.1, 0.2, np.nan, 0.3], news_count=1.0)
    with caplog.at_level(logging.WARNING, logger="src_clean.lake"):
        lake.replace_range(tables.GOLD_TRAINING, frame, "2024-01-02", "2024-01-02")
    pd.testing.assert_frame_equal(
        lake.read(tables.GOLD_TRAINING), frame, check_dtype=False, check_index_type=False
    )
    assert caplog.records == []
