"""How fast fetch-market turns OANDA answers into landing files, and fetch-news --source
gdelt-gkg reads a day of GKG files, against local servers.

``python benchmarks/fetch_throughput.py [--days 365] [--gkg-only]``

A local HTTP server answers like OANDA v20 (M1 mid candles, 1,440 per weekday, answers
built ahead so the server costs little); ``fetch_market`` fetches ``--days`` days of them
(three days per request), then ``bronze-market`` ingests the files. The figures are our own
cost per request and per candle: against the real API, the network dominates. Goal: one
year of M1 candles fetched in under 60 s on this machine, so a five-year backfill is bound
by the API, never by the client.

GKG: one day of 96 GKG 2.1 files at real size, built from a template row set (1,500 rows
a file, about 11 KB a row with GCAM scores, themes, locations and names drawn at random so
the zips compress like real ones, about 4:1: 16 MB unzipped, 4-5 MB zipped), 2% of rows
matching the default filter. A server in another process serves them from disk with a
master list; ``fetch_gkg`` downloads, checks, reads and filters the day. Goal: under 60 s
and under 1 GB peak RSS, so a year is bound by the download, not the client. Prints the
load it ran under; exit 1 if a goal is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import multiprocessing
import os
import tempfile
import threading
import time
from pathlib import Path

from werkzeug import Request, Response
from werkzeug.serving import make_server

from src_clean.acquisition.http import RetryPolicy
from src_clean.acquisition.oanda import fetch_market
from src_clean.data_pipelines.bronze.market import ingest_market
from src_clean.lake import Lake
from src_clean.memory import peak_rss_mb

GOAL_S = 60.0
GKG_GOAL_S, GKG_GOAL_MB = 60.0, 1024.0
START = dt.date(2023, 1, 2)
GKG_DAY = dt.date(2024, 1, 2)
GKG_ROWS = 1500


def day_fragment(day: dt.date) -> str:
    """The day's candles as the inside of a JSON list (empty on weekends)."""
    if day.weekday() >= 5:
        return ""
    candles = []
    for minute in range(1440):
        moment = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minute)
        price = 4700 + minute / 10
        candles.append(
            {
                "complete": True,
                "volume": 10 + minute % 7,
                "time": moment.strftime("%Y-%m-%dT%H:%M:%S.000000000Z"),
                "mid": {
                    "o": f"{price:.1f}",
                    "h": f"{price + 0.5:.1f}",
                    "l": f"{price - 0.5:.1f}",
                    "c": f"{price + 0.2:.1f}",
                },
            }
        )
    return json.dumps(candles)[1:-1]


def serve(days: int) -> tuple[str, object]:
    fragments = {START + dt.timedelta(days=n): None for n in range(days)}
    for day in fragments:
        fragments[day] = day_fragment(day)

    @Request.application
    def app(request: Request) -> Response:
        start = dt.date.fromisoformat(request.args["from"][:10])
        end = dt.datetime.fromisoformat(request.args["to"].replace("Z", "+00:00"))
        chosen = []
        day = start
        while dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) < end:
            if fragments.get(day):
                chosen.append(fragments[day])
            day += dt.timedelta(days=1)
        body = '{"instrument":"SPX500_USD","granularity":"M1","candles":[' + ",".join(chosen)
        return Response(body + "]}", content_type="application/json")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


def gkg_files(folder: Path) -> None:
    """96 zipped GKG files of ``GKG_DAY`` and a master list, written to ``folder``."""
    import hashlib
    import random
    import zipfile

    rng = random.Random(1)
    words = [f"{a}{b}" for a in "abcdefghij" for b in range(40)]
    lines = []
    for k in range(96):
        batch = dt.datetime.combine(GKG_DAY, dt.time()) + dt.timedelta(minutes=15 * k)
        stamp = batch.strftime("%Y%m%d%H%M%S")
        rows = []
        for n in range(GKG_ROWS):
            kept = rng.random() < 0.02
            cells = [""] * 27
            cells[0], cells[1], cells[2] = f"{stamp}-{n}", stamp, "1"
            cells[3] = f"site{rng.randrange(4000)}.example.com"
            cells[4] = f"https://{cells[3]}/{stamp}/{n}-{rng.randrange(10**9)}.html"
            themes = [f"TAX_{rng.choice(words).upper()}" for _ in range(40)]
            cells[7] = ";".join((["ECON_STOCKMARKET"] if kept else []) + themes)
            cells[8] = ";".join(f"{t},{rng.randrange(9999)}" for t in themes)
            cells[9] = ";".join(f"1#Place {rng.choice(words)}#US#US" for _ in range(8))
            cells[10] = cells[9] * 2
            cells[11] = ";".join(rng.choice(words) + " " + rng.choice(words) for _ in range(10))
            cells[13] = ";".join(rng.choice(words) for _ in range(6))
            cells[15] = f"{rng.uniform(-8, 8):.6f},2.1,3.6,5.7,21.4,0,{rng.randrange(2000)}"
            cells[17] = ",".join(f"c{i}.{rng.randrange(9)}:{rng.randrange(99)}" for i in range(700))
            cells[23] = ";".join(f"{rng.choice(words)},{rng.randrange(9999)}" for _ in range(30))
            cells[26] = f"<PAGE_TITLE>Story {n} of {stamp}</PAGE_TITLE>"
            rows.append("\t".join(cells))
        path = folder / f"{stamp}.gkg.csv.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{stamp}.gkg.csv", "\n".join(rows) + "\n")
        data = path.read_bytes()
        lines.append(f"{len(data)} {hashlib.md5(data).hexdigest()} BASE/gdeltv2/{path.name}")
    (folder / "masterfilelist.txt").write_text("\n".join(lines) + "\n")


