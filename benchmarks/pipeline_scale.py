"""Five years of M1 data through bronze -> silver -> gold, one more day incrementally, training.

Phases (each in its own spawned process; per-stage peak RSS via /proc VmHWM, reset per stage):

  1. full      ``--days`` days of sample data (about 1.8M candles and 100,000 articles for
               the default 1,826) ingested and processed by every stage: bronze market and
               news, silver features, silver sentiment (lexicon scorer: the data path, not
               the model, is measured here; see sentiment_throughput.py), gold news signals
               (60 min window), gold training set (30 min labels).
  2. daily     one more day: bronze from that day's files only, silver and gold with
               ``--start/--end`` = that day, except the training set, rebuilt from the day
               before: the previous day's last 30 minutes get their labels only now.
  3. check     a full recompute over all ``--days + 1`` days in a fresh lake; the last two
               days of every table must equal the incremental lake's (exactly, ignoring
               run-time columns: ingested_at, scored_at, source_file's folder).
  4. train     the ``train`` stage (the walk-forward verdict) on the 5-year gold set;
               ``walk_forward.py`` breaks its time down by fold.

Sample data generation is timed separately and not counted. Goals: full within 1.2x of the
Parquet lake's 106.4 s and < 6 GB, daily < 5 s and exact (issue 11, the Delta lake; issue 6
had 3 min and 15 s); train < 15 min and < 8 GB (issue 22).

    python benchmarks/pipeline_scale.py                       # 5 years (~10 min here)
    python benchmarks/pipeline_scale.py --days 20 --profile   # smoke run, cProfile per stage
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import io
import multiprocessing
import os
import pstats
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from src_clean import tables
from src_clean.lake import Lake
from src_clean.memory import peak_rss_mb, reset_peak_rss
from src_clean.orchestration.run_window import DateRange
from src_clean.orchestration.stages import STAGES, RunContext
from src_clean.orchestration.trigger_form import RunParams
from src_clean.run_full_pipeline import chunked_stages
from src_clean.settings import Settings

START = dt.date(2020, 1, 1)
DAYS = 1826
ARTICLES_PER_DAY = 55
SEED = 1
BLOCK_ARTICLES, BLOCK_DAYS = 1_000_000, 60  # sample data generated in blocks above this
WINDOW_MINUTES = tables.CANONICAL_WINDOW
HORIZON_MINUTES = tables.CANONICAL_HORIZON
FULL_GOAL_S, FULL_GOAL_MB = 1.2 * 106.4, 6 * 1024
DAILY_GOAL_S, DAILY_GOAL_MB = 5.0, 1024  # issue 37: at 365 days of 20k articles a day
MEMORY_BUDGET_MB = Settings.model_fields["memory_budget_mb"].default
TRAIN_GOAL_S, TRAIN_GOAL_MB = 900.0, 8 * 1024  # the walk-forward verdict (issue 22)
RUN_TIME_COLUMNS = ("ingested_at", "scored_at")


@dataclass(frozen=True)
class Stage:
    """One timed stage: wall seconds, peak RSS while it ran, and its one-line outcome."""

    name: str
    seconds: float
    peak_rss_mb: float
    outcome: str


@dataclass(frozen=True)
class Inputs:
    """Raw sample files: all days, all but the last day, and the last day alone."""

    everything: Path
    history: Path
    last_day: Path
    day: dt.date


# -- measuring -----------------------------------------------------------------------------


def timed(
    name: str,
    work: Callable[[], Any],
    profile: bool = False,
    describe: Callable[[Any], str] = lambda report: report.summary(),
) -> Stage:
    """Run ``work``; ``describe`` turns its result into the stage's outcome line."""
    reset_peak_rss()
    profiler = cProfile.Profile() if profile else None
    began = time.perf_counter()
    result = profiler.runcall(work) if profiler else work()
    seconds = time.perf_counter() - began
    if profiler:
        print_profile(name, profiler)
    return Stage(name, seconds, peak_rss_mb(), describe(result))


