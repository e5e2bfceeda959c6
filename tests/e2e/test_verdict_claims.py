"""The claim rule on sample data, through the calibration benchmark's own runner: the
default planted effect (not a doubled one) is claimed on several seeds, and effect-free
data (no effect, an effect only before availability, pure-noise news) is not.

Each dataset is the real CLI path: ``run_full_pipeline.py --demo --until gold`` and then
``python -m src_clean train`` with 39 permutations (p resolution 0.025, the smallest that
can pass Holm's first step at 5%). The rates themselves are the benchmark's job
(``benchmarks/verdict_calibration.py``, figures in docs/evaluation.md); a test holds the
rule on seeds where the benchmark showed what a correct rule does."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PERMUTATIONS = 39


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "verdict_calibration", REPO / "benchmarks" / "verdict_calibration.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["verdict_calibration"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("verdict_calibration", None)


def _dataset(bench, scenario: str, seed: int, days: int = 30):
    spec = bench.SCENARIOS[scenario]
    return bench.Dataset(
        scenario,
        seed,
        days,
        bench.ARTICLES_PER_DAY * spec["rate"],
        spec["news_effect_bps"],
        spec["pre_availability_bps"],
    )


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_the_default_effect_is_claimed_by_the_primary_test(bench, tmp_path, seed) -> None:
    row = bench.run_one(_dataset(bench, "default", seed), PERMUTATIONS, str(tmp_path))
    assert "error" not in row, row
    assert row["news_effect_bps"] == bench.NEWS_EFFECT_BPS  # the default, not doubled
    # the factor beats every permutation: p at its floor, which passes Holm's first step
    assert row["primary_p"] == pytest.approx(1 / (PERMUTATIONS + 1))
    assert row["primary_ic"] > 0.1
    assert row["claim"] is True


@pytest.mark.parametrize(("scenario", "seed"), [("none", 21), ("pre_only", 22), ("noise", 23)])
def test_effect_free_data_is_not_claimed(bench, tmp_path, scenario, seed) -> None:
    row = bench.run_one(_dataset(bench, scenario, seed), PERMUTATIONS, str(tmp_path))
    assert "error" not in row, row
    assert row["claim"] is False, row
    assert row["primary_p"] > 0.025 and row["secondary_p"] > 0.025


def test_the_report_counts_false_claims_and_power_with_exact_intervals(bench) -> None:
    def row(scenario: str, claim: bool, p: float) -> dict:
        return {"scenario": scenario, "claim": claim, "primary_p": p, "secondary_p": p,
                "news_effect_bps": bench.SCENARIOS[scenario]["news_effect_bps"]}  # fmt: skip

    rows = [row("none", False, 0.5), row("noise", True, 0.01), row("pre_only", False, 0.9)]
    rows += [row("default", True, 0.01), row("default", False, 0.3), {"error": "x"}]
    out = bench.report(rows, seconds=1.0, permutations=39)
    assert (out["false_claims"], out["effect_free"]) == (1, 3)
    assert out["false_claim_ci"][0] == pytest.approx(0.0084, abs=1e-4)
    assert out["false_claim_ci"][1] == pytest.approx(0.9057, abs=1e-4)
    assert out["power"]["default"]["claims"] == 1 and out["power"]["default"]["datasets"] == 2
    assert len(out["failed"]) == 1
    page = bench.markdown(out | {"machine": "m"}, "python benchmarks/x.py", "2026-12-06")
    assert (
        "| effect-free (none, pre-availability only, noise) | 3 | 1 | 33.3% | 0.8% to 90.6% |"
        in page
    )
    assert "| default effect (25 bps) | 2 | 1 | 50.0% |" in page
    assert out["primary_p_histogram"].split()[:10] == ["1", "0", "0", "0", "0", "1", "0", "0",
                                                       "0", "1"]  # fmt: skip


def test_validity_is_judged_one_sided_and_the_rate_against_5_and_10_percent(bench) -> None:
    """Super-uniform null p-values (a one-sided test leaning away, as ``pre_only`` does)
    keep the promise; an excess of small ones breaks it; the binomial tests are exact."""

    def rows(scenario: str, ps: list[float], claims: int = 0) -> list[dict]:
        return [{"scenario": scenario, "claim": n < claims, "primary_p": p, "secondary_p": p,
                 "news_effect_bps": 0.0} for n, p in enumerate(ps)]  # fmt: skip

    leaning_away = bench.report(rows("pre_only", [0.9 + i / 1000 for i in range(40)]), 1.0, 39)
    assert leaning_away["primary_p_ks"] < 1e-6  # not uniform...
    assert leaning_away["primary_p_ks_valid"] > 0.5  # ...but valid: no excess of small p
    assert "primary_p_ks_no_effect" not in leaning_away  # nothing from none/noise
    too_small = bench.report(rows("none", [i / 400 for i in range(40)], claims=3), 1.0, 39)
    assert too_small["primary_p_ks_valid"] < 1e-6 and too_small["primary_p_ks_no_effect"] < 1e-6
    # 3 claims in 40: P(X >= 3 | 5 %) and P(X <= 3 | 10 %), exactly
    assert too_small["false_claim_above_5pct_p"] == pytest.approx(0.3233, abs=1e-4)
    assert too_small["false_claim_below_10pct_p"] == pytest.approx(0.4231, abs=1e-4)


def test_a_stored_result_is_rerendered_with_its_own_run_line(bench, tmp_path) -> None:
    row = {"scenario": "none", "claim": False, "primary_p": 0.4, "secondary_p": 0.6,
           "news_effect_bps": 0.0, "seed": 1, "days": 30}  # fmt: skip
    summary = bench.report([row], 10.0, 49) | {
        "machine": "a machine",
        "command": "python benchmarks/x.py --old",
        "when": "then",
    }
    stored = tmp_path / "result.json"
    bench.write_json(stored, {k: v for k, v in summary.items() if k != "primary_p_ks_valid"}, [row])
    page = tmp_path / "calibration.md"
    assert bench.main(["--report", str(stored), "--markdown", str(page)]) == 0
    text = page.read_text()
    assert "Run: `python benchmarks/x.py --old`, then, a machine; 1 datasets" in text
    assert "valid KS p = " in text
    assert json.loads(stored.read_text())["summary"]["primary_p_ks_valid"] > 0  # recomputed
