"""The live signal as the service shows it: the latest decision, its age, each feed's lag,
and ``stale`` with the reason whenever it cannot be trusted as the signal of the moment."""

from __future__ import annotations

from typing import Any

import pandas as pd

from src_clean.lake import Lake
from src_clean.live import decisions
from src_clean.training.champion import direction


def stale_reason(
    row: pd.Series, now: pd.Timestamp, stale_after_s: float, news_stale_after_s: float
) -> str | None:
    """Why the decision ``row`` is not the signal of the moment; None when it is."""
    age = (now - row["decision_time"]).total_seconds()
    if row["status"] != decisions.DECIDED:
        return f"the latest bar was {row['status']}: {row['reason']}"
    if age > stale_after_s:
        return (
            f"the latest decision is {age:.0f} s old (limit {stale_after_s:.0f} s): the live "
            "process or the market feed is behind"
        )
    news_lag = row["news_lag_s"]
    if pd.notna(news_lag) and news_lag > news_stale_after_s:
        return (
            f"the news feed's newest article was {news_lag:.0f} s old at the decision (limit "
            f"{news_stale_after_s:.0f} s)"
        )
    return None


def live_signal(
    lake: Lake,
    model_name: str,
    now: pd.Timestamp,
    stale_after_s: float,
    news_stale_after_s: float,
) -> dict[str, Any] | None:
    """The latest ``live/decisions`` row of ``model_name`` as a signal; None before the
    first decision (the service then shows the batch signal of the last gold bar)."""
    row = decisions.latest(lake, model_name)
    if row is None:
        return None
    reason = stale_reason(row, now, stale_after_s, news_stale_after_s)
    predicted = row["predicted_return_bps"]
    decided = row["status"] == decisions.DECIDED and pd.notna(predicted)

    def when(value: Any) -> Any:
        return None if pd.isna(value) else pd.Timestamp(value).to_pydatetime()

    return {
        "source": "live",
        "state": "stale" if reason else "fresh",
        "stale_reason": reason,
        "instrument": None,
        "bar_time": when(row["bar_time"]),
        "decision_time": when(row["decision_time"]),
        "predicted_return_bps": float(predicted) if decided else None,
        "direction": direction(float(predicted)) if decided else None,
        "model_name": model_name,
        "model_version": row["model_version"] if pd.notna(row["model_version"]) else "",
        "model_run_id": row["model_run_id"] if pd.notna(row["model_run_id"]) else "",
        "sentiment_model_id": row["sentiment_model_id"]
        if pd.notna(row["sentiment_model_id"])
        else None,
        "feature_freshness": {
            "features_as_of": when(row["decision_time"]),
            "age_seconds": max(0.0, (now - row["decision_time"]).total_seconds()),
            "gold_sentiment_model_id": None,
        },
        "feeds": {
            "market_data_time": when(row["market_data_time"]),
            "market_lag_s": None if pd.isna(row["market_lag_s"]) else float(row["market_lag_s"]),
            "news_data_time": when(row["news_data_time"]),
            "news_lag_s": None if pd.isna(row["news_lag_s"]) else float(row["news_lag_s"]),
        },
    }