def print_profile(name: str, profiler: cProfile.Profile, top: int = 15) -> None:
    """The ``top`` functions by cumulative time."""
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    print(f"--- cProfile {name} ---\n{out.getvalue()}", flush=True)


def in_child(function: Callable[..., list[Stage]], *args: Any) -> list[Stage]:
    """``function(*args)`` in a fresh spawned process: its memory is its own."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


# -- the phases (run in child processes) ---------------------------------------------------


def run_quietly(argv: list[str]) -> str:
    """``python -m src_clean <argv>`` in this process; its first output line."""
    from src_clean import cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.run(cli.parse(argv))
    if code:
        raise RuntimeError(f"{argv[0]} exited with status {code}")
    return next(iter(out.getvalue().splitlines()), "")


def pipeline(
    lake_root: Path,
    market: Path,
    news: Path,
    start: dt.date | None = None,
    end: dt.date | None = None,
    profile: bool = False,
    memory_budget_mb: int = MEMORY_BUDGET_MB,
) -> list[Stage]:
    """Every stage of the registry but training over ``[start, end]`` (None: everything).

    The same argv as the DAG's tasks, with the lexicon scorer. The training set is rebuilt
    from the day before ``start``: the previous day's last ``HORIZON_MINUTES`` bars get
    their labels from the new day. Everything (None) runs as ``run_full_pipeline.py``
    does: silver and gold over chunks of dates that fit ``memory_budget_mb``; a stage's
    figures are then its chunks' summed seconds and highest peak.
    """
    ctx = RunContext(
        lake_root=str(lake_root),
        landing_market=str(market),
        landing_news=str(news),
        days=DateRange(start, end) if start and end else None,
        label_start=start - dt.timedelta(days=1) if start else None,
        params=RunParams(window=WINDOW_MINUTES, prediction_horizon=HORIZON_MINUTES),
        sentiment_model="lexicon",
    )
    os.environ["SP500_MEMORY_BUDGET_MB"] = str(memory_budget_mb)  # bronze's batches
    stages = [s for s in STAGES.values() if s.layer in ("bronze", "silver", "gold")]
    runs = (
        chunked_stages(stages, ctx, memory_budget_mb)
        if ctx.days is None
        else ((stage, ctx) for stage in stages)
    )
    timings = [
        timed(stage.task_id, lambda s=stage, c=run_ctx: run_quietly(s.argv(c)), profile, str)
        for stage, run_ctx in runs
    ]
    return [combined([t for t in timings if t.name == s.task_id]) for s in stages]


def combined(chunks: list[Stage]) -> Stage:
    """One stage's chunks as one row: summed seconds, the highest peak, the last outcome
    (with the number of chunks when there were several)."""
    note = f" [{len(chunks)} chunks]" if len(chunks) > 1 else ""
    return Stage(
        chunks[0].name,
        sum(c.seconds for c in chunks),
        max(c.peak_rss_mb for c in chunks),
        chunks[-1].outcome + note,
    )


def training(lake_root: Path, profile: bool = False) -> list[Stage]:
    """The registry's ``train`` stage (early stopping) with a local MLflow store."""
    ctx = RunContext(
        lake_root=str(lake_root),
        landing_market="",
        landing_news="",
        mlflow_tracking_uri=f"sqlite:///{lake_root / 'mlflow.db'}",
    )
    argv = STAGES["train"].argv(ctx)
    summary = lambda _: Lake(lake_root).files.read_json(tables.TRAINING_SUMMARY)  # noqa: E731
    return [
        timed("train", lambda: run_quietly(argv), profile, lambda o: describe_training(summary(o)))
    ]


def describe_training(summary: dict[str, Any]) -> str:
    """Rows per split and each model's early-stopping iteration."""
    models = {k: v for k, v in summary.items() if isinstance(v, dict) and "best_iteration" in v}
    stops = ", ".join(f"{name} stopped at {m['best_iteration']}" for name, m in models.items())
    return (
        f"train/val/test rows {summary['n_train']}/{summary['n_val']}/{summary['n_test']}; {stops}"
    )


