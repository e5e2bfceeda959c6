"""Whether the challenger becomes champion, as plain functions (no MLflow here: ``registry``
fetches what they compare and records what they decide).

The champion alias moves on evidence only: the gates (training size, a non-degenerate
model), no data-quality failure on the last training day (the monitor's checks), and a
walk-forward daily IC better than the champion's beyond noise: a per-session gain whose
95% interval lies above zero, on the same folds of the same gold version (the champion's
recorded per-session IC), else on walk-forward sessions the champion never trained on.
The holdout never decides. The challenger is with_news only when the verdict calls news
significant, else market_only (``Outcome.registered``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from src_clean import tables
from src_clean.lake import Lake

if TYPE_CHECKING:
    from src_clean.training.experiment import GoldSnapshot, Outcome

CHALLENGER = "challenger"
CHAMPION = "champion"
MIN_COMPARE_SESSIONS = 3
WF_METRIC = "wf_registered_daily_ic"  # the registered feature set's walk-forward daily IC
DAILY_IC_ARTIFACT = "walk_forward_daily_ic.json"  # the same, per test session

Comparison = tuple[bool, str]  # (the challenger is better, why)


def promotion_blockers(lake: Lake, day: dt.date) -> list[str]:
    """The data-quality checks that failed on ``day`` (the monitor's ``monitoring/checks``):
    ``train`` does not promote then."""
    if not lake.exists(tables.MONITORING_CHECKS):
        return []
    rows = lake.read(tables.MONITORING_CHECKS, day, day)
    failed = rows[(rows["kind"] == "quality") & (rows["status"] == "fail")]
    return [f"{c} {s}".strip() for c, s in zip(failed["check"], failed["subject"], strict=True)]


def promotion_gates(outcome: Outcome) -> list[str]:
    """Why the challenger may not become champion whatever it is compared with."""
    problems = []
    sessions = len(np.unique(outcome.data.sessions[outcome.train_rows]))
    if sessions < outcome.config.min_train_sessions:
        problems.append(f"trained on {sessions} sessions (< {outcome.config.min_train_sessions})")
    final = outcome.final.scores[outcome.registered]
    if final["degenerate"]:
        problems.append("degenerate: one tree or a constant forecast")
    return problems


def challenger_score(outcome: Outcome) -> float:
    """The registered feature set's walk-forward daily IC (``WF_METRIC``): what is compared."""
    return outcome.verdict.summary["pooled"][f"{outcome.registered}_daily_ic"]["estimate"]


def daily_by_session(outcome: Outcome) -> dict[str, float]:
    """The registered feature set's walk-forward daily IC per test session (ISO date ->
    IC): what a later challenger on the same folds is compared with, session by session.
    Logged on the training run as ``DAILY_IC_ARTIFACT``."""
    daily = pd.concat([r.daily[outcome.registered] for r in outcome.verdict.results])
    epoch = dt.date(1970, 1, 1)  # sessions are days since the epoch (``folds.sessions_of``)
    return {
        (epoch + dt.timedelta(days=int(s))).isoformat(): float(v)
        for s, v in daily.items()
        if np.isfinite(v)
    }


def compare_recorded(
    outcome: Outcome,
    snapshot: GoldSnapshot,
    params: Mapping[str, str],
    recorded: Mapping[str, float] | None,
) -> Comparison | None:
    """Challenger against the champion's recorded walk-forward daily IC per session
    (``recorded``, its run's ``DAILY_IC_ARTIFACT``) on the same sessions: promoted only
    when the paired gain's 95% session-bootstrap interval lies above zero, never on a gain
    in the point estimate alone. None unless that record was computed on this gold version
    with this fold plan (then the champion's model is scored on unseen sessions instead)."""
    from src_clean.training.metrics import session_bootstrap

    same = (
        params.get("gold_table") == snapshot.table
        and params.get("gold_version") == str(snapshot.version)
        and params.get("plan_fingerprint") == outcome.plan.fingerprint(outcome.times)
    )
    if not same or not recorded:
        return None
    ours = daily_by_session(outcome)
    common = sorted(set(ours) & set(recorded))
    gain = np.array([ours[s] - float(recorded[s]) for s in common], dtype=np.float64)
    gain = gain[np.isfinite(gain)]
    if len(gain) < MIN_COMPARE_SESSIONS:
        return False, (
            f"not compared: {len(gain)} walk-forward sessions in common with the champion's "
            f"record (< {MIN_COMPARE_SESSIONS}); the champion stays"
        )
    config = outcome.config
    interval = session_bootstrap(gain, config.block_sessions, config.bootstrap, config.seed)
    better = bool(interval["low"] > 0)  # beyond noise, not any gain in the point estimate
    return better, (
        f"daily IC gain over the champion {interval['estimate']:+.4f} (95% CI "
        f"{interval['low']:+.4f} to {interval['high']:+.4f}) on the same {len(gain)} "
        f"walk-forward sessions of {snapshot.label()}: {'beyond' if better else 'within'} noise"
    )


def unseen_rows(outcome: Outcome, params: Mapping[str, str]) -> np.ndarray:
    """The challenger's walk-forward test rows after the champion's validation end (its
    ``val_end`` param) plus the embargo: rows the champion's final model never read."""
    from src_clean.training.walk_forward import test_rows

    # the champion's final model read its training and validation rows (early stopping)
    end = pd.Timestamp(params.get("val_end", "1970-01-01T00:00:00+00:00"))
    data, start = outcome.data, end + outcome.plan.embargo
    tested = test_rows(outcome.verdict.results)
    return tested[(data.times.iloc[tested] > start).to_numpy()]


def too_few_unseen(rows: np.ndarray, outcome: Outcome) -> Comparison | None:
    """The champion stays while fewer than ``MIN_COMPARE_SESSIONS`` sessions are unseen."""
    sessions = np.unique(outcome.data.sessions[rows])
    if len(sessions) >= MIN_COMPARE_SESSIONS:
        return None
    return False, (
        f"not compared: {len(sessions)} walk-forward sessions the champion never trained "
        f"on (< {MIN_COMPARE_SESSIONS}); the champion stays until there are enough"
    )


def compare_on_unseen(outcome: Outcome, rows: np.ndarray, champion: Any) -> Comparison:
    """Challenger and ``champion`` (an XGBoost booster) scored on ``rows`` (``unseen_rows``):
    the mean daily IC of the challenger's walk-forward forecasts against the champion's."""
    from src_clean.training.metrics import daily_ic, session_bootstrap
    from src_clean.training.walk_forward import test_rows

    data = outcome.data
    names = champion.feature_names or []
    if not set(names) <= set(data.features):
        return False, "not compared: the champion's features are not in this gold table"
    cols = [data.features.index(n) for n in names]
    theirs = champion.inplace_predict(data.x[np.ix_(rows, cols)])
    tested = test_rows(outcome.verdict.results)
    ours = np.concatenate(
        [r.predictions[outcome.registered].mean(axis=0) for r in outcome.verdict.results]
    )[np.isin(tested, rows)]
    y, s = data.y[rows], data.sessions[rows]
    gain = (daily_ic(s, y, ours) - daily_ic(s, y, theirs)).to_numpy()
    config = outcome.config
    interval = session_bootstrap(gain, config.block_sessions, config.bootstrap, config.seed)
    better = bool(interval["low"] > 0)  # beyond noise, not any gain in the point estimate
    return better, (
        f"daily IC gain over the champion {interval['estimate']:+.4f} (95% CI "
        f"{interval['low']:+.4f} to {interval['high']:+.4f}) on {len(gain)} walk-forward "
        f"sessions it never trained on: {'beyond' if better else 'within'} noise"
    )


def decide(
    outcome: Outcome,
    snapshot: GoldSnapshot,
    champion: str | None,
    blockers: Sequence[str],
    compare: Callable[[], Comparison],
) -> tuple[bool, str]:
    """(promote, reason): the gates first (the model's, then ``blockers``, the monitor's
    data-quality failures on the last training day), then, when there is a ``champion``,
    ``compare`` (called only then)."""
    problems = promotion_gates(outcome)
    if blockers:
        problems.append(f"data quality failed on {snapshot.last_date}: {', '.join(blockers)}")
    if problems:
        return False, f"not promoted: {'; '.join(problems)}"
    deployed = deployment_note(outcome)
    if champion is None:
        return True, f"promoted: no champion yet, and the challenger passes the gates{deployed}"
    better, why = compare()
    return better, f"{'promoted' if better else 'kept champion'}: {why}{deployed}"


def deployment_note(outcome: Outcome) -> str:
    """Why market_only is the challenger although with_news was trained (news is not
    significant), else nothing."""
    from src_clean.training.experiment import MARKET_ONLY, WITH_NEWS

    if outcome.registered == MARKET_ONLY and WITH_NEWS in outcome.final.fitted:
        return "; market_only registered: news is not significant at 5%"
    return ""


def decision_record(
    name: str, outcome: Outcome, promote: bool, reason: str, previous: str | None
) -> dict[str, Any]:
    """The champion decision as the summary and the registry record it, before the
    challenger's version number is known (``with_versions`` adds it)."""
    return {
        "registered_model": name,
        "metric": WF_METRIC,
        "challenger_value": challenger_score(outcome),
        "previous_champion_version": previous,
        "promoted": promote,
        "unchanged": False,
        "reason": reason,
    }


def with_versions(decision: dict[str, Any], challenger: str) -> dict[str, Any]:
    """``decision`` with the challenger's version and the champion's after it."""
    promoted = decision["promoted"]
    return decision | {
        "challenger_version": challenger,
        "champion_version": challenger if promoted else decision["previous_champion_version"],
    }


def unchanged(decision: dict[str, Any], champion: str | None, version: str) -> dict[str, Any]:
    """The decision of a rerun on the gold, settings and code that registered ``version``:
    nothing registered, nothing promoted."""
    return decision | {
        "unchanged": True,
        "promoted": False,
        "champion_version": champion,
        "reason": f"unchanged: gold, settings and code are those of v{version}; nothing registered",
    }