def serve_folder(folder: Path, port: multiprocessing.Value) -> None:
    """Serve ``folder`` (the master list with this server's address); runs in a child."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, lambda env, start: None, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"

    @Request.application
    def app(request: Request) -> Response:
        name = request.path.rsplit("/", 1)[1]
        data = (folder / name).read_bytes()
        if name == "masterfilelist.txt":
            data = data.replace(b"BASE", base.encode())
        return Response(data)

    server.app = app
    port.value = server.server_port
    server.serve_forever()


def gkg_benchmark() -> bool:
    """Build, serve and fetch one day of GKG files; PASS/FAIL lines; True if both pass."""
    from src_clean.acquisition.gkg import fetch_gkg

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "files"
        folder.mkdir()
        began = time.perf_counter()
        gkg_files(folder)
        zipped = sum(p.stat().st_size for p in folder.glob("*.zip")) / 1e6
        print(f"built 96 GKG files ({zipped:.0f} MB zipped) in {time.perf_counter() - began:.0f} s")
        port = multiprocessing.get_context("spawn").Value("i", 0)
        server = multiprocessing.get_context("spawn").Process(
            target=serve_folder, args=(folder, port), daemon=True
        )
        server.start()
        while not port.value:
            time.sleep(0.05)
        began = time.perf_counter()
        report = fetch_gkg(
            Path(tmp) / "landing",
            start=GKG_DAY,
            end=GKG_DAY,
            master_url=f"http://127.0.0.1:{port.value}/gdeltv2/masterfilelist.txt",
            policy=RetryPolicy(attempts=1),
        )
        seconds = time.perf_counter() - began
        server.terminate()
    rss_mb = peak_rss_mb()
    print(
        f"fetch-news gdelt-gkg: 1 day, {report.requests} requests, {zipped:.0f} MB, "
        f"{96 * GKG_ROWS:,} rows, {report.records:,} articles kept in {seconds:.1f} s; "
        f"peak RSS {rss_mb:.0f} MB"
    )
    fast = seconds < GKG_GOAL_S and not report.failed
    small = rss_mb < GKG_GOAL_MB
    print(f"{'PASS' if fast else 'FAIL'} a day of GKG files in {seconds:.1f} s (goal < 60 s)")
    print(f"{'PASS' if small else 'FAIL'} peak RSS {rss_mb:.0f} MB (goal < 1 GB)")
    return fast and small


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--gkg-only", action="store_true", help="only the GKG day")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    print(f"load average before: {os.getloadavg()}, cpus: {os.cpu_count()}")
    if args.gkg_only:
        return 0 if gkg_benchmark() else 1
    url, server = serve(args.days)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        report = fetch_market(
            Path(tmp) / "market",
            token="benchmark",
            start=START,
            end=START + dt.timedelta(days=args.days - 1),
            api_url=url,
            policy=RetryPolicy(attempts=1),
        )
        fetch_s = time.perf_counter() - started
        size = sum(p.stat().st_size for p in (Path(tmp) / "market").glob("*.ndjson"))
        started = time.perf_counter()
        ingest = ingest_market(Path(tmp) / "market", Lake(Path(tmp) / "lake"))
        ingest_s = time.perf_counter() - started
    server.shutdown()
    rss_mib = peak_rss_mb()
    print(
        f"fetch-market: {args.days} days, {report.requests} requests, {report.records:,} candles,"
        f" {size / 2**20:.0f} MiB in {fetch_s:.1f} s ({report.records / fetch_s:,.0f} candles/s,"
        f" {1000 * fetch_s / max(report.requests, 1):.0f} ms per request incl. the local server)"
    )
    print(f"bronze-market on those files: {ingest.written:,} candles in {ingest_s:.1f} s")
    print(f"peak RSS {rss_mib:.0f} MiB; load average after: {os.getloadavg()}")
    goal = fetch_s * 365 / args.days
    ok = goal < GOAL_S and not report.failed
    print(f"{'PASS' if ok else 'FAIL'} one year of M1 fetched in {goal:.1f} s (goal < {GOAL_S} s)")
    return 0 if gkg_benchmark() and ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
