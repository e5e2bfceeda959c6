"""One run's plan: the argv of every enabled stage, the tables the routed ones write, and the
time window market data must fill. The DAG's ``plan`` task returns exactly this."""

from __future__ import annotations

import datetime as dt
from typing import Any

from src_clean.orchestration.assets import written_key
from src_clean.orchestration.default_dates import with_default_dates
from src_clean.orchestration.run_window import run_window
from src_clean.orchestration.stages import RunContext, enabled_stages
from src_clean.orchestration.trigger_form import RunParams
from src_clean.settings import Settings

MARKET_WINDOW = "market_window"


def build_plan(
    params: RunParams,
    settings: Settings,
    data_interval_start: dt.datetime | None = None,
    data_interval_end: dt.datetime | None = None,
    run_after: dt.datetime | None = None,
) -> dict[str, Any]:
    """Per enabled stage its argv (key: task id), per routed stage the tables it writes
    (``written:<task id>``), and ``market_window``: the ``[start, end)`` the freshness
    check asks candles for (ISO strings). InvalidRunParams on a bad trigger form."""
    params = with_default_dates(params, settings)
    window = run_window(params, data_interval_start, data_interval_end, run_after)
    ctx = RunContext.for_run(settings, params, window.days, window.run_ts)
    ctx = ctx.with_market_window(window.start, window.end)
    stages = enabled_stages(settings)
    plan: dict[str, Any] = {stage.task_id: stage.argv(ctx) for stage in stages}
    plan |= {written_key(s.task_id): list(s.written(ctx)) for s in stages if s.route}
    plan[MARKET_WINDOW] = [window.start.isoformat(), window.end.isoformat()]
    return plan
