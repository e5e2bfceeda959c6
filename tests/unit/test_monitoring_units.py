"""Monitoring's pieces on data small enough to check by hand: PSI, the drift verdict and
its calibration, label noise, the CME halt, the live judge and its decay rule."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from src_clean.market_sessions import Session
from src_clean.monitoring import drift, quality
from src_clean.monitoring.champion import Expectation
from src_clean.monitoring.checks import SUSTAINED_SESSIONS, SUSTAINED_WINDOW
from src_clean.monitoring.live import judge
from src_clean.monitoring.summary import alert_message, end_of


def test_psi_matches_a_hand_computation() -> None:
    reference = np.repeat([1.0, 2.0, 3.0, 4.0], 25)  # quartile bins, 25% each
    current = np.repeat([1.0, 2.0, 3.0, 4.0], [10, 20, 30, 40])
    shares = np.array([0.10, 0.20, 0.30, 0.40])
    expected = float(np.sum((shares - 0.25) * np.log(shares / 0.25)))
    assert drift.psi(reference, current, bins=4) == pytest.approx(expected)
    assert drift.psi(reference, reference, bins=4) == pytest.approx(0.0)


def test_wasserstein_is_in_units_of_the_reference_spread() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 2, 50_000)
    assert drift.wasserstein_normed(reference, reference + 1.0) == pytest.approx(0.5, abs=0.01)


def test_the_verdict_is_the_middle_of_three_tests() -> None:
    rng = np.random.default_rng(1)
    reference = pd.Series(rng.normal(size=20_000))
    calm = drift.column_drift("x", reference, pd.Series(rng.normal(size=1_400)))
    shifted = drift.column_drift("x", reference, pd.Series(rng.normal(0.8, 1, 1_400)))
    assert [c.status for c in calm if c.check == "drift"] == ["ok"]
    assert [c.status for c in shifted if c.check == "drift"] == ["fail"]
    assert {c.check for c in shifted} == {"drift_psi", "drift_ks", "drift_wasserstein", "drift"}


def test_calibration_lifts_thresholds_to_what_a_training_day_reaches() -> None:
    """A feature constant within each day (day of week) differs from the window on every
    day; calibrated on the window's own days it is no alarm, yet a new value is."""
    times = pd.date_range("2024-06-03", periods=10 * 1440, freq="min", tz="UTC")
    reference = pd.DataFrame({"time": times, "dow": times.dayofweek.astype(float)})
    calibration = drift.calibrate(reference, ["dow"])
    assert calibration["dow"]["drift_ks"] > 0.5
    day = reference[reference["time"].dt.date == dt.date(2024, 6, 5)]
    plain = drift.feature_drift(reference, day, ["dow"])
    calibrated = drift.feature_drift(reference, day, ["dow"], calibration)
    assert [c.status for c in plain if c.check == "drift"] == ["fail"]
    assert [c.status for c in calibrated if c.check == "drift"] == ["ok"]
    unseen = day.assign(dow=40.0)  # a value no training day had
    assert [c.status for c in drift.feature_drift(reference, unseen, ["dow"], calibration)
            if c.check == "drift"] == ["warn"]  # fmt: skip


def test_label_shares_alarm_beyond_noise_only() -> None:
    usual = pd.Series(["positive"] * 35 + ["negative"] * 33 + ["neutral"] * 32)
    few = pd.Series(["negative"] * 6 + ["positive"] * 2 + ["neutral"] * 1)  # 9 articles
    many = pd.Series(["negative"] * 600 + ["positive"] * 200 + ["neutral"] * 100)
    assert {c.status for c in quality.label_shares(few, usual)} == {"ok"}
    statuses = {c.subject: c.status for c in quality.label_shares(many, usual)}
    assert statuses == {"negative": "fail", "positive": "ok", "neutral": "warn"}
    assert [c.status for c in drift.label_psi(usual, few)] == ["ok"]  # too few to judge
    assert [c.status for c in drift.label_psi(usual, many)] == ["fail"]


