"""How often the verdict is right: false claims without an effect, power with one.

Each dataset is sample data (``src_clean.sample_data``) with its own seed, length and
article rate, run through bronze, silver (lexicon scorer) and gold by
``run_full_pipeline.py --until gold``, then through the real ``train`` stage (``python -m
src_clean train``) with one thread. The claim is read back from the training summary
(``walk_forward.claim``), beside the primary and secondary p-values.

Scenarios (``--datasets N`` per scenario; the issue asks for at least 60 effect-free and
40 at the default effect):

- ``none``: no planted effect (``--news-effect-bps 0 --pre-availability-bps 0``);
- ``pre_only``: only the effect between publication and availability, which a
  point-in-time pipeline must not find (``--news-effect-bps 0``);
- ``noise``: no effect and three times the articles (more news, none of it informative);
- ``default``: the default planted effect (``NEWS_EFFECT_BPS``);
- ``half``: half the default effect (a second point of the power curve).

Printed: the false-claim rate over the effect-free scenarios with its exact (Clopper-
Pearson) 95% interval, the power per effect size, a Kolmogorov-Smirnov test of the null
p-values against the uniform (the primary's and the secondary's), their histograms, the
wall time, and the machine. ``--quick`` runs 4 short datasets per scenario with 49
permutations, for development. Results go to ``--out`` (JSON) as well.

    python benchmarks/verdict_calibration.py --quick
    python benchmarks/verdict_calibration.py --datasets 20 --count default=40 --count half=10 \
        --permutations 99 --workers 2   # 110 datasets
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from src_clean.sample_data import ARTICLES_PER_DAY, NEWS_EFFECT_BPS, PRE_AVAILABILITY_BPS  # noqa: E402

SCENARIOS: dict[str, dict[str, float]] = {
    "none": {"news_effect_bps": 0.0, "pre_availability_bps": 0.0, "rate": 1.0},
    "pre_only": {"news_effect_bps": 0.0, "pre_availability_bps": PRE_AVAILABILITY_BPS, "rate": 1.0},
    "noise": {"news_effect_bps": 0.0, "pre_availability_bps": 0.0, "rate": 3.0},
    "default": {
        "news_effect_bps": NEWS_EFFECT_BPS,
        "pre_availability_bps": PRE_AVAILABILITY_BPS,
        "rate": 1.0,
    },
    "half": {
        "news_effect_bps": NEWS_EFFECT_BPS / 2,
        "pre_availability_bps": PRE_AVAILABILITY_BPS,
        "rate": 1.0,
    },
}
NULL_SCENARIOS = ("none", "pre_only", "noise")
NO_EFFECT_SCENARIOS = ("none", "noise")  # nothing planted at all, before or after availability


@dataclass(frozen=True)
class Dataset:
    scenario: str
    seed: int
    days: int
    articles_per_day: float
    news_effect_bps: float
    pre_availability_bps: float


def datasets(counts: dict[str, int], quick: bool, first_seed: int) -> list[Dataset]:
    """``counts[scenario]`` datasets each; seeds, lengths (30-120 days; 30-40 in --quick)
    and article rates varied per dataset, each drawn from the dataset's own stream, so a
    dataset's spec does not depend on how many others run."""
    out = []
    for s_index, (name, spec) in enumerate(SCENARIOS.items()):
        for i in range(counts.get(name, 0)):
            rng = np.random.default_rng([first_seed, s_index, i])  # one stream per dataset
            days = int(rng.integers(30, 41) if quick else rng.integers(30, 121))
            rate = float(ARTICLES_PER_DAY * spec["rate"] * rng.uniform(0.6, 1.6))
            seed = first_seed + 1000 * s_index + i
            out.append(
                Dataset(
                    name, seed, days, rate, spec["news_effect_bps"], spec["pre_availability_bps"]
                )
            )
    return out


def interleaved(todo: list[Dataset]) -> list[Dataset]:
    """Round-robin over scenarios, so a run stopped early still covers each of them."""
    by_scenario: dict[str, list[Dataset]] = {}
    for d in todo:
        by_scenario.setdefault(d.scenario, []).append(d)
    rank = {id(d): i for group in by_scenario.values() for i, d in enumerate(group)}
    return sorted(todo, key=lambda d: rank[id(d)])


