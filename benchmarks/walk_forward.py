"""The walk-forward verdict on the five-year gold set: time per fold, null, lag curve,
holdout, peak RSS, and what the shared work saves.

The gold set is built by ``pipeline_scale.py``'s phase 1 (every bronze/silver/gold stage
over ``--days`` days of sample data, lexicon scorer) unless ``--workdir`` already holds
it. Training is the registry's ``train`` stage with its defaults (5 folds x 3 seeds, a
3-point grid per feature set, 20 shuffled-news permutations, a 4-point lag curve, the
holdout) and a local MLflow store, in a spawned process whose peak RSS is its own.

Shared work, measured in the same run: every ``QuantileDMatrix`` build is timed and
every reuse counted. Each reuse is a build that a fit-per-matrix design would have paid,
so "saved" is reuses x that fold's measured build time. The feature matrix (``Data``) is
built once; its build time is printed beside the number of fits that read it.

Goals (issue 22): the whole ``train`` under 15 minutes with peak RSS under 8 GB.

    python benchmarks/walk_forward.py --workdir /tmp/wf          # 5 years (build ~5 min)
    python benchmarks/walk_forward.py --days 60 --workdir /tmp/wf60   # smoke run
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from pipeline_scale import (
    ARTICLES_PER_DAY,
    DAYS,
    generate,
    in_child,
    peak_rss_mb,
    pipeline,
    reset_peak_rss,
    verdict,
)

GOAL_S, GOAL_MB = 15 * 60.0, 8 * 1024
# five years: every permutation scores the primary (a shuffle and an IC, ~0.2 s), the
# first 9 also refit with_news for the secondary (~20 s each): what fits the 15 minutes
# on 2 cores with a margin for slower days (a secondary p floor of 0.1, so a claim rests on
# the primary; 19 is the least with which the secondary could reach 0.05). More refits
# come from scaling out.
REFITS_5Y = 9


def cpu_flags() -> str:
    """The CPU model and the SIMD flags that matter for XGBoost's histograms."""
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((ln.split(":", 1)[1].strip() for ln in lines if "model name" in ln), "")
    flags = set(next(ln for ln in lines if ln.startswith("flags")).split())
    wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile")
    return f"{model}, {os.cpu_count()} CPUs, " + " ".join(f for f in wanted if f in flags)


def build_lake(workdir: Path, days: int) -> Path:
    """The lake with five years of gold (kept in ``workdir`` between runs)."""
    from src_clean import tables
    from src_clean.lake import Lake

    lake = workdir / "lake-incremental"
    if Lake(lake).partitions(tables.GOLD_TRAINING):
        print(f"reusing the gold set in {lake}")
        return lake
    inputs = generate(workdir, days, ARTICLES_PER_DAY)
    stages = in_child(
        pipeline, lake, inputs.everything / "market", inputs.everything / "news/jsonl"
    )
    print(f"gold built in {sum(s.seconds for s in stages):.0f}s (not counted)")
    return lake