def test_cme_maintenance_halt_is_not_expected_to_trade() -> None:
    utc = dt.UTC
    winter = Session(dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, tzinfo=utc),
                     dt.datetime(2024, 1, 2, 23, tzinfo=utc))  # fmt: skip
    summer = Session(dt.date(2024, 6, 4), dt.datetime(2024, 6, 3, 22, tzinfo=utc),
                     dt.datetime(2024, 6, 4, 22, tzinfo=utc))  # fmt: skip
    assert quality.halted_minutes(winter) == 60  # 22:00-23:00 UTC in CST
    assert quality.halted_minutes(summer) == 60  # 21:00-22:00 UTC in CDT
    assert quality.feed_of("s3://b/landing/news/gdelt_2024-01-02.jsonl.gz") == "gdelt"
    assert quality.feed_of("/x/news/articles.json") == "file"


def _predictions(days: int, skilled_days: int, seed: int = 3) -> pd.DataFrame:
    """Half-hourly bars: forecasts correlated with the outcome for ``skilled_days``, pure
    noise afterwards (the news effect gone)."""
    rng = np.random.default_rng(seed)
    times = pd.date_range("2024-06-03 13:30", periods=14, freq="30min", tz="UTC")
    frames = []
    for day in range(days):
        realized = rng.normal(0, 10, len(times))
        skill = 0.6 if day < skilled_days else 0.0
        predicted = skill * realized + rng.normal(0, 8, len(times))
        frames.append(
            pd.DataFrame(
                {
                    "time": times + pd.Timedelta(days=day),
                    "predicted": predicted,
                    "realized": realized,
                    "cost_bps": 1.0,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


EXPECTED = Expectation(estimate=0.55, low=0.50, high=0.60, sessions=40)


def test_decay_turns_the_live_record_from_ok_to_fail_within_the_documented_sessions() -> None:
    """Skill for 30 sessions, then none: the 20-session IC leaves its band and, held
    below it for ``SUSTAINED_SESSIONS`` sessions, fails: at most 20 + 5 sessions after."""
    healthy, _ = judge(_predictions(30, 30), EXPECTED, "m v1", 30)
    assert {c.status for c in healthy} == {"ok"}
    first_fail = None
    for days in range(31, 30 + SUSTAINED_WINDOW + SUSTAINED_SESSIONS + 1):
        checks, curve = judge(_predictions(days, 30), EXPECTED, "m v1", 30)
        if next(c for c in checks if c.check == "live_decay").status == "fail":
            first_fail = days - 30
            break
    assert first_fail is not None and first_fail <= SUSTAINED_WINDOW + SUSTAINED_SESSIONS
    warned = {c.check for c in checks if c.status == "warn"}
    assert "live_ic_5s" in warned  # the short window warned first
    assert curve["rolling_ic"].iloc[-1] < curve["band_low"].iloc[-1]


def test_the_band_narrows_with_more_sessions() -> None:
    sd = (0.60 - 0.50) / (2 * 1.96) * math.sqrt(40)
    assert EXPECTED.sd == pytest.approx(sd)
    low5, high5 = EXPECTED.band(5)
    low60, high60 = EXPECTED.band(60)
    assert low5 < low60 < 0.55 < high60 < high5


def test_summary_helpers() -> None:
    argv = ["monitor", "--lake", "/l", "--start", "2024-01-01", "--end", "2024-01-02"]
    assert end_of(argv) == dt.date(2024, 1, 2) and end_of(["monitor"]) is None
    subject, body = alert_message(
        {
            "day": "2024-01-02",
            "status": "fail",
            "counts": {"ok": 3, "warn": 1, "fail": 1},
            "flagged": ["fail quality: bar_coverage 2024-01-02 (900 of 1320 minutes)"],
            "report": "/lake/reports/monitoring/2024-01-02.html",
        }
    )
    assert subject == "[sp500] monitoring 2024-01-02: fail (1 fail, 1 warn)"
    assert "bar_coverage" in body and body.endswith("/lake/reports/monitoring/2024-01-02.html")
