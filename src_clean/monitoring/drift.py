"""Drift of each model feature and of the sentiment scores against the champion's
training window: PSI, the two-sample Kolmogorov-Smirnov statistic and the normed
Wasserstein distance, with the thresholds of ``checks`` (Evidently's documented defaults).

Evidently itself was the first choice; its 0.7 releases import private pandas names that
pandas 3 removed (``infer_dtype_from_object``), so the two library tests come from SciPy
(``scipy.stats.ks_2samp``, ``wasserstein_distance``) and PSI is the textbook formula over
the reference's deciles (a few lines, checked against a hand computation in the tests).

Each test gives a row (``drift_psi``, ``drift_ks``, ``drift_wasserstein``) with its score;
the feature's verdict (``drift``) is the middle status of the three, so one test's
sensitivity (KS on a big sample) does not alarm alone.

**Thresholds calibrated on the reference.** A day of minute bars is one regime, not 1,400
independent draws: a 60-minute volatility or a day-of-week feature differs from the whole
training window on every ordinary day. So each test's threshold for each feature is the
larger of the documented default and ``CALIBRATION_MARGIN`` times the largest score any
full day of the champion's own training window reached against the rest of it
(``calibrate``, up to ``CALIBRATION_SESSIONS`` days; KS's at most ``CEILING``, so values
never seen in training still warn); the fail threshold is twice the warning one. A day is
flagged when it is clearly further from the training window than any training day was.
The calibration is computed once per champion version and kept in the lake
(``monitoring/_calibration/``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from src_clean.market_sessions import session_days
from src_clean.monitoring.checks import (
    DRIFT_TESTS,
    KS_STATISTIC,
    PSI,
    STATUSES,
    WASSERSTEIN_NORMED,
    Check,
    above,
)

DRIFT = "drift"
BINS = 10
EPS = 1e-4  # the floor of a bin's share, so an empty bin does not make PSI infinite
MAX_REFERENCE = 200_000  # reference rows kept (seeded sample): the tests' cost is its size
MIN_ROWS = 30
MIN_LABELS = 100
CALIBRATION_SESSIONS = 20
CALIBRATION_ROWS = 5_000  # reference rows each calibration session is compared with
CALIBRATION_MARGIN = 2.0
FULL_DAY_SHARE = 0.5  # days with fewer rows than this share of the median (a Sunday
# evening's two hours) are not calibrated on: a tiny sample's scores say nothing
TESTS = dict(zip(DRIFT_TESTS, (PSI, KS_STATISTIC, WASSERSTEIN_NORMED), strict=True))
# KS is at most 1 (disjoint samples): a calibrated threshold never rises past this
CEILING = {"drift_ks": 0.99}
Calibration = dict[str, dict[str, float]]  # feature -> test -> largest training-day score


def psi(reference: np.ndarray, current: np.ndarray, bins: int = BINS) -> float:
    """Population stability index of ``current`` against ``reference``'s quantile bins."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:  # a constant reference: one bin for it, one for anything else
        ref = np.array([1.0, 0.0])
        cur = np.array([np.mean(current == edges[0]), np.mean(current != edges[0])])
    else:
        inner = edges[1:-1]
        ref = np.bincount(np.searchsorted(inner, reference, side="right"), minlength=len(edges) - 1)
        cur = np.bincount(np.searchsorted(inner, current, side="right"), minlength=len(edges) - 1)
        ref, cur = ref / ref.sum(), cur / cur.sum()
    ref, cur = np.maximum(ref, EPS), np.maximum(cur, EPS)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def wasserstein_normed(reference: np.ndarray, current: np.ndarray) -> float:
    """Wasserstein distance in units of the reference's standard deviation."""
    scale = float(np.std(reference))
    distance = float(stats.wasserstein_distance(reference, current))
    return distance / scale if scale > 0 else (0.0 if distance == 0 else np.inf)


def scores(reference: np.ndarray, current: np.ndarray) -> dict[str, float]:
    """Each test's score of ``current`` against ``reference``."""
    values = (
        psi(reference, current),
        float(stats.ks_2samp(reference, current).statistic),
        wasserstein_normed(reference, current),
    )
    return dict(zip(DRIFT_TESTS, values, strict=True))


def limits(test: str, calibrated: float | None) -> tuple[float, float]:
    """(warn, fail) of ``test``: the default, raised to the calibrated training-day score."""
    warn, fail = TESTS[test]
    if calibrated is not None and np.isfinite(calibrated):
        warn = min(max(warn, CALIBRATION_MARGIN * calibrated), CEILING.get(test, np.inf))
        fail = max(fail, 2 * warn)
    return warn, fail