def train_instrumented(lake: Path, permutations: int | None, refits: int | None) -> dict[str, Any]:
    """The ``train`` stage with every matrix build timed; runs in a spawned process."""
    import logging

    from src_clean.lake import Lake
    from src_clean.training import train as train_module
    from src_clean.training import walk_forward
    from src_clean.training.config import TrainConfig

    builds: dict[int, list[float]] = defaultdict(list)  # per fold: (train, val) builds
    reuses: dict[int, int] = defaultdict(int)
    rebins: list[float] = []  # null and lag training matrices binned with the real cuts
    original_get, original_train = (
        walk_forward.FoldMatrices.get,
        walk_forward.FoldMatrices.train_matrix,
    )

    def get(self: Any, feature_set: str) -> Any:
        if feature_set in self._cache:
            reuses[id(self)] += 1
            return original_get(self, feature_set)
        began = time.perf_counter()
        result = original_get(self, feature_set)
        builds[id(self)].append(time.perf_counter() - began)
        return result

    def train_matrix(self: Any, feature_set: str, x: Any) -> Any:
        if x is self.data.x:
            return original_train(self, feature_set, x)
        self.get(feature_set)  # the real cuts first (counted as a reuse)
        began = time.perf_counter()
        result = original_train(self, feature_set, x)
        rebins.append(time.perf_counter() - began)
        return result

    walk_forward.FoldMatrices.get = get
    walk_forward.FoldMatrices.train_matrix = train_matrix
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")  # fold progress
    data_seconds: list[float] = []
    original_build = train_module.build_data

    def build_data(*args: Any) -> Any:
        began = time.perf_counter()
        result = original_build(*args)
        data_seconds.append(time.perf_counter() - began)
        return result

    train_module.build_data = build_data
    config = TrainConfig(tracking_uri=f"sqlite:///{lake / 'mlflow-bench.db'}", null_refits=refits)
    if permutations is not None:
        config = dataclasses.replace(config, null_permutations=permutations)
    reset_peak_rss()
    began = time.perf_counter()
    summary = train_module.train(Lake(lake), config)
    seconds = time.perf_counter() - began
    saved = sum(reuses[k] * (sum(b) / len(b)) for k, b in builds.items() if b)
    return {
        "summary": summary,
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "data_seconds": sum(data_seconds),
        "builds": sum(len(b) for b in builds.values()),
        "build_seconds": sum(sum(b) for b in builds.values()),
        "reuses": sum(reuses.values()),
        "saved_seconds": saved,
        "rebins": len(rebins),
        "rebin_seconds": sum(rebins),
    }


def one_call(function: Any, *args: Any) -> list[Any]:
    return [function(*args)]


def report(run: dict[str, Any]) -> list[bool]:
    summary = run["summary"]
    walk, holdout = summary["walk_forward"], summary["holdout"]
    times = walk["seconds"]
    print(
        f"\nrows: {summary['n_train']} train / {summary['n_val']} val / {summary['n_test']} holdout"
    )
    for plan, spent in zip(walk["plan"], times["folds"], strict=False):
        print(f"  {plan['fold']:<8} {spent:>7.1f}s  train rows {plan['n_train']:>9}")
    null = walk["null"]
    print(
        f"  {'null':<8} {times['null']:>7.1f}s  ({null['permutations']} permutations, "
        f"{null['refits']} refitted; p resolution: primary "
        f"{1 / (1 + null['permutations']):.3f}, secondary {1 / (1 + null['refits']):.3f})"
    )
    print(f"  {'lags':<8} {times['lag_curve']:>7.1f}s  ({len(walk['lag_curve']) - 1} refits)")
    print(f"  {'holdout':<8} {holdout['seconds']:>7.1f}s")
    print(f"  {'total':<8} {run['seconds']:>7.1f}s  peak RSS {run['peak_rss_mb']:.0f} MB")
    print(
        f"shared work: feature matrix built once in {run['data_seconds']:.1f}s; "
        f"{run['builds']} matrix builds took {run['build_seconds']:.1f}s and were reused "
        f"{run['reuses']} times (grid points, seeds, null and lag cuts), saving about "
        f"{run['saved_seconds']:.0f}s; {run['rebins']} null/lag training matrices binned with "
        f"the real cuts in {run['rebin_seconds']:.1f}s"
    )
    print(f"verdict: {summary['verdict']}")
    return [
        verdict(run["seconds"] < GOAL_S, f"train {run['seconds']:.0f}s < {GOAL_S:.0f}s"),
        verdict(run["peak_rss_mb"] < GOAL_MB, f"peak RSS {run['peak_rss_mb']:.0f} MB < 8 GB"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=DAYS, help="days of sample data")
    parser.add_argument("--workdir", type=Path, help="keep the sample data and gold here")
    parser.add_argument(
        "--null-permutations", type=int, help="train's --null-permutations (default: its own)"
    )
    parser.add_argument(
        "--null-refits",
        type=int,
        default=REFITS_5Y,
        help="train's --null-refits (default: %(default)s, the five-year budget)",
    )
    args = parser.parse_args()
    print(f"machine: {cpu_flags()}; load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        lake = build_lake(workdir, args.days)
        [run] = in_child(
            one_call, train_instrumented, lake, args.null_permutations, args.null_refits
        )
    results = report(run)
    print(f"load {os.getloadavg()[0]:.1f} at the end")
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
