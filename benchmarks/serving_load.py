"""HTTP load on ``python -m src_clean serve``: micro-batching on vs off, concurrency 1/8/32.

Two server processes start side by side, as deployed (``python -m src_clean serve``), on
one real PostgreSQL 15 started here with durable commits, with the bert-base-shaped
model of ``sentiment_throughput.py`` (random weights, not fine-tuned: speed depends on
shape only), exported by ``export-onnx --int8``, on ONNX Runtime: one with
micro-batching, one with ``--no-batching`` (one forward pass per request). For each
concurrency both are driven in turn, so load from other processes hits both alike.
Each run: a warm-up, then ``--seconds`` of closed-loop load from ``concurrency``
clients posting sample-data headlines to ``POST /api/v1/predict``; latency is measured
by the client (HTTP round trip, database write included). The mean batch size comes
from the server's /metrics. The load generator shares the machine's cores with the
servers: figures are a floor.

Goals (issue 15): p99 < 100 ms at concurrency 1 (batching on); at concurrency 32,
throughput with batching >= 3x without; zero errors.

    python benchmarks/serving_load.py                     # ~5 min after the model exists
    python benchmarks/serving_load.py --workdir /tmp/bench --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "benchmarks"), str(REPO / "tests")]
from postgres_server import free_port, postgres_server  # noqa: E402
from sentiment_throughput import corpora, prepare  # noqa: E402

API_KEY = "benchmark-key"
CONCURRENCY = (1, 8, 32)
MAX_P99_MS_AT_1 = 100.0
MIN_BATCHING_SPEEDUP_AT_32 = 3.0


@dataclass
class Run:
    mode: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_batch: float
    load_1m: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def load_average() -> float:
    return os.getloadavg()[0]


@contextlib.contextmanager
def server(model: Path, database_url: str, lake: Path, batching: bool) -> Iterator[str]:
    """``python -m src_clean serve`` on a free port until the block ends."""
    port = free_port()
    argv = [sys.executable, "-m", "src_clean", "serve", "--port", str(port)]
    argv += ["--database-url", database_url, "--sentiment-model", str(model)]
    argv += ["--precision", ARGS.precision, "--lake", str(lake)]
    argv += [] if batching else ["--no-batching"]
    env = {**os.environ, "SP500_API_KEYS": API_KEY, "PYTHONPATH": str(REPO)}
    log = open(lake / f"server-{port}.log", "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(argv, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/ready", timeout=5).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not become ready; see {log.name}")
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


def batch_stats(base: str) -> tuple[float, float]:
    """(sum, count) of the server's inference batch-size histogram."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    values = {}
    for line in text.splitlines():
        for key in ("sum", "count"):
            if line.startswith(f"sp500_api_inference_batch_size_{key} "):
                values[key] = float(line.split()[1])
    return values.get("sum", 0.0), values.get("count", 0.0)


async def drive(base: str, texts: list[str], concurrency: int, seconds: float) -> tuple:
    """Closed-loop load: ``concurrency`` clients, each posting as soon as it has an answer."""
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def worker(seed: int, until: float, record: bool) -> None:
            nonlocal errors
            rng = random.Random(seed)
            while time.perf_counter() < until:
                start = time.perf_counter()
                try:
                    response = await client.post(
                        "/api/v1/predict",
                        json={"text": rng.choice(texts), "source": "benchmark"},
                        headers={"X-API-Key": API_KEY},
                    )
                    ok = response.status_code == 200 and "x-storage-warning" not in response.headers
                except httpx.HTTPError:
                    ok = False
                if record:
                    latencies.append(time.perf_counter() - start)
                    errors += not ok

        warm_until = time.perf_counter() + min(3.0, seconds / 4)
        await asyncio.gather(*(worker(i, warm_until, False) for i in range(concurrency)))
        began = time.perf_counter()
        await asyncio.gather(*(worker(i, began + seconds, True) for i in range(concurrency)))
        elapsed = time.perf_counter() - began
    return latencies, errors, elapsed


def measure(mode: str, base: str, texts: list[str], concurrency: int) -> Run:
    before = batch_stats(base)
    load = load_average()
    latencies, errors, elapsed = asyncio.run(drive(base, texts, concurrency, ARGS.seconds))
    after = batch_stats(base)
    batches = after[1] - before[1]
    ms = np.asarray(latencies) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99]) if len(ms) else (np.nan,) * 3
    return Run(
        mode=mode,
        concurrency=concurrency,
        requests=len(latencies),
        errors=errors,
        seconds=elapsed,
        p50_ms=float(p50),
        p95_ms=float(p95),
        p99_ms=float(p99),
        mean_batch=(after[0] - before[0]) / batches if batches else float("nan"),
        load_1m=load,
    )