def column_drift(
    subject: str,
    reference: pd.Series,
    current: pd.Series,
    calibrated: dict[str, float] | None = None,
) -> list[Check]:
    """The three test rows and the verdict row of one numeric column."""
    ref = reference.dropna().to_numpy(np.float64)
    cur = current.dropna().to_numpy(np.float64)
    if len(ref) < MIN_ROWS or len(cur) < MIN_ROWS:
        detail = f"too few values to compare ({len(ref)} reference, {len(cur)} current)"
        return [Check(DRIFT, "drift", subject, 0.0, 0.0, "ok", detail)]
    rows = []
    for name, score in scores(ref, cur).items():
        status, threshold = above(score, limits(name, (calibrated or {}).get(name)))
        rows.append(Check(DRIFT, name, subject, score, threshold, status))
    middle = sorted((r.status for r in rows), key=STATUSES.index)[1]
    drifted = sum(r.status != "ok" for r in rows)
    detail = ", ".join(f"{r.check[6:]} {r.value:.3f} (> {r.threshold:.3f})" for r in rows)
    detail += f"; {len(cur)} values against {len(ref)}"
    return [*rows, Check(DRIFT, "drift", subject, float(drifted), 2.0, middle, detail)]


def calibrate(reference: pd.DataFrame, features: list[str]) -> Calibration:
    """Per feature and test, the largest score one full training-window session reached
    against the rest of the window (``reference`` needs ``time``). Sessions are trading
    sessions (``market_sessions.session_days``), as everywhere else: a UTC date would cut
    a session in two and let a partial day set the threshold."""
    sessions = pd.Series(session_days(reference["time"]), index=reference.index)
    sizes = sessions.value_counts()
    days = np.sort(sizes[sizes >= FULL_DAY_SHARE * sizes.median()].index.to_numpy())
    chosen = days[np.linspace(0, len(days) - 1, min(CALIBRATION_SESSIONS, len(days))).astype(int)]
    out: Calibration = {f: dict.fromkeys(TESTS, 0.0) for f in features if f in reference}
    for day in chosen:
        inside = (sessions == day).to_numpy()
        rest = sample(reference[~inside], CALIBRATION_ROWS)
        for feature, best in out.items():
            cur = reference.loc[inside, feature].dropna().to_numpy(np.float64)
            ref = rest[feature].dropna().to_numpy(np.float64)
            if len(cur) < MIN_ROWS or len(ref) < MIN_ROWS:
                continue
            for name, score in scores(ref, cur).items():
                best[name] = max(best[name], score)
    return out


def sample(frame: pd.DataFrame, rows: int = MAX_REFERENCE, seed: int = 0) -> pd.DataFrame:
    """At most ``rows`` rows of ``frame`` (a seeded sample, so reruns agree)."""
    return frame if len(frame) <= rows else frame.sample(rows, random_state=seed)


def feature_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: list[str],
    calibration: Calibration | None = None,
) -> list[Check]:
    """Drift rows for every feature present on both sides."""
    reference = sample(reference)
    calibration = calibration or {}
    return [
        check
        for feature in features
        if feature in reference and feature in current
        for check in column_drift(
            feature, reference[feature], current[feature], calibration.get(feature)
        )
    ]


def label_psi(reference: pd.Series, current: pd.Series) -> list[Check]:
    """PSI of the sentiment label mix (categories as bins); below ``MIN_LABELS`` articles
    the mix is too noisy to judge (``label_share`` still shows it)."""
    if reference.empty or current.empty:
        return []
    if len(current) < MIN_LABELS:
        detail = f"{len(current)} scored articles: too few to judge the mix (< {MIN_LABELS})"
        return [Check(DRIFT, "drift", "sentiment_label", 0.0, 0.0, "ok", detail)]
    labels = sorted(set(reference) | set(current))
    ref = np.maximum(reference.value_counts(normalize=True).reindex(labels, fill_value=0), EPS)
    cur = np.maximum(current.value_counts(normalize=True).reindex(labels, fill_value=0), EPS)
    value = float(np.sum((cur - ref) * np.log(cur / ref)))
    status, threshold = above(value, PSI)
    detail = ", ".join(f"{label} {cur[label]:.1%} (was {ref[label]:.1%})" for label in labels)
    return [Check(DRIFT, "drift", "sentiment_label", value, threshold, status, detail)]
