"""The verdict tear sheet and its charts: the answer first, every section drawn from the
summary, nothing that runs or fetches, and hostile values (NaN, inf, empty) drawn as
gaps or words, never as a broken page."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from test_training_units import experiment

from src_clean import charts
from src_clean.training import tear_sheet, walk_forward

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def planted():
    outcome = experiment(effect=3.0)
    summary = {
        "walk_forward": outcome.verdict.summary,
        "holdout": outcome.holdout,
        "mlflow_run_id": "run123",
        "gold_table": "gold/training",
        "gold_version": 4,
    }
    return summary, outcome.verdict


def test_the_answer_comes_first_then_the_evidence(planted) -> None:
    summary, verdict = planted
    page = tear_sheet.render(summary, verdict.curves, verdict.curve_times)
    walk = summary["walk_forward"]
    assert walk["significant"] is True
    assert "<title>Verdict: significant at 5%</title>" in page
    assert page.index("significant at 5%", page.index('id="verdict"')) < page.index('id="meaning"')
    assert "News moves the index over the next half hour" in page
    order = ["verdict", "primary", "secondary", "null-primary", "equity", "lag-curve"]
    positions = [page.index(f'id="{name}"') for name in order]
    assert positions == sorted(positions)
    # the numbers are the summary's, at the resolution the reader is told
    assert f"{walk['primary']['ic']:+.4f}" in page
    assert f"{walk['secondary']['low']:+.4f} to {walk['secondary']['high']:+.4f}" in page
    assert f"{walk['primary']['p_value']:.3f} (the floor)" in page
    # one polyline per equity curve, costs in the title; the observed value marked
    equity = re.search(r'<svg id="equity".*?</svg>', page, re.S).group(0)
    assert equity.count('class="series"') == len(verdict.curves)
    assert f"{walk['pnl']['spread_points']:g}-point round-trip spread" in equity
    assert page.count('class="observed"') == 2
    assert "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    assert "run123" in page and "gold/training@v4" in page


def test_a_null_with_fewer_refits_says_each_tests_resolution(planted) -> None:
    """999 permutations, 19 refitted (years of data): the primary's p is out of 999, the
    secondary's out of 19, and the verdict line and page say so."""
    from src_clean.training.verdict import verdict_line

    summary, verdict = planted
    walk = summary["walk_forward"]
    null = walk["null"] | {"permutations": 999, "refits": 19}
    primary = walk["primary"] | {"permutations": 999, "p_value": 0.001}
    secondary = walk["secondary"] | {"permutations": 19, "p_value": 0.05}
    fewer = walk | {"null": null, "primary": primary, "secondary": secondary}
    page = tear_sheet.render(summary | {"walk_forward": fewer}, verdict.curves, verdict.curve_times)
    assert "primary 0.001 (the floor) of 999, secondary 0.050 (the floor) of 19 refits" in page
    assert "999 permutations (19 refitted)." in page
    line = verdict_line(fewer, summary["holdout"])
    assert "p = 0.001 (the floor)" in line and "999 permutations (19 refitted)" in line


def test_no_claim_says_so_in_plain_words() -> None:
    walk = experiment(effect=0.0, seed=3).verdict.summary
    page = tear_sheet.render({"walk_forward": walk})
    assert "not significant at 5%" in page
    assert "No evidence that news moves the index" in page
    assert "an interval that includes 0 means" in page and "within noise" in page


def test_a_market_only_run_renders_without_news_sections() -> None:
    walk = experiment(effect=3.0, skip_news=True).verdict.summary
    page = tear_sheet.render({"walk_forward": walk})
    assert "market features only" in page and "Not tested" in page


def test_non_finite_values_are_gaps_not_broken_charts() -> None:
    svg = charts.lines("c", "t", {"a": [1.0, math.nan, math.inf, 2.0, -math.inf]}, y_label="y")
    assert "nan" not in svg.lower() and "inf" not in svg.lower()
    assert svg.count(",") == 2  # the two finite points only
    assert charts.lines("c", "t", {"a": [math.nan, math.nan]}, y_label="y").startswith("<p")
    hist = charts.histogram("h", "t", [math.inf, 1.0, 2.0, math.nan], math.nan, x_label="x")
    assert "observed" not in hist and "inf" not in hist.lower()
    assert charts.histogram("h", "t", [], 0.1, x_label="x").startswith("<p")
    bars = charts.bars("b", "t", ["a", "b"], [math.nan, 1.0], y_label="y")
    assert bars.count("<rect") == 1 and ">a<" in bars
    assert charts.intervals("i", "t", ["f"], [(math.nan, None, None)], y_label="y").startswith("<p")


def test_labels_are_escaped() -> None:
    svg = charts.bars("b", "<script>", ["<b>"], [1.0], y_label="&")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&lt;b&gt;" in svg


def test_forward_returns_read_only_rows_that_exist() -> None:
    times = pd.Series(pd.to_datetime(["2024-03-04 14:30", "2024-03-04 14:31", "2024-03-04 14:33"]))
    times = times.dt.tz_localize("UTC")
    prices = np.array([100.0, 101.0, 102.0])
    out = walk_forward.forward_returns(times, prices, 2)
    assert np.isnan(out[0])  # 14:32 is a gap
    assert out[1] == pytest.approx((102.0 / 101.0 - 1) * 1e4)
    assert np.isnan(out[2])  # beyond the last row: nothing past the rows is read


def test_ic_by_horizon_finds_the_horizon_the_factor_predicts() -> None:
    rng = np.random.default_rng(0)
    days, bars = 10, 390
    opens = pd.date_range("2024-03-04 14:30", periods=days, freq="B", tz="UTC")
    times = pd.Series(opens.repeat(bars) + pd.to_timedelta(np.tile(np.arange(bars), days), "min"))
    steps = rng.normal(0, 1e-4, len(times))
    prices = 5000 * np.exp(np.cumsum(steps))
    # the factor knows the next 5 minutes' return, nothing after
    ahead = walk_forward.forward_returns(times, prices, 5)
    factor = np.nan_to_num(ahead)
    sessions = times.dt.date.to_numpy()
    rows = np.arange(len(times))
    curve = walk_forward.ic_by_horizon(times, prices, sessions, factor, rows)
    assert [c["minutes"] for c in curve] == list(walk_forward.IC_HORIZONS)
    assert curve[0]["ic"] > 0.9 and curve[0]["ic"] > curve[1]["ic"] > curve[3]["ic"]
