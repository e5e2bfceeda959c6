"""The live path's latency: from a bar's close to its row in ``live/decisions``.

Builds a sample lake with the batch pipeline (lexicon scorer) over ``--days`` days,
trains a champion (MLflow, XGBoost, a short null), then replays the next day through
``LiveRunner`` bar by bar: each bar's candle and the articles collected before its close
land as files (``live.replay.Replay``), and one tick runs with the clock at the bar's
close. A tick's wall time is the decision latency beyond the feeds' own; printed per step
(champion refresh, bronze, sentiment, features and prediction, write) as p50 / p95 / max,
with the process's RSS after the first and the last tick.

Goal (issue 38): p95 from a bar's close to its decision written <= 90 s, and RSS flat over
a simulated day of 1,380 bars.

    python benchmarks/live_latency.py                 # a whole day (about 25 min on 2 cores)
    python benchmarks/live_latency.py --bars 200      # the first 200 bars after 14:00 UTC
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from src_clean import tables
from src_clean.lake import Lake
from src_clean.live.features import feature_hash
from src_clean.live.replay import Replay
from src_clean.live.runner import LiveConfig, LiveRunner
from src_clean.memory import rss_mb
from src_clean.run_full_pipeline import PipelineConfig, run_pipeline
from src_clean.sample_data import generate_sample_data
from src_clean.training.config import TrainConfig
from src_clean.training.train import train

START = dt.date(2024, 1, 1)
GOAL_P95_S = 90.0
MODEL = "sp500-live-bench"


def build(workdir: Path, days: int, articles_per_day: float) -> tuple[Path, str, dt.date]:
    """Sample data for ``days + 1`` days; the batch lake and a champion over the first
    ``days``, and the batch lake of every day (``workdir/reference``, the parity
    reference); returns the raw folder, the tracking URI and the replayed day."""
    raw, lake_root = workdir / "raw", workdir / "lake"
    generate_sample_data(raw, START, days + 1, 7, 25.0, articles_per_day, article_files=False)
    day = START + dt.timedelta(days=days)
    history = workdir / "history"
    for folder in ("market", "news/jsonl"):
        (history / folder).mkdir(parents=True)
        for path in (raw / folder).iterdir():
            if str(day) not in path.name:
                os.link(path, history / folder / path.name)
    run_pipeline(
        PipelineConfig(
            lake=lake_root,
            bronze_market=history / "market",
            bronze_news=history / "news/jsonl",
            sentiment_model="lexicon",
            until="gold",
        )
    )
    run_pipeline(
        PipelineConfig(
            lake=workdir / "reference",
            bronze_market=raw / "market",
            bronze_news=raw / "news/jsonl",
            sentiment_model="lexicon",
            until="gold",
        )
    )
    uri = f"sqlite:///{lake_root}/mlflow.db"
    config = TrainConfig(
        tracking_uri=uri, registered_model=MODEL, null_permutations=19, n_seeds=1, bootstrap=50
    )
    train(Lake(lake_root), config)
    return raw, uri, day


def percentiles(values: list[float]) -> str:
    p50, p95 = np.percentile(values, [50, 95])
    return f"p50 {p50:.2f} s, p95 {p95:.2f} s, max {max(values):.2f} s"


def parity(runner: LiveRunner, workdir: Path, day: dt.date) -> str:
    """How many decided rows have the batch gold row's features (bit for bit, by hash) and
    the champion's prediction on that row."""
    champion = runner.tracker.champion
    rows = Lake(workdir / "lake").read(tables.LIVE_DECISIONS, day, day)
    rows = rows.loc[rows["status"] == "decided"].set_index("bar_time")
    gold = Lake(workdir / "reference").read(tables.GOLD_TRAINING, day, day).set_index("time")
    expected = gold.loc[rows.index, champion.features].astype(np.float64)
    same_features = sum(
        feature_hash(expected.loc[bar]) == rows.loc[bar, "feature_hash"] for bar in rows.index
    )
    predicted = np.asarray(champion.model.predict(expected.reset_index(drop=True))).reshape(-1)
    same_predictions = int((predicted == rows["predicted_return_bps"].to_numpy()).sum())
    return (
        f"features identical on {same_features} of {len(rows)} decided bars, "
        f"predictions on {same_predictions} of {len(rows)}"
    )


