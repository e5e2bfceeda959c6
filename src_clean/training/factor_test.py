"""The pre-registered primary test: one news factor's own predictive power, point in time.

The factor is named in the config before any test data is seen (``TrainConfig.
primary_factor``, ``news_decay_score`` by default). Over the walk-forward's test sessions
(never the holdout, which is scored apart), its daily information coefficient (Spearman
within a trading session, against the forward return) gives the mean IC, the ICIR (mean
over standard deviation), the t-statistic ``ICIR * sqrt(sessions)`` and decile forward
returns. Its p-value comes from the same shuffled-news null as the model uplift: each
permutation moves the news of whole sessions onto other sessions at the same minute of
day, and the factor is scored again on the same rows. One-sided: the factor is registered
with a positive sign (good news, higher return), so ``p = (1 + #null >= observed) / (1 + N)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from src_clean.training.metrics import daily_ic

N_DECILES = 10


def factor_ic(sessions: np.ndarray, y: np.ndarray, factor: np.ndarray) -> dict[str, float]:
    """Mean daily IC, its ICIR and t-statistic over the sessions of ``sessions``."""
    return ic_summary(daily_ic(sessions, y, factor).to_numpy())


def ic_summary(daily: np.ndarray) -> dict[str, float]:
    """Mean, ICIR and t-statistic of per-session ICs ``daily``."""
    n = len(daily)
    mean = float(daily.mean()) if n else float("nan")
    sd = float(daily.std(ddof=1)) if n > 1 else float("nan")
    icir = mean / sd if sd > 0 else float("nan")
    return {"ic": mean, "icir": icir, "t": icir * np.sqrt(n), "sessions": n}


def decile_returns(y: np.ndarray, factor: np.ndarray, deciles: int = N_DECILES) -> list[float]:
    """Mean forward return (the target's units) per factor decile, lowest first; ties
    (bars without news share one value) are split by position, so every decile is filled."""
    if len(y) < deciles:
        return []
    order = pd.Series(factor).rank(method="first").to_numpy()
    bucket = pd.qcut(order, deciles, labels=False)
    return [float(v) for v in pd.Series(y).groupby(bucket).mean().to_numpy()]


def permutation_p(observed: float, null: Iterable[float]) -> float | None:
    """One-sided permutation p-value ``(1 + #null >= observed) / (1 + N)``; None without a
    null. Its resolution is ``1 / (1 + N)``."""
    values = np.asarray(list(null), dtype=np.float64)
    if len(values) == 0:
        return None
    return float((1 + np.sum(values >= observed)) / (1 + len(values)))


def primary_test(
    name: str,
    sessions: np.ndarray,
    y: np.ndarray,
    factor: np.ndarray,
    null_ics: list[float],
) -> dict[str, Any]:
    """The primary test's section of the summary: IC, ICIR, t, deciles and the null."""
    observed = factor_ic(sessions, y, factor)
    return {
        "factor": name,
        **observed,
        "decile_returns": decile_returns(y, factor),
        "null_ic": null_ics,
        "permutations": len(null_ics),
        "p_value": permutation_p(observed["ic"], null_ics),
    }


def holm(p_values: dict[str, float | None], alpha: float) -> dict[str, bool]:
    """Holm's step-down test at family-wise level ``alpha``: which hypotheses are rejected.
    A hypothesis without a p-value is never rejected and does not spend alpha."""
    known = sorted((p, name) for name, p in p_values.items() if p is not None)
    rejected = dict.fromkeys(p_values, False)
    m = len(known)
    for rank, (p, name) in enumerate(known):
        if p > alpha / (m - rank):
            break
        rejected[name] = True
    return rejected
