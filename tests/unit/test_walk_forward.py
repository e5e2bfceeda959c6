"""The verdict: fold plan in time, the holdout unread, planted and null effects, costs,
demeaned accuracy and the champion decision (gates, data quality, the comparison)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from test_training_units import FAST, HORIZON, MARKET, experiment, feature_doc, synthetic_gold

from src_clean import tables
from src_clean.data_pipelines.gold.feature_list import FeatureSpec
from src_clean.errors import UserError
from src_clean.lake import Lake
from src_clean.training import costs, metrics, walk_forward
from src_clean.training.experiment import MARKET_ONLY, WITH_NEWS, GoldSnapshot
from src_clean.training.folds import min_sessions, plan_folds
from src_clean.training.promotion import (
    MIN_COMPARE_SESSIONS,
    compare_on_unseen,
    compare_recorded,
    daily_by_session,
    decide,
    promotion_blockers,
    promotion_gates,
    too_few_unseen,
    unseen_rows,
)
from src_clean.training.train import build_data

EMBARGO = pd.Timedelta(minutes=30)


def _times(days: int = 24, bars: int = 390) -> pd.Series:
    opens = pd.date_range("2024-03-04 14:30", periods=days, freq="B", tz="UTC")
    return pd.Series(opens.repeat(bars) + pd.to_timedelta(np.tile(np.arange(bars), days), "min"))


def test_folds_expand_and_no_test_row_is_within_the_embargo_of_a_training_row() -> None:
    times = _times()
    plan = plan_folds(times, n_folds=4, holdout_frac=0.15, val_frac=0.2, embargo=EMBARGO)
    assert len(plan.folds) == 4
    for fold in (*plan.folds, plan.holdout):
        train, val, test = (times.iloc[fold.rows(p)] for p in ("train", "val", "test"))
        # checked in time: every label window of a part ends before the next part starts
        assert train.max() + EMBARGO < val.min()
        assert val.max() + EMBARGO < test.min()
        assert fold.train.start == 0  # expanding window
    tests = [times.iloc[f.test] for f in plan.folds]
    for earlier, later in zip(tests, tests[1:], strict=False):
        assert earlier.max() < later.min()  # each fold tests the next block of sessions
    holdout = times.iloc[plan.holdout.test]
    assert tests[-1].max() < holdout.min() and holdout.max() == times.max()
    assert holdout.dt.date.nunique() == round(24 * 0.15)
    # whole sessions: no session is split between two test blocks
    days = [set(t.dt.date) for t in (*tests, holdout)]
    assert all(not (a & b) for i, a in enumerate(days) for b in days[i + 1 :])


def test_too_few_sessions_is_a_user_error() -> None:
    with pytest.raises(UserError, match="too few for 5 walk-forward folds"):
        plan_folds(_times(days=8), 5, 0.15, 0.2, EMBARGO)


@pytest.mark.parametrize("folds", [2, 5])
def test_the_settings_minimum_is_exactly_what_a_run_needs(folds: int) -> None:
    """``TrainConfig.min_sessions`` (what the compose smoke test asks the project for):
    the walk-forward plans on that many sessions, not on one fewer, and the final model
    trains on at least the promotion gate's sessions."""
    config = dataclasses.replace(FAST, n_folds=folds, holdout_frac=0.15)
    n = config.min_sessions()
    plan = plan_folds(_times(days=n), folds, 0.15, 0.2, EMBARGO)
    assert len(plan.folds) == folds
    assert n - max(1, round(n * 0.15)) >= config.min_train_sessions
    with pytest.raises(UserError, match=f"need {2 * (folds + 1)} sessions before the holdout"):
        plan_folds(_times(days=min_sessions(2 * (folds + 1), 0.15) - 1), folds, 0.15, 0.2, EMBARGO)


def _data(effect: float, seed: int = 0):
    frame = synthetic_gold(effect, seed=seed)
    frame = frame[frame[f"target_return_{HORIZON}m"].notna()].reset_index(drop=True)
    spec = FeatureSpec.from_json(feature_doc())
    return build_data(frame, spec, np.full(len(frame), 5000.0), FAST)


