"""A long run in bounded memory: consecutive date chunks sized by the articles they hold.

A full run (``run_full_pipeline.py``, ``benchmarks/pipeline_scale.py``) is the daily run
repeated: the silver and gold stages run over one chunk of dates at a time, each chunk
committed on its own, exactly as the DAG's daily runs do (the training set starting a day
early, so the previous chunk's last bars get their labels). A chunk holds at most
``articles_per_chunk(memory_budget_mb)`` articles, or one day when a day holds more, and
at least one day of candles.
"""

from __future__ import annotations

import datetime as dt

from src_clean import tables
from src_clean.lake import Lake
from src_clean.memory import articles_per_chunk
from src_clean.orchestration.run_window import DateRange


def plan_chunks(lake: Lake, memory_budget_mb: int) -> list[DateRange]:
    """Consecutive ranges covering every bronze date (candles or news, gaps included), each
    with at most ``articles_per_chunk`` articles (a larger day is a chunk of its own) and
    at least one day of candles (gold needs bars: a weekend joins its neighbours)."""
    news = lake.partition_rows(tables.BRONZE_NEWS)
    candle_days = set(lake.partitions(tables.BRONZE_CANDLES))
    days = sorted({*news, *candle_days})
    if not days:
        return []
    limit = articles_per_chunk(memory_budget_mb)
    chunks: list[DateRange] = []
    start, held, has_bars, day = days[0], 0, False, days[0]
    while day <= days[-1]:
        rows = news.get(day, 0)
        if held and has_bars and held + rows > limit:
            chunks.append(DateRange(start, day - dt.timedelta(days=1)))
            start, held, has_bars = day, 0, False
        held += rows
        has_bars |= day in candle_days
        day += dt.timedelta(days=1)
    if chunks and not has_bars:  # a tail without candles joins the chunk before it
        start = chunks.pop().start
    chunks.append(DateRange(start, days[-1]))
    return chunks
