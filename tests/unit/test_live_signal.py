"""The live signal's stale rule (issue 38.4): a decision is the signal of the moment only
while it is recent, decided, and its news feed was not late."""

from __future__ import annotations

import pandas as pd

from src_clean.live import decisions
from src_clean.live.signal import stale_reason

NOW = pd.Timestamp("2024-03-05T15:00:30Z")


def _row(bar: str, status: str = decisions.DECIDED, news_lag_s: float = 60.0) -> pd.Series:
    row = decisions.row(pd.Timestamp(bar), "m", status, "why", news_lag_s=news_lag_s)
    return pd.Series(row)


def test_a_recent_decision_is_fresh() -> None:
    assert stale_reason(_row("2024-03-05T14:59Z"), NOW, 180, 3600) is None


def test_an_old_decision_is_stale_with_its_age() -> None:
    reason = stale_reason(_row("2024-03-05T14:50Z"), NOW, 180, 3600)
    assert reason and "570 s old (limit 180 s)" in reason


def test_a_late_news_feed_or_an_undecided_bar_is_stale() -> None:
    late = stale_reason(_row("2024-03-05T14:59Z", news_lag_s=4000), NOW, 180, 3600)
    assert late and "4000 s old at the decision" in late
    missed = stale_reason(_row("2024-03-05T14:59Z", decisions.MISSED), NOW, 180, 3600)
    assert missed == "the latest bar was missed: why"
    nan_lag = stale_reason(_row("2024-03-05T14:59Z", news_lag_s=float("nan")), NOW, 180, 3600)
    assert nan_lag is None  # no article yet is not a late feed