def test_the_walk_forward_never_reads_the_holdout() -> None:
    data = _data(3.0)
    plan = plan_folds(data.times, FAST.n_folds, FAST.holdout_frac, FAST.val_frac, EMBARGO)
    config = dataclasses.replace(FAST, null_permutations=2, n_seeds=1)
    before = walk_forward.walk_forward(data, plan, config).summary
    poisoned = data.y.copy()
    poisoned[plan.holdout.test] = np.random.default_rng(1).normal(
        0, 1e6, plan.holdout.test.stop - plan.holdout.test.start
    )
    x = data.x.copy()
    x[plan.holdout.test] = np.nan
    after = walk_forward.walk_forward(
        dataclasses.replace(data, x=x, y=poisoned), plan, config
    ).summary
    before.pop("seconds"), after.pop("seconds")
    # NaN-safe; 12 digits: BLAS may sum the same rows in another order in another buffer
    assert _rounded(before) == _rounded(after)


def _rounded(summary: dict) -> str:
    return json.dumps(
        json.loads(json.dumps(summary), parse_float=lambda v: f"{float(v):.12g}"),
        sort_keys=True,
    )


def test_a_planted_effect_is_found_beyond_the_null_and_across_seeds() -> None:
    outcome = experiment(effect=3.0)
    walk = outcome.verdict.summary
    uplift = walk["pooled"]["uplift_ic"]
    assert uplift["low"] > 0.05
    # both tests beat every permutation: p at its floor, 1 / 40, and Holm claims news
    assert walk["primary"]["p_value"] == pytest.approx(1 / 40)
    assert walk["secondary"]["p_value"] == pytest.approx(1 / 40)
    assert walk["primary"]["ic"] > 0.05 and walk["primary"]["t"] > 3
    assert walk["claim"]["rejected"] == {"primary": True, "secondary": True}
    assert walk["significant"] is True and outcome.registered == WITH_NEWS
    assert max(walk["null"]["uplift_ic"]) < walk["secondary"]["estimate"]
    assert all(u > 0.05 for u in walk["per_seed_uplift_ic"]) and len(walk["seeds"]) == 2
    assert walk["lag_curve"][1]["uplift_ic"] < uplift["estimate"]  # a delay costs signal
    for fold in walk["folds"]:
        names = set(fold["models"])
        assert {WITH_NEWS, MARKET_ONLY, "baseline:ridge", "baseline:zero_return"} <= names
        assert fold["models"][WITH_NEWS]["params"] in [dict(p) for p in walk_forward.GRID]
    holdout = outcome.holdout["models"]
    assert holdout[WITH_NEWS]["test_ic"] > holdout[MARKET_ONLY]["test_ic"]
    pnl = walk["pnl"]
    assert pnl[WITH_NEWS]["sign"]["net_mean_bps"] > pnl[MARKET_ONLY]["sign"]["net_mean_bps"]


def test_a_null_effect_is_not_claimed() -> None:
    walk = experiment(effect=0.0, seed=3).verdict.summary
    uplift = walk["pooled"]["uplift_ic"]
    assert uplift["low"] <= 0 <= uplift["high"]
    assert walk["null"]["p_value"] > 0.1 and walk["primary"]["p_value"] > 0.025
    assert walk["claim"]["rejected"] == {"primary": False, "secondary": False}
    assert walk["significant"] is False


@pytest.mark.parametrize("seed", [3, 5, 8])
def test_without_news_the_deployed_model_is_market_only(seed) -> None:
    outcome = experiment(effect=0.0, seed=seed)
    assert outcome.verdict.summary["significant"] is False
    assert outcome.registered == MARKET_ONLY


