"""What the ``sp500_live`` DAG runs: one ``live --ticks 1`` every 15 minutes, for when
minute freshness is not needed and no live service runs (``docs/live.md``).

A scheduled run reloads the scorer and the champion, fetches the feeds the daily DAG
fetches (``SP500_SOURCES``: ``oanda`` the candles, ``gdelt`` and ``rss`` the news; GKG
files are history, not live), decides every bar that closed within ``deadline_s`` (the
15-minute interval plus 5 minutes to start and load) and writes the older ones as
``missed``; it gives up in one line after ``LEASE_TIMEOUT_S`` when a live service holds
the lake's lease. ``plan`` is the body of its task of that name. Nothing heavy is
imported: the DAG file imports this module when it is parsed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from src_clean import tables
from src_clean.orchestration.airflow_lookups import runtime_settings
from src_clean.orchestration.assets import asset

if TYPE_CHECKING:
    from airflow.sdk import Asset

SCHEDULE = "*/15 * * * *"
INTERVAL_S = 15 * 60
DEADLINE_S = INTERVAL_S + 5 * 60
LEASE_TIMEOUT_S = 60
LIVE_NEWS = ("gdelt", "rss")  # the SP500_SOURCES a live tick fetches news from
TASK_ID = "live"


def outlets() -> list[Asset]:
    """The Asset a run writes to: the decisions table."""
    return [asset(tables.LIVE_DECISIONS)]


def plan(params: dict[str, Any] | None = None) -> list[str]:
    """The ``live`` argv of one scheduled run (the lake resolved at run time; the MLflow
    URI travels in the task's settings, never in argv)."""
    params, settings = params or {}, runtime_settings()
    argv = [
        TASK_ID,
        "--lake",
        settings.lake_root,
        "--ticks",
        "1",
        "--deadline-s",
        str(int(params.get("deadline_s", DEADLINE_S))),
        "--lease-timeout-s",
        str(LEASE_TIMEOUT_S),
    ]
    if "oanda" in settings.sources:
        argv.append("--fetch-market")
    news = [source for source in LIVE_NEWS if source in settings.sources]
    if news:
        argv += ["--fetch-news", ",".join(news)]
    return argv
