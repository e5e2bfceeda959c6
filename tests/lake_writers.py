"""Writers that the concurrency and kill tests start as separate processes.

Top-level functions, so ``multiprocessing``'s spawn start method can import them; each
waits on a shared barrier, so the writers really start together.
"""

from __future__ import annotations

import datetime as dt
import os
import random
from pathlib import Path
from typing import Any


def ingest_files(
    lake_root: str, files: list[str], seed: int, barrier: Any, env: dict[str, str]
) -> None:
    """``bronze_market`` of each file on its own, in a shuffled order."""
    os.environ.update(env)
    from src_clean.data_pipelines.bronze.market import ingest_market
    from src_clean.lake import Lake

    lake = Lake(lake_root)
    order = list(files)
    random.Random(seed).shuffle(order)
    barrier.wait()
    for path in order:
        ingest_market(path, lake, run_ts=dt.datetime(2024, 6, 1, tzinfo=dt.UTC))


def ingest_new_news(
    lake_root: str, folder: str, minute: int, barrier: Any, env: dict[str, str]
) -> None:
    """``bronze_news --only-new`` of ``folder``, as the run at 06:``minute``."""
    os.environ.update(env)
    from src_clean.data_pipelines.bronze.news import ingest_news
    from src_clean.lake import Lake

    lake = Lake(lake_root)
    barrier.wait()
    run_ts = dt.datetime(2024, 6, 1, 6, minute, tzinfo=dt.UTC)
    ingest_news(folder, lake, only_new=True, run_ts=run_ts)


def score_day(lake_root: str, day: str, barrier: Any, env: dict[str, str]) -> None:
    """The daily ``silver-sentiment`` stage for one day, with the lexicon model."""
    os.environ.update(env)
    from src_clean.data_pipelines.silver.sentiment import score_new_articles
    from src_clean.lake import Lake

    lake = Lake(lake_root)
    barrier.wait()
    date = dt.date.fromisoformat(day)
    score_new_articles(lake, "lexicon", start=date, end=date, progress=False)


def score_shard(lake_root: str, month: str, barrier: Any, env: dict[str, str]) -> None:
    """A backfill shard over ``month``, committing every 10 articles."""
    os.environ.update(env)
    from src_clean.backfill.runner import ShardJob, run_shard
    from src_clean.data_pipelines.silver.scoring import load_scorer
    from src_clean.lake import Lake

    lake = Lake(lake_root)
    barrier.wait()
    job = ShardJob.for_shard("concurrent", month, checkpoint_every=10)
    run_shard(lake, job, lambda: load_scorer("lexicon"))


def split_lines(source: Path, parts: int, out: Path) -> list[Path]:
    """Deal the lines of ``source`` into ``parts`` files (line i to part i % parts)."""
    lines = source.read_text().splitlines(keepends=True)
    paths = []
    for part in range(parts):
        path = out / f"part{part}" / source.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(lines[part::parts]))
        paths.append(path)
    return paths


def die_during_writes(delay_s: float, argv: list[str]) -> int:
    """Run ``python -m src_clean ARGV`` and SIGKILL this process ``delay_s`` seconds after
    its first Delta write (MERGE or overwrite) starts: a kill inside the write itself."""
    import signal
    import threading

    from deltalake.table import TableMerger

    from src_clean import cli
    from src_clean import lake as lake_module

    timers: list[threading.Timer] = []

    def arm() -> None:
        if not timers:
            timers.append(threading.Timer(delay_s, os.kill, (os.getpid(), signal.SIGKILL)))
            timers[0].daemon = True
            timers[0].start()

    execute, overwrite = TableMerger.execute, lake_module.write_deltalake

    def killed_execute(self: Any) -> Any:
        arm()
        return execute(self)

    def killed_overwrite(*args: Any, **kwargs: Any) -> Any:
        arm()
        return overwrite(*args, **kwargs)

    TableMerger.execute = killed_execute  # type: ignore[method-assign]
    lake_module.write_deltalake = killed_overwrite  # type: ignore[assignment]
    return cli.main(argv)


if __name__ == "__main__":
    import sys

    sys.exit(die_during_writes(float(sys.argv[1]), sys.argv[2:]))


def replace_day_unchecked(lake: Any, table: str, frame: Any, day: Any) -> None:
    """Replace ``day`` of ``table`` with ``frame`` as an older version (or another engine)
    could have: straight through delta-rs, none of the lake's checks (±inf kept)."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from src_clean.tables import PARTITION_COLUMN

    stored = pa.schema(lake.delta_table(table).schema().to_arrow())
    data = frame.assign(**{PARTITION_COLUMN: day})[stored.names]
    write_deltalake(
        lake.table_uri(table),
        pa.Table.from_pandas(data, schema=stored, preserve_index=False),
        mode="overwrite",
        predicate=f"{PARTITION_COLUMN} = '{day}'",
    )
