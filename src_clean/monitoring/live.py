"""The champion's live record: predictions on bars it never read, scored as labels mature.

Every run scores the gold bars whose forward label has matured since the last scored bar
(never before the champion's last training or validation bar plus its horizon: those it
has seen), and upserts them into ``monitoring/predictions`` with the realised return and
the spread's cost. Over the last 5, 20 and 60 sessions it reports the mean daily IC (the
walk-forward's own measure), the hit rate and the sign strategy's net bps per trade
(non-overlapping trades, as in training). A mean IC below the expected band
(``Expectation.band``) is a ``warn``; the 20-session mean below its band on each of the
last ``SUSTAINED_SESSIONS`` sessions is ``live_decay``: a ``fail`` that tags the champion
"under review" in the registry, without moving its alias.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from src_clean import tables
from src_clean.lake import Lake
from src_clean.monitoring.champion import ChampionContext, Expectation
from src_clean.monitoring.checks import (
    LIVE_WINDOWS,
    SUSTAINED_SESSIONS,
    SUSTAINED_WINDOW,
    Check,
)
from src_clean.monitoring.quality import finite_or_missing
from src_clean.monitoring.window import Window
from src_clean.training.costs import DEFAULT_SPREAD_POINTS, cost_bps, trade, trade_slots
from src_clean.training.folds import sessions_of
from src_clean.training.metrics import daily_ic

LIVE = "live"


@dataclass(frozen=True)
class LiveRecord:
    """The checks, and per session the daily IC, its rolling mean and the expected band."""

    checks: list[Check]
    curve: pd.DataFrame  # session, daily_ic, rolling_ic, band_low, band_high
    scored: int


def target_column(horizon: int) -> str:
    return f"target_return_{horizon}m"


def score_matured(lake: Lake, context: ChampionContext, window: Window) -> int:
    """Predict every matured, unseen, not yet scored bar up to the window's end; how many."""
    champion = context.model
    horizon = champion.horizon_minutes or tables.CANONICAL_HORIZON
    after = context.train_end + pd.Timedelta(minutes=horizon)
    # this version's predictions all lie after its training window: read only those days
    columns = ["time", "model_version"]
    done = lake.read(tables.MONITORING_PREDICTIONS, after.date(), None, columns=columns)
    done = done.loc[done["model_version"] == champion.version, "time"]
    if len(done):
        after = max(after, pd.Timestamp(done.max()))
    if after >= window.last:
        return 0
    target = target_column(horizon)
    gold = lake.read(tables.GOLD_TRAINING, after.date(), window.end)
    gold = gold[(gold["time"] > after) & (gold["time"] < window.last)]
    gold = gold[gold[target].notna()] if target in gold else gold.iloc[0:0]
    if gold.empty:
        return 0
    inputs = finite_or_missing(gold[champion.features].astype(np.float64))
    predicted = np.asarray(champion.model.predict(inputs), dtype=np.float64).reshape(-1)
    rows = pd.DataFrame(
        {
            "time": gold["time"].to_numpy(),
            "instrument": gold.get("instrument", pd.Series("SPX500_USD", gold.index)).to_numpy(),
            "model_name": champion.name,
            "model_version": champion.version,
            "predicted": predicted,
            "realized": gold[target].to_numpy(np.float64),
            "cost_bps": spread_cost_bps(lake, gold["time"], after.date(), window.end),
            "scored_at": pd.Timestamp.now(tz="UTC"),
        }
    )
    lake.upsert(tables.MONITORING_PREDICTIONS, rows)
    return len(rows)


def spread_cost_bps(lake: Lake, times: pd.Series, start: dt.date, end: dt.date) -> np.ndarray:
    """The spread's cost (bps) of a trade at each of ``times``, from silver's close."""
    closes = lake.read(tables.SILVER_FEATURES, start, end, columns=["time", "close"])
    close = times.map(closes.drop_duplicates("time").set_index("time")["close"])
    return cost_bps(close.to_numpy(np.float64), DEFAULT_SPREAD_POINTS)


def live_record(lake: Lake, context: ChampionContext, window: Window) -> LiveRecord:
    """Score what matured, then judge the record up to the window's end."""
    scored = score_matured(lake, context, window)
    version = context.model.version
    # the longest window's sessions, with room for weekends and holidays
    first = (window.last - pd.Timedelta(days=2 * max(LIVE_WINDOWS))).date()
    preds = lake.read(tables.MONITORING_PREDICTIONS, first, window.end)
    preds = preds[(preds["model_version"] == version) & (preds["time"] < window.last)]
    subject = f"{context.model.name} v{version}"
    horizon = context.model.horizon_minutes or tables.CANONICAL_HORIZON
    checks, curve = judge(preds, context.expectation, subject, horizon)
    return LiveRecord(checks, curve, scored)