def test_the_null_scores_its_permutations_by_the_observed_values_recipe() -> None:
    """The secondary's observed uplift is with_news refitted on the real news exactly as
    each permutation is on shuffled news: that refit is the first seed's walk-forward
    model, bit for bit, whose predictions the observed value reuses."""
    outcome = experiment(effect=3.0)
    walk, data, results = outcome.verdict.summary, outcome.data, outcome.verdict.results
    first_seed = []
    for r in results:
        s, y = data.sessions[r.fold.test], data.y[r.fold.test]
        treated = metrics.daily_ic(s, y, r.predictions[WITH_NEWS][0])
        first_seed.append((treated - r.daily[MARKET_ONLY]).to_numpy())
    assert walk["secondary"]["estimate"] == np.concatenate(first_seed).mean()
    matrices = [walk_forward.FoldMatrices(data, r.fold) for r in results]
    refitted = walk_forward.refit_with_news(data, results, matrices, data.x, FAST)
    assert refitted == walk["secondary"]["estimate"]


def test_a_constant_column_and_a_copy_leave_the_verdict_unchanged() -> None:
    """Irrelevant columns are dropped before fitting, so colsample draws the same columns:
    the claim and the estimates do not move (to 3 decimals)."""
    base = experiment(effect=3.0).verdict.summary

    def add_columns(frame: pd.DataFrame, doc: dict) -> tuple[pd.DataFrame, dict]:
        first = doc["market_features"][0]
        frame = frame.assign(always_zero=0.0, **{f"{first}_copy": frame[first]})
        doc = doc | {"market_features": [*doc["market_features"], f"{first}_copy"]}
        doc["news_features"] = [*doc["news_features"], "always_zero"]
        return frame, doc

    widened = experiment(effect=3.0, widen=add_columns)
    walk = widened.verdict.summary
    assert walk["dropped_features"] == {
        f"{MARKET[0]}_copy": f"a copy of {MARKET[0]}",
        "always_zero": "constant",
    }
    assert walk["significant"] == base["significant"]
    for test in ("primary", "secondary"):
        assert round(walk[test]["p_value"], 3) == round(base[test]["p_value"], 3)
    assert round(walk["secondary"]["estimate"], 3) == round(base["secondary"]["estimate"], 3)
    assert round(walk["primary"]["ic"], 3) == round(base["primary"]["ic"], 3)


@pytest.mark.parametrize(
    ("p_primary", "p_secondary", "rejected"),
    [
        (0.01, 0.90, {"primary"}),  # the smaller p beats alpha / 2
        (0.02, 0.04, {"primary", "secondary"}),  # then the other beats alpha
        (0.03, 0.04, set()),  # neither beats alpha / 2: Holm stops at once
        (0.90, 0.005, {"secondary"}),
        (0.05, 0.05, set()),
        (None, 0.04, {"secondary"}),  # a missing test spends no alpha
        (None, None, set()),
    ],
)
def test_news_is_claimed_by_holm_over_the_primary_and_secondary(
    p_primary, p_secondary, rejected
) -> None:
    verdict = walk_forward.claim({"p_value": p_primary}, {"p_value": p_secondary})
    assert {name for name, r in verdict["rejected"].items() if r} == rejected
    assert verdict["significant"] is bool(rejected)


def test_market_only_variant_has_no_uplift_and_no_null() -> None:
    walk = experiment(effect=3.0, skip_news=True).verdict.summary
    assert "uplift_ic" not in walk["pooled"] and "null" not in walk
    assert set(walk["degenerate"]) == {MARKET_ONLY}


def test_shuffled_news_moves_whole_sessions_and_keeps_each_value() -> None:
    data = _data(3.0)
    rows = len(data.y)
    shuffler = walk_forward.NewsShuffler(data, rows)
    shuffled = shuffler.news(shuffler.draw(np.random.default_rng(0)))
    market = slice(0, data.n_market)
    assert np.array_equal(shuffled[:, market], data.x[:, market])  # market untouched
    news = data.x[:, data.n_market :]
    moved = shuffled[:, data.n_market :]
    assert not np.array_equal(np.nan_to_num(moved), np.nan_to_num(news))
    # every session's news is some session's news at the same minutes (equal-length days)
    by_day = {d: np.nan_to_num(news[data.sessions == d]) for d in np.unique(data.sessions)}
    for day in np.unique(data.sessions):
        block = np.nan_to_num(moved[data.sessions == day])
        assert any(np.array_equal(block, other) for other in by_day.values())


