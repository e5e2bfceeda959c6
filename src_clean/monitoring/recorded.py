"""The live process's own record: what ``live/decisions`` says it decided, before each
outcome existed, judged once the outcomes matured.

The re-scored record (``monitoring.live``) predicts gold's bars after the fact; this one
reads only what the live path wrote at the time, so no later fix of a feature or a model
can improve it. Each ``monitor`` run:

1. joins every decided row of the window's days (and the days before it, back to the
   longest live window) whose forward return has matured in gold to that outcome, with the
   spread's cost, into ``live/outcomes`` (upserted; the decisions table is only read);
2. checks the window's days: ``decisions_coverage``, the share of bars decided (of
   decided, skipped and missed; warn below 95 %, fail below 50 %, the reasons counted);
3. judges the matured record like the re-scored one (``decisions_ic_<n>s``, hit rate, net
   bps, ``decisions_decay``; all versions of the registered model: the book a
   paper-trader would have run).

No ``live/decisions`` yet: one ``ok`` row saying so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from src_clean import tables
from src_clean.lake import Lake
from src_clean.monitoring.champion import ChampionContext
from src_clean.monitoring.checks import LIVE_WINDOWS, Check, below
from src_clean.monitoring.live import LIVE, judge, spread_cost_bps, target_column
from src_clean.monitoring.window import Window

PREFIX = "decisions"
COVERAGE = (0.95, 0.50)  # share of the day's bars decided: warn, fail


def recorded_checks(lake: Lake, context: ChampionContext, window: Window) -> list[Check]:
    """The coverage of the window's days and the matured record's checks."""
    name = context.model.name
    subject = f"{name} (live decisions)"
    if not lake.partitions(tables.LIVE_DECISIONS):
        detail = "no live decisions recorded (python -m src_clean live writes them)"
        return [Check(LIVE, PREFIX, subject, float("nan"), float("nan"), "ok", detail)]
    first = (window.last - pd.Timedelta(days=2 * max(LIVE_WINDOWS))).date()
    rows = lake.read(tables.LIVE_DECISIONS, first, window.end)
    rows = rows.loc[(rows["model_name"] == name) & (rows["bar_time"] < window.last)]
    checks = [_coverage(rows, window, subject)]
    horizon = context.model.horizon_minutes or tables.CANONICAL_HORIZON
    outcomes = record_outcomes(lake, rows, horizon)
    preds = pd.DataFrame(
        {
            "time": outcomes["bar_time"],
            "predicted": outcomes["predicted_return_bps"],
            "realized": outcomes["realized_return_bps"],
            "cost_bps": outcomes["cost_bps"],
        }
    )
    judged, _ = judge(preds, context.expectation, subject, horizon, prefix=PREFIX)
    return checks + judged


def _coverage(rows: pd.DataFrame, window: Window, subject: str) -> Check:
    days = rows["bar_time"].dt.date
    today = rows.loc[(days >= window.start) & (days <= window.end)]
    if today.empty:
        detail = "no bar recorded in the window (the live process did not run)"
        return Check(LIVE, f"{PREFIX}_coverage", subject, float("nan"), COVERAGE[0], "warn", detail)
    counts = today["status"].value_counts()
    share = float(counts.get("decided", 0) / len(today))
    status, threshold = below(share, COVERAGE)
    reasons = today.loc[today["status"] != "decided", "reason"].str.split(":").str[0]
    detail = f"{counts.get('decided', 0)} of {len(today)} bars decided" + "".join(
        f"; {n} {reason}" for reason, n in reasons.value_counts().head(3).items()
    )
    return Check(LIVE, f"{PREFIX}_coverage", subject, share, threshold, status, detail)


def record_outcomes(lake: Lake, rows: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """The decided ``rows`` whose forward return matured in gold, with it and the spread's
    cost; upserted into ``live/outcomes``. Returns every matured outcome of ``rows``."""
    decided = rows.loc[(rows["status"] == "decided") & rows["predicted_return_bps"].notna()]
    columns = tables.OUTCOMES_SPEC.column_names
    if decided.empty:
        return pd.DataFrame(columns=list(columns))
    start, end = decided["bar_time"].min().date(), decided["bar_time"].max().date()
    target = target_column(horizon)
    gold = lake.read(tables.GOLD_TRAINING, start, end)
    if target not in gold:
        return pd.DataFrame(columns=list(columns))
    realized = gold.drop_duplicates("time").set_index("time")[target]
    out = pd.DataFrame(
        {
            "bar_time": decided["bar_time"].to_numpy(),
            "model_name": decided["model_name"].to_numpy(),
            "model_version": decided["model_version"].to_numpy(),
            "predicted_return_bps": decided["predicted_return_bps"].to_numpy(np.float64),
            "realized_return_bps": decided["bar_time"].map(realized).to_numpy(np.float64),
            "cost_bps": spread_cost_bps(lake, decided["bar_time"], start, end),
            "horizon_minutes": float(horizon),
            "matured_at": pd.Timestamp.now(tz="UTC"),
        }
    )
    out = out.loc[np.isfinite(out["realized_return_bps"])].reset_index(drop=True)
    if len(out):
        lake.upsert(tables.LIVE_OUTCOMES, out)
    return out
