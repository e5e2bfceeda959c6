"""Silver market features: time-exact returns, indicator values, causality, incremental runs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from src_clean import cli
from src_clean.data_pipelines.silver import market as market_features
from src_clean.data_pipelines.silver import volatility
from src_clean.data_pipelines.silver.market import (
    FEATURE_COLUMNS,
    OUTPUT_COLUMNS,
    build_market_features,
    compute_features,
)
from src_clean.lake import Lake
from src_clean.tables import BRONZE_CANDLES, SILVER_FEATURES

INSTRUMENT = "SPX500_USD"
MISSING_BAR = pd.Timestamp("2024-01-08 14:00", tz="UTC")  # ret_30m at 14:30 has no base bar
INTRADAY_GAP = (
    pd.Timestamp("2024-01-09 10:01", tz="UTC"),
    pd.Timestamp("2024-01-09 10:20", tz="UTC"),
)
FEATURES = [c for c in FEATURE_COLUMNS if c != "is_first_bar_after_break"]


def _session_times() -> pd.DatetimeIndex:
    """Thu 2024-01-04 .. Tue 2024-01-09 12:00: daily break 21:00-22:00, weekend, holes."""
    times = pd.date_range("2024-01-04", "2024-01-09 12:00", freq="min", tz="UTC")
    weekend = (times >= "2024-01-05 21:00") & (times < "2024-01-07 22:00")
    holes = np.random.default_rng(7).random(len(times)) < 0.03
    drop = (times.hour == 21) | weekend | holes | (times == MISSING_BAR)
    drop |= (times >= INTRADAY_GAP[0]) & (times <= INTRADAY_GAP[1])
    return times[~drop]


def _candles(instrument: str = INSTRUMENT, seed: int = 0, level: float = 4700.0) -> pd.DataFrame:
    times = _session_times()
    rng = np.random.default_rng(seed)
    n = len(times)
    close = level * np.exp(np.cumsum(rng.normal(0.0, 3e-4, n)))
    open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0.0, 5e-5, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 2e-4, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 2e-4, n)))
    return pd.DataFrame(
        {
            "time": times,
            "instrument": instrument,
            "granularity": "M1",
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.integers(1, 300, n),
            "source_file": "synthetic.jsonl",
        }
    )


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    return _candles()


@pytest.fixture(scope="module")
def features(candles: pd.DataFrame) -> pd.DataFrame:
    return compute_features(candles)


@pytest.fixture
def lake(tmp_path) -> Lake:
    lake = Lake(tmp_path / "lake")
    bronze = pd.concat([_candles(), _candles("NAS100_USD", seed=1, level=16000.0)])
    lake.upsert(BRONZE_CANDLES, bronze.sort_values(["time", "instrument"]))
    return lake


def _row(frame: pd.DataFrame, when: str | pd.Timestamp) -> pd.Series:
    return frame.set_index("time").loc[pd.to_datetime(when, utc=True)]


def test_output_columns_and_dtypes(features: pd.DataFrame, candles: pd.DataFrame) -> None:
    assert list(features.columns) == OUTPUT_COLUMNS
    assert len(features) == len(candles)
    assert (features[FEATURES].dtypes == "float64").all()
    assert features["is_first_bar_after_break"].dtype == "int8"
    assert features[FEATURES].notna().mean().min() > 0.5


def test_returns_are_by_time_not_by_row(features: pd.DataFrame, candles: pd.DataFrame) -> None:
    close = candles.set_index("time")["close"]
    at = pd.Timestamp("2024-01-08 15:45", tz="UTC")
    assert _row(features, at)["ret_30m"] == pytest.approx(
        np.log(close[at] / close[at - pd.Timedelta(minutes=30)]), rel=1e-12
    )
    assert np.isnan(_row(features, MISSING_BAR + pd.Timedelta(minutes=30))["ret_30m"])
    # 10:00 exists but a 20-minute hole starts a new segment at 10:21: no cross-segment return.
    assert np.isnan(_row(features, "2024-01-09 10:30")["ret_30m"])
    # Where minutes are missing, the 30th row back is not the bar of t - 30 min.
    missing_before = features["time"].diff(30) != pd.Timedelta(minutes=30)
    row_based = np.log(features["close"] / features["close"].shift(30))
    both = missing_before & features["ret_30m"].notna()
    assert both.any()
    assert not np.allclose(features.loc[both, "ret_30m"], row_based[both])


# StockCharts' Wilder RSI(14) worked example: closes and the published RSI values.
RSI_CLOSES = [44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89,
              46.03, 45.61, 46.28, 46.28, 46.00, 46.03, 46.41, 46.22, 45.64]  # fmt: skip
RSI_PUBLISHED = [70.53, 66.32, 66.55, 69.41, 66.36, 57.97]


def _wilder_rsi_by_hand(closes: list[float], n: int = 14) -> list[float]:
    changes = np.diff(closes)
    gain, loss = np.maximum(changes, 0.0), np.maximum(-changes, 0.0)
    avg_gain, avg_loss = gain[:n].mean(), loss[:n].mean()
    out = [100.0 - 100.0 / (1.0 + avg_gain / avg_loss)]
    for g, lo in zip(gain[n:], loss[n:], strict=True):
        avg_gain = (avg_gain * (n - 1) + g) / n
        avg_loss = (avg_loss * (n - 1) + lo) / n
        out.append(100.0 - 100.0 / (1.0 + avg_gain / avg_loss))
    return out


def test_rsi_is_wilder(candles: pd.DataFrame) -> None:
    flat = candles.iloc[: len(RSI_CLOSES)].copy()
    flat[["open", "high", "low", "close"]] = np.column_stack([RSI_CLOSES] * 4)
    rsi = compute_features(flat)["rsi_14"].to_numpy()
    assert np.isnan(rsi[:14]).all()
    np.testing.assert_allclose(rsi[14:], _wilder_rsi_by_hand(RSI_CLOSES), rtol=1e-12)
    # The published table rounds its average gain/loss to cents, hence the 0.1 tolerance.
    np.testing.assert_allclose(rsi[14:], RSI_PUBLISHED, atol=0.1)


@pytest.mark.parametrize(
    "cutoff", ["2024-01-04 10:17", "2024-01-04 22:00", "2024-01-08 00:00", "2024-01-09 10:25"]
)
def test_features_are_causal(candles: pd.DataFrame, features: pd.DataFrame, cutoff: str) -> None:
    """Features up to a cutoff do not change when later candles are removed."""
    truncated = compute_features(candles[candles["time"] <= pd.Timestamp(cutoff, tz="UTC")])
    pd.testing.assert_frame_equal(truncated, features.iloc[: len(truncated)], check_exact=True)


def test_rolling_features_restart_after_break(features: pd.DataFrame) -> None:
    idx = features.index[features["time"] == pd.Timestamp("2024-01-04 22:00", tz="UTC")][0]
    before, first = features.loc[idx - 1], features.loc[idx]
    assert before["is_first_bar_after_break"] == 0 and first["is_first_bar_after_break"] == 1
    assert first["bars_in_segment"] == 1 and first["minutes_since_segment_open"] == 0
    assert before[["ret_1m", "rv_60_pm", "dist_sma_60", "rsi_14", "adx_14"]].notna().all()
    assert first[["ret_1m", "rsi_14", "rv_30_pm", "dist_sma_20", "volume_z_60"]].isna().all()
    segment = features.loc[idx : idx + 70]
    # A 20-bar SMA needs 20 bars of the new segment, a 30-bar return vol 30 returns.
    assert segment["dist_sma_20"].isna().to_numpy().nonzero()[0].max() == 18
    assert segment["rv_30_pm"].isna().to_numpy().nonzero()[0].max() == 29
    assert segment["is_first_bar_after_break"].sum() == 1


def test_segment_starts_flagged(features: pd.DataFrame) -> None:
    starts = features.loc[features["is_first_bar_after_break"] == 1, "time"]
    expected = ["2024-01-04 00:00", "2024-01-04 22:00", "2024-01-07 22:00", "2024-01-08 22:00"]
    assert list(starts.dt.strftime("%Y-%m-%d %H:%M")[:4]) == expected
    assert (starts.dt.strftime("%H:%M") == "10:21").sum() == 1  # the 20-minute intraday hole


def test_features_carry_no_price_level(candles: pd.DataFrame, features: pd.DataFrame) -> None:
    assert not {"open", "high", "low", "close", "volume"} & set(FEATURE_COLUMNS)
    rescaled = candles.copy()
    rescaled[["open", "high", "low", "close"]] *= 7.3
    scaled = compute_features(rescaled)
    # Rolling variances of price levels lose ~1e-7 relative precision; a level would differ 7x.
    np.testing.assert_allclose(scaled[FEATURES], features[FEATURES], rtol=1e-6, atol=1e-12)


def test_volatility_estimators_non_negative(features: pd.DataFrame) -> None:
    vols = features[volatility.COLUMNS]
    assert vols.notna().mean().min() > 0.9
    assert (vols.fillna(0.0) >= 0.0).all().all()
    # Per-minute scale: the synthetic close-to-close sigma is 3e-4.
    assert features["rv_60_pm"].median() == pytest.approx(3e-4, rel=0.1)


def test_unsorted_or_mixed_input_rejected(candles: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="increasing"):
        compute_features(candles.iloc[::-1])
    with pytest.raises(ValueError, match="one instrument"):
        compute_features(pd.concat([candles, _candles("NAS100_USD")]))


def test_stage_writes_every_bronze_day(lake: Lake) -> None:
    report = build_market_features(lake)
    assert lake.partitions(SILVER_FEATURES) == lake.partitions(BRONZE_CANDLES)
    assert report.days == len(lake.partitions(BRONZE_CANDLES))
    silver = lake.read(SILVER_FEATURES)
    assert report.rows == len(silver) == len(lake.read(BRONZE_CANDLES))
    nas = lake.read(BRONZE_CANDLES).query("instrument == 'NAS100_USD'").reset_index(drop=True)
    expected = compute_features(nas.sort_values("time", ignore_index=True))
    got = silver[silver["instrument"] == "NAS100_USD"].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_chunked_run_equals_single_pass(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    """Multi-year runs go in chunks of days; chunk borders must not change any value."""
    build_market_features(lake)
    single_pass = lake.read(SILVER_FEATURES)
    monkeypatch.setattr(market_features, "CHUNK_DAYS", 2)
    report = build_market_features(lake)
    assert report.rows == len(single_pass)
    pd.testing.assert_frame_equal(lake.read(SILVER_FEATURES), single_pass, check_exact=True)


@pytest.mark.parametrize("day", ["2024-01-08", "2024-01-09", "2024-01-05"])
def test_incremental_day_equals_full_recompute(lake: Lake, day: str) -> None:
    """A day computed alone (reading back to its segment start) matches the full run."""
    build_market_features(lake)
    full = lake.read(SILVER_FEATURES, day, day)
    for stored in lake.partitions(SILVER_FEATURES):
        lake.replace_range(SILVER_FEATURES, lambda: [], stored, stored)
    report = build_market_features(lake, dt.date.fromisoformat(day), dt.date.fromisoformat(day))
    assert report.days == 1 and report.rows == len(full)
    assert [str(d) for d in lake.partitions(SILVER_FEATURES)] == [day]
    pd.testing.assert_frame_equal(lake.read(SILVER_FEATURES, day, day), full, check_exact=True)


def test_warmup_is_needed_for_a_day_that_continues_a_segment(lake: Lake) -> None:
    """Without the previous day, Monday's early bars would differ (guards the warm-up test)."""
    build_market_features(lake)
    full = lake.read(SILVER_FEATURES, "2024-01-08", "2024-01-08")
    monday = lake.read(BRONZE_CANDLES, "2024-01-08", "2024-01-08")
    alone = compute_features(monday[monday["instrument"] == INSTRUMENT])
    ours = full[full["instrument"] == INSTRUMENT].reset_index(drop=True)
    assert not ours["rv_60_pm"].iloc[:60].equals(alone["rv_60_pm"].iloc[:60])


def test_rerun_is_idempotent_and_drops_orphans(lake: Lake) -> None:
    build_market_features(lake)
    first = lake.read(SILVER_FEATURES)
    build_market_features(lake)
    pd.testing.assert_frame_equal(lake.read(SILVER_FEATURES), first, check_exact=True)
    lake.replace_range(BRONZE_CANDLES, lambda: [], "2024-01-09", "2024-01-09")
    report = build_market_features(lake, start=dt.date(2024, 1, 8))
    assert report.days == 1
    assert dt.date(2024, 1, 9) not in lake.partitions(SILVER_FEATURES)
    kept = lake.read(SILVER_FEATURES, end="2024-01-08")
    pd.testing.assert_frame_equal(kept, first[first["time"] < "2024-01-09"].reset_index(drop=True))


def test_cli(lake: Lake, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["silver-market", "--lake", lake.root, "--start", "2024-01-08", "--end", "2024-01-08"]
    assert cli.main(argv) == 0
    assert "days=1" in capsys.readouterr().out
    assert [str(d) for d in lake.partitions(SILVER_FEATURES)] == ["2024-01-08"]