def judge(
    preds: pd.DataFrame,
    expectation: Expectation | None,
    subject: str,
    horizon: int,
    prefix: str = "live",
) -> tuple[list[Check], pd.DataFrame]:
    """The live checks and the IC curve of ``preds`` (``time``, ``predicted``,
    ``realized``, ``cost_bps``) against the walk-forward ``expectation``; the checks are
    named ``<prefix>_ic_<n>s``, ``<prefix>_hit_rate_<n>s``, ``<prefix>_net_bps_<n>s`` and
    ``<prefix>_decay``."""
    if preds.empty:
        detail = "no matured bar after the champion's training window yet"
        check = Check(LIVE, f"{prefix}_ic", subject, float("nan"), float("nan"), "ok", detail)
        return [check], _curve(pd.Series(dtype=float), expectation)
    preds = preds.sort_values("time", ignore_index=True)
    sessions = sessions_of(preds["time"])
    daily = daily_ic(sessions, preds["realized"].to_numpy(), preds["predicted"].to_numpy())
    curve = _curve(daily, expectation)
    checks = []
    for n in LIVE_WINDOWS:
        checks += _window_checks(preds, sessions, daily, n, subject, expectation, horizon, prefix)
    checks.append(_decay(curve, subject, prefix))
    return checks, curve


def _window_checks(
    preds: pd.DataFrame,
    sessions: np.ndarray,
    daily: pd.Series,
    n: int,
    subject: str,
    expectation: Expectation | None,
    horizon: int,
    prefix: str,
) -> list[Check]:
    recent = daily.iloc[-n:]
    rows = preds[np.isin(sessions, recent.index)]
    ic = float(recent.mean())
    have = f"{len(recent)} of {n} sessions"
    if expectation is None:
        ic_check = Check(
            LIVE,
            f"{prefix}_ic_{n}s",
            subject,
            ic,
            float("nan"),
            "ok",
            f"{have}; no walk-forward expectation",
        )
    else:
        low, high = expectation.band(len(recent))
        status = "warn" if len(recent) == n and ic < low else "ok"
        detail = f"{have}; expected {expectation.estimate:+.4f} (band {low:+.4f} to {high:+.4f})"
        ic_check = Check(LIVE, f"{prefix}_ic_{n}s", subject, ic, low, status, detail)
    agree = np.sign(rows["predicted"]) == np.sign(rows["realized"])
    called = (rows["predicted"] != 0) & (rows["realized"] != 0)
    hit = float(agree[called].mean()) if called.any() else float("nan")
    slots = trade_slots(rows["time"], horizon)
    pnl = trade(
        rows["realized"].to_numpy()[slots],
        np.sign(rows["predicted"].to_numpy()[slots]),
        rows["cost_bps"].to_numpy()[slots],
    )
    return [
        ic_check,
        Check(
            LIVE,
            f"{prefix}_hit_rate_{n}s",
            subject,
            hit,
            0.5,
            "ok",
            f"{have}, {int(called.sum())} bars",
        ),
        Check(
            LIVE,
            f"{prefix}_net_bps_{n}s",
            subject,
            float(pnl["net_mean_bps"]),
            0.0,
            "ok",
            f"{have}, {pnl['trades']} trades, sign strategy net of the spread",
        ),
    ]


def _curve(daily: pd.Series, expectation: Expectation | None) -> pd.DataFrame:
    frame = pd.DataFrame({"session": daily.index, "daily_ic": daily.to_numpy(dtype=float)})
    frame["session"] = pd.to_datetime(frame["session"].astype("int64"), unit="D", utc=True)
    rolling = frame["daily_ic"].rolling(SUSTAINED_WINDOW, min_periods=1)
    frame["rolling_ic"] = rolling.mean()
    count = rolling.count().to_numpy()
    if expectation is None:
        frame["band_low"] = frame["band_high"] = np.nan
    else:
        bands = [expectation.band(int(n)) for n in count]
        frame["band_low"] = [b[0] for b in bands]
        frame["band_high"] = [b[1] for b in bands]
    frame["full_window"] = count >= SUSTAINED_WINDOW
    return frame


def _decay(curve: pd.DataFrame, subject: str, prefix: str) -> Check:
    """``fail`` when the full 20-session mean sat below its band on each of the last
    ``SUSTAINED_SESSIONS`` sessions."""
    tail = curve[curve["full_window"]].tail(SUSTAINED_SESSIONS)
    below = int((tail["rolling_ic"] < tail["band_low"]).sum())
    sustained = len(tail) == SUSTAINED_SESSIONS and below == SUSTAINED_SESSIONS
    detail = (
        f"the {SUSTAINED_WINDOW}-session IC was below its band on {below} of the last "
        f"{len(tail)} sessions"
        if len(tail)
        else f"not enough sessions yet (the {SUSTAINED_WINDOW}-session IC needs "
        f"{SUSTAINED_WINDOW} scored sessions)"
    )
    return Check(
        LIVE,
        f"{prefix}_decay",
        subject,
        float(below),
        float(SUSTAINED_SESSIONS),
        "fail" if sustained else "ok",
        detail,
    )
