"""How fast fetch-market turns OANDA answers into landing files, against a local server.

``python benchmarks/fetch_throughput.py [--days 365]``

A local HTTP server answers like OANDA v20 (M1 mid candles, 1,440 per weekday, answers
built ahead so the server costs little); ``fetch_market`` fetches ``--days`` days of them
(three days per request), then ``bronze-market`` ingests the files. The figures are our own
cost per request and per candle: against the real API, the network dominates. Goal: one
year of M1 candles fetched in under 60 s on this machine, so a five-year backfill is bound
by the API, never by the client. Prints the load it ran under; exit 1 if the goal is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import resource
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

GOAL_S = 60.0
START = dt.date(2023, 1, 2)


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    print(f"load average before: {os.getloadavg()}, cpus: {os.cpu_count()}")
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
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
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
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