def compute_ceiling(model: Path, texts: list[str], size: int = 32, rounds: int = 5) -> str:
    """The service's scorer in this process, ``size`` headlines one call each vs one call
    for all (median of ``rounds``): the most micro-batching can gain on this machine, HTTP,
    tokenizer threads and the database aside."""
    from src_clean.data_pipelines.silver.scoring import load_scorer

    scorer = load_scorer(str(model), precision=ARGS.precision, device="cpu", progress=False)
    sample = texts[:size]
    scorer.score(sample)  # warm-up

    def seconds(work: Callable[[], object]) -> float:
        began = time.perf_counter()
        work()
        return time.perf_counter() - began

    one = np.median([seconds(lambda: [scorer.score([t]) for t in sample]) for _ in range(rounds)])
    batch = np.median([seconds(lambda: scorer.score(sample)) for _ in range(rounds)])
    return (
        f"compute ceiling, in-process, {size} headlines: one call each {size / one:.1f}/s, "
        f"one batch {size / batch:.1f}/s: batching can gain at most {one / batch:.2f}x here"
    )


def print_table(runs: list[Run]) -> None:
    print(
        f"{'mode':<12}{'conc':>5}{'requests':>9}{'errors':>7}{'rps':>8}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'batch':>7}{'load1m':>8}"
    )
    for r in runs:
        print(
            f"{r.mode:<12}{r.concurrency:>5}{r.requests:>9}{r.errors:>7}{r.rps:>8.1f}"
            f"{r.p50_ms:>9.1f}{r.p95_ms:>9.1f}{r.p99_ms:>9.1f}{r.mean_batch:>7.1f}{r.load_1m:>8.2f}"
        )


def goals(runs: list[Run]) -> list[tuple[bool, str]]:
    by = {(r.mode, r.concurrency): r for r in runs}
    solo = by[("batching", 1)]
    ratio = by[("batching", 32)].rps / by[("no-batching", 32)].rps
    errors = sum(r.errors for r in runs)
    return [
        (solo.p99_ms < MAX_P99_MS_AT_1, f"p99 at concurrency 1: {solo.p99_ms:.1f} ms (< 100)"),
        (ratio >= MIN_BATCHING_SPEEDUP_AT_32, f"rps at 32, batching/none: {ratio:.2f}x (>= 3)"),
        (errors == 0, f"errors: {errors} (0)"),
    ]


def main() -> int:
    workdir = ARGS.workdir or Path(tempfile.mkdtemp(prefix="serving-load-"))
    workdir.mkdir(parents=True, exist_ok=True)
    # speed depends on the shape, not the weights: no fine-tuning, a short export check
    model, _ = prepare(workdir, 200, fine_tune=False, n_check_texts=16)
    texts = corpora(ARGS.texts)["headlines"]
    lake = workdir / "lake"
    lake.mkdir(exist_ok=True)
    print(f"uptime before: {subprocess.run(['uptime'], capture_output=True, text=True).stdout}")
    ceiling = compute_ceiling(model, texts)
    print(ceiling)
    runs: list[Run] = []
    with (
        postgres_server(fsync=True) as database_url,
        server(model, database_url, lake, batching=True) as batched,
        server(model, database_url, lake, batching=False) as unbatched,
    ):
        for concurrency in CONCURRENCY:
            for mode, base in (("batching", batched), ("no-batching", unbatched)):
                runs.append(measure(mode, base, texts, concurrency))
                print_table(runs[-1:])
    print(f"uptime after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout}")
    print_table(runs)
    print(ceiling)
    results = goals(runs)
    for passed, text in results:
        print(f"[{'PASS' if passed else 'FAIL'}] {text}")
    if ARGS.out:
        ARGS.out.write_text(json.dumps([asdict(r) | {"rps": r.rps} for r in runs], indent=2))
    return 0 if all(passed for passed, _ in results) else 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, help="keeps the model between runs")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured load per run")
    parser.add_argument("--texts", type=int, default=500, help="distinct headlines")
    parser.add_argument(
        "--precision",
        default="onnx-int8",
        help="the export served (onnx-int8: what `onnx` picks for FinBERT; onnx-fp32)",
    )
    parser.add_argument("--out", type=Path, help="write the runs as JSON")
    return parser.parse_args()


if __name__ == "__main__":
    ARGS = parse_args()
    sys.exit(main())
