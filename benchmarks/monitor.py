"""``monitor`` at five-year scale: one day (first run after a promotion, which calibrates
the drift thresholds once, then a warm day) and the whole five years (the backfill case),
each in a spawned process whose time and peak RSS are its own.

The lake is ``walk_forward.py``'s five-year gold set (built once into ``--workdir``). A
champion is trained on its last ``--train-days`` days (the registry's ``train`` stage,
defaults), so drift has a reference and the live record has bars it never read (the days
after the lake's training window are none: the live record is the holdout sessions).

Goals (issue 24): one day under 10 s; five years under 5 minutes and 4 GB.

    python benchmarks/monitor.py --workdir /tmp/wf
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import time
from pathlib import Path
from typing import Any

from pipeline_scale import DAYS, in_child, peak_rss_mb, reset_peak_rss, verdict
from walk_forward import build_lake, cpu_flags

DAY_GOAL_S, YEARS_GOAL_S, YEARS_GOAL_MB = 10.0, 300.0, 4 * 1024


def train_champion(lake_root: Path, days: int) -> list[dict[str, Any]]:
    from src_clean import tables
    from src_clean.lake import Lake
    from src_clean.training.config import TrainConfig
    from src_clean.training.train import train

    lake = Lake(lake_root)
    last = lake.partitions(tables.GOLD_TRAINING)[-1]
    config = TrainConfig(start=last - dt.timedelta(days=days), end=last)
    began = time.perf_counter()
    summary = train(lake, config)
    return [{"seconds": time.perf_counter() - began, "decision": summary["champion_decision"]}]


def monitor(lake_root: Path, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    from src_clean.lake import Lake
    from src_clean.monitoring.monitor import run_monitor

    reset_peak_rss()
    began = time.perf_counter()
    result = run_monitor(Lake(lake_root), start, end)
    return [
        {
            "seconds": time.perf_counter() - began,
            "peak_rss_mb": peak_rss_mb(),
            "status": result.status,
            "counts": result.counts,
            "scored": result.scored,
        }
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument("--train-days", type=int, default=120)
    args = parser.parse_args()
    print(f"machine: {cpu_flags()}")
    lake = build_lake(args.workdir, args.days)
    from src_clean import tables
    from src_clean.lake import Lake

    days = Lake(lake).partitions(tables.GOLD_TRAINING)
    if not (lake / "mlflow.db").exists():  # the champion's store (the lake's default)
        [trained] = in_child(train_champion, lake, args.train_days)
        print(f"champion trained in {trained['seconds']:.0f}s: {trained['decision']['reason']}")
    # a cold first run: no calibration and no live record yet (as after a promotion)
    for kept in ("predictions", "checks", "_calibration"):
        shutil.rmtree(lake / "monitoring" / kept, ignore_errors=True)
    runs = {
        "one day, first run (calibrates)": (days[-2], days[-2]),
        "one day, warm": (days[-1], days[-1]),
        "five years": (days[0], days[-1]),
    }
    passed = True
    for name, (start, end) in runs.items():
        [found] = in_child(monitor, lake, start, end)
        print(
            f"{name} ({start}..{end}): {found['seconds']:.1f} s, peak RSS "
            f"{found['peak_rss_mb']:.0f} MB, {found['status']} {found['counts']}, "
            f"{found['scored']} predictions scored"
        )
        if name == "one day, warm":
            passed &= verdict(found["seconds"] < DAY_GOAL_S, f"one day < {DAY_GOAL_S:.0f} s")
        if name == "five years":
            passed &= verdict(found["seconds"] < YEARS_GOAL_S, f"five years < {YEARS_GOAL_S:.0f} s")
            passed &= verdict(found["peak_rss_mb"] < YEARS_GOAL_MB, "five years < 4 GB RSS")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