# -- inputs and the exactness check --------------------------------------------------------


def generate(workdir: Path, days: int, articles_per_day: float) -> Inputs:
    """Sample data for ``days + 1`` days (kept if already in ``workdir``), hard-linked
    into a history folder and a last-day folder. Above ``BLOCK_ARTICLES`` articles in all,
    the days are generated in blocks of ``BLOCK_DAYS`` (seeds ``SEED + block``), daily JSONL
    only, so generation holds one block in memory; each block's market starts afresh."""
    from src_clean.sample_data import generate_sample_data

    everything = workdir / "raw-all"
    if not (everything / "done").is_file():
        began = time.perf_counter()
        total = days + 1
        blocks = 1 if total * articles_per_day <= BLOCK_ARTICLES else -(-total // BLOCK_DAYS)
        size = -(-total // blocks)
        for block in range(blocks):
            first = START + dt.timedelta(days=block * size)
            count = min(size, total - block * size)
            out = everything if blocks == 1 else everything / "blocks" / str(first)
            sample = generate_sample_data(
                out, first, count, SEED + block, 25.0, articles_per_day, article_files=blocks == 1
            )
            print(f"sample data {first} +{count} days: {sample.summary()}", flush=True)
        for folder in ("market", "news/jsonl"):
            target = everything / folder
            target.mkdir(parents=True, exist_ok=True)
            for path in sorted((everything / "blocks").glob(f"*/{folder}/*")):
                if not (target / path.name).exists():
                    os.link(path, target / path.name)
        (everything / "done").write_text("")
        print(f"sample data in {time.perf_counter() - began:.0f}s (not counted)")
    day = START + dt.timedelta(days=days)
    inputs = Inputs(everything, workdir / "raw-history", workdir / "raw-last-day", day)
    for folder in ("market", "news/jsonl"):
        for path in sorted((everything / folder).iterdir()):
            target = inputs.last_day if day.isoformat() in path.name else inputs.history
            (target / folder).mkdir(parents=True, exist_ok=True)
            if not (target / folder / path.name).exists():
                os.link(path, target / folder / path.name)
    return inputs


def comparable(lake: Lake, table: str, days: list[dt.date]) -> pd.DataFrame:
    """The rows of ``days`` without run-time columns; ``source_file`` reduced to its name."""
    frame = lake.read(table, days[0], days[-1])
    frame = frame.drop(columns=[c for c in RUN_TIME_COLUMNS if c in frame.columns])
    if "source_file" in frame.columns:
        frame["source_file"] = frame["source_file"].map(lambda uri: Path(uri).name)
    return frame.reset_index(drop=True)


def check_tables(incremental: Lake, full: Lake, days: list[dt.date]) -> list[tuple[str, str]]:
    """(table, "" if identical else the first difference) for each checked table."""
    outcome = []
    for table in tables.LAYER_TABLES:
        try:
            pd.testing.assert_frame_equal(
                comparable(incremental, table, days), comparable(full, table, days)
            )
            outcome.append((table, ""))
        except AssertionError as error:
            outcome.append((table, str(error).splitlines()[0]))
    return outcome


# -- report --------------------------------------------------------------------------------


def print_stages(title: str, stages: list[Stage]) -> tuple[float, float]:
    """A table of ``stages``; returns (total seconds, peak RSS MB)."""
    print(f"\n{title}")
    for s in stages:
        print(f"  {s.name:<17}{s.seconds:>8.1f}s{s.peak_rss_mb:>9.0f} MB   {s.outcome[:110]}")
    total, peak = sum(s.seconds for s in stages), max(s.peak_rss_mb for s in stages)
    print(f"  {'total':<17}{total:>8.1f}s{peak:>9.0f} MB")
    return total, peak


def verdict(passed: bool, text: str) -> bool:
    print(f"{'PASS' if passed else 'FAIL'}  {text}")
    return passed


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=DAYS, help="days before the appended one")
    parser.add_argument("--articles-per-day", type=float, default=ARTICLES_PER_DAY)
    parser.add_argument("--workdir", type=Path, help="keep the sample data here between runs")
    parser.add_argument("--profile", action="store_true", help="cProfile every stage")
    parser.add_argument("--skip-check", action="store_true", help="no full recompute check")
    parser.add_argument("--skip-train", action="store_true", help="no training phase")
    parser.add_argument(
        "--memory-budget-mb",
        type=int,
        default=MEMORY_BUDGET_MB,
        help="the full run's chunk and batch budget (SP500_MEMORY_BUDGET_MB)",
    )
    return parser.parse_args()


def run(args: argparse.Namespace, workdir: Path) -> int:
    inputs = generate(workdir, args.days, args.articles_per_day)
    incremental, full = workdir / "lake-incremental", workdir / "lake-full"
    print(f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    history = in_child(
        pipeline,
        incremental,
        inputs.history / "market",
        inputs.history / "news/jsonl",
        None,
        None,
        args.profile,
        args.memory_budget_mb,
    )
    total, peak = print_stages(f"full: {args.days} days", history)
    articles = sum(Lake(incremental).partition_rows(tables.BRONZE_NEWS).values())
    if articles:
        per_million = ", ".join(f"{s.name} {s.seconds / articles * 1e6:.1f}" for s in history)
        print(f"  seconds per million articles ({articles:,}): {per_million}")
    daily = in_child(
        pipeline,
        incremental,
        inputs.last_day / "market",
        inputs.last_day / "news/jsonl",
        inputs.day,
        inputs.day,
        args.profile,
    )
    daily_total, daily_peak = print_stages(f"daily: {inputs.day}", daily)
    budget = min(FULL_GOAL_MB, args.memory_budget_mb)
    results = [
        verdict(total < FULL_GOAL_S, f"full pipeline {total:.0f}s < {FULL_GOAL_S:.0f}s"),
        verdict(peak < budget, f"full pipeline peak RSS {peak:.0f} MB < {budget} MB"),
        verdict(daily_total < DAILY_GOAL_S, f"daily run {daily_total:.1f}s < {DAILY_GOAL_S:.0f}s"),
        verdict(daily_peak < DAILY_GOAL_MB, f"daily peak RSS {daily_peak:.0f} MB < 1 GB"),
    ]
    if not args.skip_check:
        recompute = in_child(
            pipeline, full, inputs.everything / "market", inputs.everything / "news/jsonl"
        )
        print_stages(f"check: full recompute of {args.days + 1} days", recompute)
        days = [inputs.day - dt.timedelta(days=1), inputs.day]
        for table, difference in check_tables(Lake(incremental), Lake(full), days):
            text = f"daily = full recompute on {days[0]}..{days[1]}: {table}"
            results.append(verdict(not difference, f"{text} {difference}".rstrip()))
    if not args.skip_train:
        trained = in_child(training, incremental, args.profile)
        seconds, rss = print_stages("train", trained)
        goal = f"train {seconds:.0f}s < {TRAIN_GOAL_S:.0f}s"
        results.append(verdict(seconds < TRAIN_GOAL_S, goal))
        results.append(verdict(rss < TRAIN_GOAL_MB, f"train peak RSS {rss:.0f} MB < 8 GB"))
    print(f"load {os.getloadavg()[0]:.1f} at the end")
    return 0 if all(results) else 1


def main() -> int:
    args = parse_args()
    if args.workdir:
        for lake in ("lake-incremental", "lake-full"):
            shutil.rmtree(args.workdir / lake, ignore_errors=True)
        return run(args, args.workdir)
    with tempfile.TemporaryDirectory() as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    raise SystemExit(main())