def run(args: argparse.Namespace, workdir: Path) -> int:
    flags = sorted(
        set(Path("/proc/cpuinfo").read_text().split())
        & {"avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile"}
    )
    print(f"{os.cpu_count()} CPUs, flags {' '.join(flags)}; load {os.getloadavg()[0]:.1f}")
    began = time.perf_counter()
    raw, uri, day = build(workdir, args.days, args.articles_per_day)
    print(f"lake and champion built in {time.perf_counter() - began:.0f} s (not counted)")
    market = next((raw / "market").glob(f"*{day}*"))
    replay = Replay(market, next((raw / "news/jsonl").glob(f"{day}*")), workdir / "landing")
    bars = [b for b in replay.bars() if b >= pd.Timestamp(f"{day}T{args.first}Z")]
    bars = bars[: args.bars] if args.bars else bars
    clock = [bars[0]]
    config = LiveConfig(
        lake_root=str(workdir / "lake"),
        landing_market=str(workdir / "landing" / "market"),
        landing_news=str(workdir / "landing" / "news"),
        sentiment_model="lexicon",
        tracking_uri=uri,
        model_name=MODEL,
    )
    runner = LiveRunner(config, clock=lambda: clock[0])
    totals: list[float] = []
    steps: dict[str, list[float]] = {}
    rss = []
    for bar in bars:
        replay.land_through(bar)
        clock[0] = bar + pd.Timedelta(minutes=1)
        tick_began = time.perf_counter()
        report = runner.tick()
        totals.append(time.perf_counter() - tick_began)
        for step, seconds in report.seconds.items():
            steps.setdefault(step, []).append(seconds)
        rss.append(rss_mb())
        if report.decided != 1:
            print(f"bar {bar}: {report.summary()}")
        if len(totals) % 100 == 0:  # a long replay shows where it is
            print(f"{len(totals)} bars: {percentiles(totals)}; RSS {rss[-1]:.0f} MB", flush=True)
    print(f"\n{len(bars)} bars of {day} from {bars[0]:%H:%M} UTC, one tick each:")
    print(f"  close -> decision written: {percentiles(totals)}")
    for step, values in steps.items():
        print(f"    {step:<10} {percentiles(values)}")
    marks = sorted({0, len(rss) // 4, len(rss) // 2, 3 * len(rss) // 4, len(rss) - 1})
    print("  RSS after tick " + ", ".join(f"{n + 1}: {rss[n]:.0f} MB" for n in marks))
    print(f"  parity with the batch gold of the day: {parity(runner, workdir, day)}")
    p95 = float(np.percentile(totals, 95))
    passed = p95 <= GOAL_P95_S
    print(f"{'PASS' if passed else 'FAIL'}  p95 {p95:.2f} s <= {GOAL_P95_S:.0f} s")
    return 0 if passed else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=24, help="history days before the replay")
    parser.add_argument("--articles-per-day", type=float, default=55.0)
    parser.add_argument("--bars", type=int, help="replay only this many bars")
    parser.add_argument("--first", default="14:00", help="first replayed bar, HH:MM UTC")
    parser.add_argument("--workdir", type=Path, help="keep the lake here (emptied first)")
    args = parser.parse_args()
    if args.workdir:
        shutil.rmtree(args.workdir, ignore_errors=True)
        args.workdir.mkdir(parents=True)
        return run(args, args.workdir)
    with tempfile.TemporaryDirectory() as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    raise SystemExit(main())