def test_one_news_column_of_a_permutation_is_that_column_of_the_shuffled_matrix() -> None:
    data = _data(3.0)
    rows = len(data.y)
    shuffler = walk_forward.NewsShuffler(data, rows)
    picked = np.random.default_rng(1).choice(rows, size=rows // 3, replace=False)
    for seed in range(3):
        source = shuffler.draw(np.random.default_rng(seed))
        x = shuffler.news(source)
        for col in range(data.n_market, len(data.features)):
            np.testing.assert_array_equal(shuffler.column(source, col, picked), x[picked, col])


def test_fewer_refits_keep_the_primary_null_and_shorten_the_secondarys() -> None:
    """``null_refits`` refits with_news on the first permutations only: the primary's null
    (and so its p) is the same draw for draw, the secondary's p has the coarser resolution."""
    full = dataclasses.replace(FAST, null_permutations=6, n_seeds=1)
    every = experiment(effect=3.0, config=full).verdict.summary
    fewer = experiment(effect=3.0, config=dataclasses.replace(full, null_refits=2))
    summary = fewer.verdict.summary
    assert summary["primary"]["null_ic"] == every["primary"]["null_ic"]
    assert len(summary["primary"]["null_ic"]) == 6
    assert summary["null"]["refits"] == 2 and every["null"]["refits"] == 6
    assert summary["secondary"]["permutations"] == 2
    assert summary["null"]["uplift_ic"] == every["null"]["uplift_ic"][:2]
    with pytest.raises(UserError, match="null refits must be between 0 and the null perm"):
        dataclasses.replace(full, null_refits=7)


def test_lagged_news_is_the_news_of_the_bar_that_much_earlier() -> None:
    data = _data(3.0)
    lagged = walk_forward.lagged_news(data, len(data.y), 5)
    news = slice(data.n_market, None)
    np.testing.assert_array_equal(lagged[10, news], data.x[5, news])
    np.testing.assert_array_equal(lagged[2, news], data.empty_news)  # before the session


def test_trades_do_not_overlap_and_pay_the_spread() -> None:
    times = pd.Series(pd.date_range("2024-03-04 14:30", periods=100, freq="min", tz="UTC"))
    times = times.drop(index=[30, 31, 32]).reset_index(drop=True)  # a gap moves the next entry
    slots = costs.trade_slots(times, 30)
    entries = times.iloc[slots]
    assert (entries.diff().dropna() >= pd.Timedelta(minutes=30)).all()
    assert entries.iloc[1] == pd.Timestamp("2024-03-04 15:03", tz="UTC")
    returns = np.array([10.0, -4.0, 2.0])
    result = costs.strategies(returns, np.array([2.0, 2.0, -0.5]), np.full(3, 1.0))
    assert result["sign"]["net_mean_bps"] == pytest.approx((9 - 5 - 3) / 3)
    assert result["threshold"]["trades"] == 2  # |-0.5| does not beat a 1-bps cost
    assert result["buy_and_hold"]["net_mean_bps"] == pytest.approx((8 - 1) / 3 + 0)
    assert result["sign"]["max_drawdown_bps"] == pytest.approx(8.0)
    assert costs.cost_bps(np.array([5000.0]), 0.5)[0] == pytest.approx(1.0)


def test_demeaned_accuracy_gives_a_constant_forecast_one_half() -> None:
    y = np.array([3.0, 1.0, -1.0, 2.0])
    assert metrics.demeaned_directional_accuracy(y, np.full(4, 0.7), 0.7) == 0.5
    assert metrics.demeaned_directional_accuracy(y, y, 1.25) == 1.0


def test_daily_ic_is_spearman_within_each_session() -> None:
    rng = np.random.default_rng(0)
    sessions = np.repeat([1, 2], 50)
    y, pred = rng.standard_normal(100), rng.standard_normal(100)
    daily = metrics.daily_ic(sessions, y, pred)
    for day in (1, 2):
        mask = sessions == day
        assert daily[day] == pytest.approx(metrics.information_coefficient(y[mask], pred[mask]))


def test_gates_refuse_a_short_or_degenerate_challenger() -> None:
    short = experiment(effect=3.0, config=dataclasses.replace(FAST, min_train_sessions=50))
    assert any("sessions" in problem for problem in promotion_gates(short))
    assert promotion_gates(experiment(effect=3.0)) == []


@pytest.fixture(scope="module")
def planted():
    """A planted-signal outcome and the snapshot it was read from (gold/training@v1)."""
    outcome = experiment(effect=3.0)
    return outcome, GoldSnapshot(
        "gold/training", "file:///lake/gold/training", 1, outcome.times.to_frame()
    )


def test_the_champion_decision_gates_first_and_compares_only_with_a_champion(planted) -> None:
    outcome, snapshot = planted
    compared: list[str] = []

    def compare() -> tuple[bool, str]:
        compared.append("champion")
        return False, "why"

    blocked = decide(outcome, snapshot, "3", ["bar_coverage 2024-03-29"], compare)
    assert blocked == (
        False,
        f"not promoted: data quality failed on {snapshot.last_date}: bar_coverage 2024-03-29",
    )
    first = decide(outcome, snapshot, None, [], compare)
    assert first == (True, "promoted: no champion yet, and the challenger passes the gates")
    assert compared == []
    assert decide(outcome, snapshot, "3", [], compare) == (False, "kept champion: why")
    assert compared == ["champion"]


def test_the_champions_recorded_sessions_count_on_the_same_folds_of_the_same_gold_only(
    planted,
) -> None:
    outcome, snapshot = planted
    params = {
        "gold_table": "gold/training",
        "gold_version": "1",
        "plan_fingerprint": outcome.plan.fingerprint(outcome.times),
    }
    ours = daily_by_session(outcome)
    assert len(ours) >= MIN_COMPARE_SESSIONS and all(np.isfinite(list(ours.values())))
    worse = {s: v - 0.5 for s, v in ours.items()}  # the champion was 0.5 worse every session
    better, why = compare_recorded(outcome, snapshot, params, worse)
    assert better and why.endswith(
        f"on the same {len(ours)} walk-forward sessions of gold/training@v1: beyond noise"
    )
    assert why.startswith("daily IC gain over the champion +0.5000 (95% CI +0.5000 to +0.5000)")
    # a gain in the point estimate that noise explains: +0.01 on average, +-0.3 per session
    rng = np.random.default_rng(0)
    jitter = rng.choice([-0.3, 0.3], size=len(ours))
    noisy = {s: v - 0.01 + j for (s, v), j in zip(ours.items(), jitter, strict=True)}
    kept, why = compare_recorded(outcome, snapshot, params, noisy)
    assert not kept and why.endswith("within noise"), why
    same, why = compare_recorded(outcome, snapshot, params, ours)  # a rerun: no gain
    assert not same and why.startswith("daily IC gain over the champion +0.0000")
    few = dict(list(worse.items())[: MIN_COMPARE_SESSIONS - 1])
    assert compare_recorded(outcome, snapshot, params, few) == (
        False,
        f"not compared: {MIN_COMPARE_SESSIONS - 1} walk-forward sessions in common with the "
        f"champion's record (< {MIN_COMPARE_SESSIONS}); the champion stays",
    )
    assert compare_recorded(outcome, snapshot, params | {"gold_version": "0"}, worse) is None
    assert compare_recorded(outcome, snapshot, params, None) is None  # an older run: no record

    every = unseen_rows(outcome, {})  # no validation end recorded: every walk-forward test row
    assert too_few_unseen(every, outcome) is None
    late = {"val_end": str(outcome.times.iloc[-1])}
    kept, why = too_few_unseen(unseen_rows(outcome, late), outcome)
    assert not kept and why.startswith("not compared: 0 walk-forward sessions")

    class Stranger:  # a champion trained on features this table does not have
        feature_names = ["not_a_feature"]

    assert compare_on_unseen(outcome, every, Stranger()) == (
        False,
        "not compared: the champion's features are not in this gold table",
    )


def test_a_failed_quality_check_of_the_day_blocks_promotion(tmp_path) -> None:
    lake, day = Lake(tmp_path), dt.date(2024, 3, 29)
    assert promotion_blockers(lake, day) == []  # no monitoring yet
    checks = pd.DataFrame(
        {
            "kind": ["quality", "quality", "drift"],
            "check": ["bar_coverage", "news_volume", "feature_drift"],
            "subject": [str(day), "", "ret_1m"],
            "value": [0.2, 0.0, 0.5],
            "threshold": [0.9, 1.0, 0.2],
            "status": ["fail", "warn", "fail"],
            "detail": ["", "", ""],
        }
    ).assign(day=pd.Timestamp(day, tz="UTC"), run_id="r", checked_at=pd.Timestamp.now(tz="UTC"))
    lake.replace_range(tables.MONITORING_CHECKS, checks, day, day)
    assert promotion_blockers(lake, day) == [f"bar_coverage {day}"]
    assert promotion_blockers(lake, day - dt.timedelta(days=1)) == []


def test_models_fit_on_every_stride_th_minute_and_test_on_every_bar() -> None:
    frame = synthetic_gold(3.0, days=12)
    frame = frame[frame[f"target_return_{HORIZON}m"].notna()].reset_index(drop=True)
    config = dataclasses.replace(FAST, fit_stride_minutes=5)
    data = build_data(frame, FeatureSpec.from_json(feature_doc()), np.full(len(frame), 5e3), config)
    plan = plan_folds(data.times, 2, FAST.holdout_frac, FAST.val_frac, EMBARGO)
    fold = plan.folds[0]
    matrices = walk_forward.FoldMatrices(data, fold)
    for part, rows in (("train", matrices.train), ("val", matrices.val)):
        whole = np.arange(fold.rows(part).start, fold.rows(part).stop)
        assert set(rows) <= set(whole) and len(rows) == pytest.approx(len(whole) / 5, rel=0.05)
        assert (data.times.iloc[rows].dt.minute % 5 == 0).all(), part
    dtrain, dval = matrices.get(WITH_NEWS)
    assert (dtrain.num_row(), dval.num_row()) == (len(matrices.train), len(matrices.val))
    result, _ = walk_forward.run_fold(data, fold, config)
    assert result.predictions[WITH_NEWS].shape[1] == fold.sizes()["test"]  # every test bar


def test_a_long_null_prints_its_progress_at_most_once_per_interval(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A line with the time left while the null runs (it printed nothing for 90 s), and no
    flood: before, every permutation after the first 10 s logged a line."""
    config = dataclasses.replace(FAST, null_permutations=4, n_seeds=1)
    monkeypatch.setattr(walk_forward, "PROGRESS_S", 0.0)
    with caplog.at_level("INFO", logger=walk_forward.log.name):
        experiment(effect=3.0, config=config)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("null: ")]
    assert [line.split(",")[0] for line in lines[:-1]] == [f"null: {n}/4 refits" for n in (1, 2, 3)]
    assert all("s left" in line for line in lines[:-1])
    monkeypatch.setattr(walk_forward, "PROGRESS_S", 3600.0)
    caplog.clear()
    with caplog.at_level("INFO", logger=walk_forward.log.name):
        experiment(effect=3.0, config=config)
    assert [r.getMessage() for r in caplog.records if "refits, about" in r.getMessage()] == []