def run_one(dataset: Dataset, permutations: int, workdir: str) -> dict[str, Any]:
    """Sample data -> gold -> train (one thread); the claim and p-values it printed."""
    lake = Path(workdir) / f"{dataset.scenario}-{dataset.seed}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    began = time.perf_counter()
    gold = [
        sys.executable, str(REPO / "src_clean/run_full_pipeline.py"), "--demo",
        "--lake", str(lake), "--until", "gold", "--sentiment-model", "lexicon",
        "--demo-days", str(dataset.days), "--seed", str(dataset.seed),
        "--news-effect-bps", str(dataset.news_effect_bps),
        "--pre-availability-bps", str(dataset.pre_availability_bps),
        "--articles-per-day", str(dataset.articles_per_day),
    ]  # fmt: skip
    train = [
        sys.executable, "-m", "src_clean", "train", "--lake", str(lake), "--n-jobs", "1",
        "--null-permutations", str(permutations),
    ]  # fmt: skip
    for argv in (gold, train):
        done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return {**asdict(dataset), "error": " | ".join(tail)}
    summary = json.loads((lake / "reports/training_summary.json").read_text())
    walk = summary["walk_forward"]
    return {
        **asdict(dataset),
        "claim": bool(walk["claim"]["significant"]),
        "primary_p": walk["primary"]["p_value"],
        "secondary_p": walk["secondary"]["p_value"],
        "primary_ic": walk["primary"]["ic"],
        "uplift_ic": walk["secondary"]["estimate"],
        "holdout_uplift_ic": (summary.get("holdout") or {}).get("uplift_ic", {}).get("estimate"),
        "sessions": walk["primary"]["sessions"],
        "seconds": time.perf_counter() - began,
    }


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    """Exact 95% interval of a binomial proportion."""
    from scipy.stats import beta

    low = 0.0 if k == 0 else float(beta.ppf(0.025, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(0.975, k + 1, n - k))
    return low, high


def histogram(values: list[float], bins: int = 10) -> str:
    counts, _ = np.histogram(values, bins=bins, range=(0.0, 1.0))
    return " ".join(f"{c:3d}" for c in counts) + "   (p in tenths, 0.0-0.1 first)"


def report(rows: list[dict[str, Any]], seconds: float, permutations: int) -> dict[str, Any]:
    from scipy.stats import binomtest, kstest

    ok = [r for r in rows if "error" not in r]
    null = [r for r in ok if r["scenario"] in NULL_SCENARIOS]
    claims = sum(r["claim"] for r in null)
    out: dict[str, Any] = {
        "datasets": len(rows),
        "failed": [r for r in rows if "error" in r],
        "permutations": permutations,
        "false_claims": claims,
        "effect_free": len(null),
        "false_claim_rate": claims / len(null) if null else None,
        "false_claim_ci": clopper_pearson(claims, len(null)) if null else None,
        # exact one-sided binomial tests: is the rate above 5 %? below 10 % (the old rule's)?
        "false_claim_above_5pct_p": (
            binomtest(claims, len(null), 0.05, alternative="greater").pvalue if null else None
        ),
        "false_claim_below_10pct_p": (
            binomtest(claims, len(null), 0.10, alternative="less").pvalue if null else None
        ),
        "power": {},
        "seconds": seconds,
    }
    for name in SCENARIOS:
        if name in NULL_SCENARIOS:
            continue
        runs = [r for r in ok if r["scenario"] == name]
        if runs:
            hits = sum(r["claim"] for r in runs)
            out["power"][name] = {
                "effect_bps": runs[0]["news_effect_bps"],
                "claims": hits,
                "datasets": len(runs),
                "rate": hits / len(runs),
                "ci": clopper_pearson(hits, len(runs)),
            }
    no_effect = [r for r in null if r["scenario"] in NO_EFFECT_SCENARIOS]
    for test in ("primary_p", "secondary_p"):
        values = [r[test] for r in null if r[test] is not None]
        if values:
            out[f"{test}_ks"] = float(kstest(values, "uniform").pvalue)
            # validity: too many small p-values (the empirical CDF above the uniform's)?
            out[f"{test}_ks_valid"] = float(kstest(values, "uniform", alternative="greater").pvalue)
            out[f"{test}_histogram"] = histogram(values)
        values = [r[test] for r in no_effect if r[test] is not None]
        if values:  # uniformity where nothing at all was planted
            out[f"{test}_ks_no_effect"] = float(kstest(values, "uniform").pvalue)
    out["per_scenario"] = {}
    for name in NULL_SCENARIOS:
        runs = [r for r in null if r["scenario"] == name]
        if not runs:
            continue
        entry: dict[str, Any] = {"datasets": len(runs), "claims": sum(r["claim"] for r in runs)}
        for test in ("primary_p", "secondary_p"):
            values = [r[test] for r in runs if r[test] is not None]
            if values:
                entry[f"{test}_ks"] = float(kstest(values, "uniform").pvalue)
                entry[f"{test}_mean"] = float(np.mean(values))
        out["per_scenario"][name] = entry
    return out


def markdown(result: dict[str, Any], command: str, when: str) -> str:
    """The calibration page of the docs (docs/calibration.md), written from a result: no
    figure is copied by hand."""
    low, high = result["false_claim_ci"] or (float("nan"), float("nan"))
    lines = [
        "# Calibration of the claim rule",
        "",
        "Back to the [table of contents](index.md). Written by "
        "`benchmarks/verdict_calibration.py --markdown docs/calibration.md`; the method is in "
        "[evaluation](evaluation.md).",
        "",
        f"Run: `{command}`, {when}, {result['machine']}; "
        f"{result['datasets']} datasets ({len(result['failed'])} failed), "
        f"{result['permutations']} permutations each, {result['seconds'] / 60:.0f} minutes.",
        "",
        "| | datasets | claims | rate | 95 % interval (exact) | goal |",
        "|---|---|---|---|---|---|",
        f"| effect-free (none, pre-availability only, noise) | {result['effect_free']} | "
        f"{result['false_claims']} | {result['false_claim_rate']:.1%} | "
        f"{low:.1%} to {high:.1%} | at most 5 % |",
    ]
    for name, power in result["power"].items():
        lo, hi = power["ci"]
        goal = "at least 90 %" if name == "default" else "(power curve)"
        lines.append(
            f"| {name} effect ({power['effect_bps']:g} bps) | {power['datasets']} | "
            f"{power['claims']} | {power['rate']:.1%} | {lo:.1%} to {hi:.1%} | {goal} |"
        )
    if result.get("false_claim_above_5pct_p") is not None:
        lines += [
            "",
            "Exact one-sided binomial tests of the false-claim rate: above 5 %? p = "
            f"{result['false_claim_above_5pct_p']:.2f} (no evidence that it is); below 10 %, "
            f"the rate the old rule showed? p = {result['false_claim_below_10pct_p']:.3f}.",
        ]
    lines += [
        "",
        "Null p-values against the uniform, goal KS p > 0.05. *Valid* is the one-sided test "
        "of the rule's promise (no excess of small p-values, all effect-free datasets); "
        "*uniform* is the two-sided test where nothing was planted (`none`, `noise`):",
        "",
    ]
    for test in ("primary_p", "secondary_p"):
        if f"{test}_ks" in result:
            counts = result[f"{test}_histogram"].split("   (")[0].strip()
            valid = result.get(f"{test}_ks_valid", float("nan"))
            uniform = result.get(f"{test}_ks_no_effect", float("nan"))
            lines.append(
                f"- {test.removesuffix('_p')}: valid KS p = {valid:.2f}, uniform KS p = "
                f"{uniform:.2f} (two-sided over all effect-free datasets "
                f"{result[f'{test}_ks']:.2f}); counts per tenth of p, 0.0-0.1 first: `{counts}`"
            )
    per = result.get("per_scenario", {})
    lines += [
        "",
        "Per effect-free scenario (the primary test is one-sided: good news, higher return):",
        "",
    ]
    for name, entry in per.items():
        lines.append(
            f"- {name}: {entry['datasets']} datasets, {entry['claims']} claims; primary KS p = "
            f"{entry.get('primary_p_ks', float('nan')):.2f} (mean p "
            f"{entry.get('primary_p_mean', float('nan')):.2f}), secondary KS p = "
            f"{entry.get('secondary_p_ks', float('nan')):.2f}"
        )
    floor = 1 / (1 + result["permutations"])
    lines += [
        "",
        "How to read it. `pre_only` plants a move between an article's publication and its "
        "availability: the price has moved before the pipeline may read the article, so the "
        "factor then leans against the forward return and its one-sided p-values sit near 1 "
        "(never a claim); pooled with the others they are not uniform, by design. In the "
        "scenarios without any effect (`none`, `noise`) they should be uniform. With "
        f"{result['permutations']} permutations a test's smallest p is {floor:.3f}, and "
        "Holm's first step needs p <= 0.025: each test reaches it by chance with probability "
        f"{sum(1 for k in range(1, result['permutations'] + 2) if k * floor <= 0.025) * floor:.3f}"
        ", so the rule's expected false-claim rate is at most twice that.",
        "",
        "Every dataset of the run (scenario, seed, days, claim, both p-values, seconds) is in "
        "the run's JSON (`--out`); the committed copy is in `benchmarks/results/`.",
    ]
    return "\n".join(lines) + "\n"


def parse_counts(items: list[str]) -> dict[str, int]:
    """``["default=40", "half=10"]`` -> ``{"default": 40, "half": 10}``."""
    counts = {}
    for item in items:
        name, _, n = item.partition("=")
        if name not in SCENARIOS or not n.isdigit():
            wanted = f"SCENARIO=N, SCENARIO in {list(SCENARIOS)}"
            raise SystemExit(f"error: --count {item!r}: want {wanted}")
        counts[name] = int(n)
    return counts


def earlier(path: Path) -> tuple[list[dict[str, Any]], float]:
    """The finished rows of an earlier result and its wall seconds; failed rows run again."""
    try:
        result = json.loads(path.read_text())
        rows, seconds = result["rows"], float(result["summary"]["seconds"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise SystemExit(f"error: --resume {path}: not a result of this benchmark ({err})") from err
    return [r for r in rows if "error" not in r], seconds


def write_json(path: Path, summary: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Atomically: a kill mid-write leaves the previous file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"summary": summary, "rows": rows}, indent=2))
    tmp.replace(path)


def rerender(path: Path, page: Path | None) -> int:
    """The summary of a stored result recomputed with this version's statistics (the rows
    are not rerun), written back to ``path`` and, with ``page``, as the docs page. The run
    line keeps the result's own command, time and machine."""
    rows, seconds = earlier(path)
    stored = json.loads(path.read_text())["summary"]
    result = report(rows, seconds, int(stored["permutations"]))
    kept = {k: stored[k] for k in ("machine", "command", "when") if k in stored}
    result |= kept
    write_json(path, result, rows)
    if page:
        page.write_text(markdown(result, kept.get("command", "?"), kept.get("when", "?")))
    print(json.dumps({k: v for k, v in result.items() if k != "failed"}, indent=2))
    return 0


def machine() -> str:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((ln.split(":", 1)[1].strip() for ln in lines if "model name" in ln), "?")
    flags = set(next(ln for ln in lines if ln.startswith("flags")).split())
    wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile")
    return f"{model}, {os.cpu_count()} CPUs, " + " ".join(f for f in wanted if f in flags)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=int, default=20, help="datasets per scenario")
    parser.add_argument("--permutations", type=int, default=199, help="null permutations")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--quick", action="store_true", help="4 short datasets per scenario, 49 permutations"
    )
    parser.add_argument(
        "--count",
        action="append",
        default=[],
        metavar="SCENARIO=N",
        help="datasets of one scenario, overriding --datasets (repeatable), e.g. default=40",
    )
    parser.add_argument("--out", type=Path, default=Path("verdict_calibration.json"))
    parser.add_argument("--workdir", type=Path, help="keep the lakes here (default: a temp dir)")
    parser.add_argument("--markdown", type=Path, help="also write the docs page here")
    parser.add_argument(
        "--resume",
        type=Path,
        help="keep the rows of this earlier result (JSON) and run only the datasets it lacks",
    )
    parser.add_argument(
        "--report",
        type=Path,
        help="run nothing: recompute the summary of this result (JSON) and write --markdown",
    )
    args = parser.parse_args(argv)
    if args.report:
        return rerender(args.report, args.markdown)
    per, permutations = (4, 49) if args.quick else (args.datasets, args.permutations)
    counts = dict.fromkeys(SCENARIOS, per) | parse_counts(args.count)
    rows, seconds_before = earlier(args.resume) if args.resume else ([], 0.0)
    done = {(r["scenario"], r["seed"]) for r in rows}
    todo = interleaved(
        [d for d in datasets(counts, args.quick, args.seed) if (d.scenario, d.seed) not in done]
    )
    if rows:
        print(f"{len(rows)} datasets kept from {args.resume}")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sp500-calibration-"))
    print(f"{len(todo)} datasets, {permutations} permutations, {args.workers} workers; {machine()}")
    began = time.perf_counter() - seconds_before  # wall time of both runs
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(run_one, d, permutations, str(workdir)) for d in todo]
        for n, future in enumerate(futures, 1):
            row = future.result()
            rows.append(row)
            partial = report(rows, time.perf_counter() - began, permutations)
            write_json(args.out, partial | {"machine": machine()}, rows)  # a stop keeps rows
            status = row.get("error") or (
                f"claim={row['claim']} p1={row['primary_p']:.3f} p2={row['secondary_p']:.3f} "
                f"{row['seconds']:.0f}s"
            )
            print(
                f"[{n}/{len(todo)}] {row['scenario']} seed={row['seed']} "
                f"days={row['days']}: {status}",
                flush=True,
            )
    command = "python benchmarks/verdict_calibration.py " + " ".join(argv or sys.argv[1:])
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    result = report(rows, time.perf_counter() - began, permutations)
    result |= {"machine": machine(), "command": command, "when": when}
    write_json(args.out, result, rows)
    if args.markdown:
        args.markdown.write_text(markdown(result, command, when))
    print(json.dumps({k: v for k, v in result.items() if k != "failed"}, indent=2))
    print(f"failed: {len(result['failed'])}; written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
