"""Bronze ingest alone: five years of candles and news, and one 40 MB bad line.

Stages (each in its own spawned process, so its peak RSS is its own):

  bronze market    ``--days`` days of sample candle files (about 1.8M candles for 1,826)
  bronze news      the same days' article files (about 100,000 articles)
  bad line 40 MB   a candle file holding one 40 MB line that is not a candle, plus 60 good
                   candles: the quarantine row keeps 64 KiB of it; peak RSS shows how often
                   the line is held in memory

Goal (issue 12): bronze within 1.1x of the figures before the bad-input hardening
(docs/performance.md); the bad line well under 610 MB.

    python benchmarks/bronze_ingest.py --workdir /tmp/bench   # reuses pipeline_scale's sample data
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import tempfile
from pathlib import Path

from benchmarks.pipeline_scale import ARTICLES_PER_DAY, DAYS, generate, in_child, timed
from src_clean.lake import Lake

BAD_LINE_MB = 40


def bronze(lake_root: Path, market: Path, news: Path) -> list:
    from src_clean.data_pipelines.bronze.market import ingest_market
    from src_clean.data_pipelines.bronze.news import ingest_news

    lake = Lake(lake_root)
    return [
        timed("bronze market", lambda: ingest_market(market, lake)),
        timed("bronze news", lambda: ingest_news(news, lake)),
    ]


def bad_line(lake_root: Path, path: Path) -> list:
    from src_clean.data_pipelines.bronze.market import ingest_market

    return [timed(f"bad line {BAD_LINE_MB} MB", lambda: ingest_market(path, Lake(lake_root)))]


def write_bad_line_file(path: Path) -> None:
    """60 good candles, then one ``BAD_LINE_MB`` MB line (a JSON string, not a candle)."""
    start = dt.datetime(2024, 1, 2, 14, 30, tzinfo=dt.UTC)
    with path.open("w") as out:
        for i in range(60):
            time = (start + dt.timedelta(minutes=i)).isoformat().replace("+00:00", "Z")
            candle = {"time": time, "open": 4700, "high": 4701, "low": 4699, "close": 4700.5}
            out.write(json.dumps(candle) + "\n")
        out.write('"' + "x" * (BAD_LINE_MB * 1024 * 1024) + '"\n')


def run(workdir: Path, days: int) -> None:
    inputs = generate(workdir, days, ARTICLES_PER_DAY)
    print(f"load {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    lake = workdir / "lake-bronze"
    shutil.rmtree(lake, ignore_errors=True)
    stages = in_child(bronze, lake, inputs.history / "market", inputs.history / "news/jsonl")
    bad = workdir / "bad-line.jsonl"
    write_bad_line_file(bad)
    stages += in_child(bad_line, workdir / "lake-bad-line", bad)
    shutil.rmtree(workdir / "lake-bad-line", ignore_errors=True)
    for s in stages:
        print(f"  {s.name:<17}{s.seconds:>8.1f}s{s.peak_rss_mb:>9.0f} MB   {s.outcome[:110]}")
    print(f"load {os.getloadavg()[0]:.2f} at the end")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument("--workdir", type=Path, help="keep the sample data here between runs")
    args = parser.parse_args()
    if args.workdir:
        run(args.workdir, args.days)
        return
    with tempfile.TemporaryDirectory() as tmp:
        run(Path(tmp), args.days)


if __name__ == "__main__":
    main()
