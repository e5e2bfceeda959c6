"""``lake-migrate`` killed after any commit, then run again, leaves the lake identical to
an uninterrupted migration (issue 35.3).

The legacy lake holds every table the pipeline writes, as the pre-Delta format kept them
(``<table>/date=D/part-0.parquet``) and with the columns of before: quarantine tables
before contract C2 (``line_number``, raw text uncapped), bronze news and silver sentiment
before ``available_at``, gold before ``timed_by`` and the tone feature. The migration runs
in a child process that SIGKILLs itself right after its k-th commit (a Delta conversion,
rebuild or schema change), for every k; a second, plain run then finishes it.
Before this, a kill right after a quarantine table's conversion made every rerun fail with
``KeyError: "['record_number', 'raw_bytes', 'raw_sha256'] not in index"``.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from src_clean import tables
from src_clean.lake import Lake
from src_clean.lake_maintenance import present_tables
from src_clean.lake_migrate import migrate_lake
from src_clean.run_full_pipeline import PipelineConfig, run_pipeline

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# the columns each table lacked before the versions that added them
LEGACY_DROPS = {
    tables.BRONZE_NEWS: ["available_at", "available_from", "gdelt_tone"],
    tables.SILVER_SENTIMENT: ["available_at"],
    tables.GOLD_SIGNALS: ["timed_by", tables.NEWS_TONE_FEATURE],
    tables.GOLD_TRAINING: [tables.NEWS_TONE_FEATURE],
}
# the child: count the migration's commits and die by SIGKILL right after the k-th
KILLER = """
import os, signal, sys
from src_clean import lake as lake_module, lake_migrate
kill_after, seen = int(sys.argv[2]), [0]
def counted(function):
    def wrapper(*args, **kwargs):
        result = function(*args, **kwargs)
        seen[0] += 1
        if seen[0] == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    return wrapper
lake_migrate.convert_to_deltalake = counted(lake_migrate.convert_to_deltalake)
lake_module.Lake.rebuild = counted(lake_module.Lake.rebuild)
lake_module.Lake.evolve = counted(lake_module.Lake.evolve)
lake_migrate.migrate_lake(lake_module.Lake(sys.argv[1]))
print("commits", seen[0])
"""


def write_legacy(root: Path, table: str, frame: pd.DataFrame, day_of: str) -> None:
    """``frame`` as the pre-Delta lake stored it: one Parquet file per ``date=`` folder,
    the day of column ``day_of`` (UTC)."""
    days = pd.to_datetime(frame[day_of], utc=True).dt.date
    for day, part in frame.groupby(days):
        folder = root / table / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), folder / "part-0.parquet")


@pytest.fixture(scope="module")
def legacy_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-day demo lake rewritten in the legacy format, with the legacy columns."""
    built = tmp_path_factory.mktemp("current") / "lake"
    run_pipeline(
        PipelineConfig(lake=built, demo=True, demo_days=3, sentiment_model="lexicon", until="gold")
    )
    lake, root = Lake(built), tmp_path_factory.mktemp("legacy") / "lake"
    for table in present_tables(lake):
        if table.startswith(("monitoring/", "quarantine/")):
            continue
        frame = lake.read(table).drop(columns=LEGACY_DROPS.get(table, []))
        write_legacy(root, table, frame, tables.spec(table).date_source)
    old_quarantine = pd.DataFrame(  # before contract C2: line numbers, raw text uncapped
        {
            "source_file": ["bad.ndjson", "bad.ndjson", "worse.jsonl"],
            "line_number": [3, 9, 1],
            "reason": ["invalid_json", "not_a_candle", "invalid_json"],
            "raw": ["{oops", "x" * 70_000, "{"],
            "quarantined_at": pd.Timestamp("2024-06-01", tz="UTC").as_unit("ns"),
        }
    )
    for table in tables.QUARANTINED_TABLES:
        write_legacy(root, tables.quarantine(table), old_quarantine, "quarantined_at")
    features = built / tables.GOLD_TRAINING / "_features.json"
    if features.exists():
        shutil.copy(features, root / tables.GOLD_TRAINING / "_features.json")
    return root


def snapshot(root: Path) -> dict[str, pd.DataFrame]:
    """Every table's rows (sorted by its keys, index reset) and columns, in order."""
    lake = Lake(root)
    out = {}
    for table in present_tables(lake):
        frame = lake.read(table)
        keys = [k for k in tables.spec(table).keys if k in frame] or list(frame.columns[:1])
        out[table] = frame.sort_values(keys, ignore_index=True)
    return out


def run_killed(root: Path, kill_after: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", KILLER, str(root), str(kill_after)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_migration_killed_after_any_commit_is_finished_by_running_it_again(
    legacy_root: Path, tmp_path: Path
) -> None:
    reference = tmp_path / "reference"
    shutil.copytree(legacy_root, reference)
    counted = run_killed(reference, 0)  # never killed: counts the commits
    assert counted.returncode == 0, counted.stderr
    commits = int(counted.stdout.split()[-1])
    assert commits >= 2 * len(LEGACY_DROPS)  # conversions and upgrades, at least
    expected = snapshot(reference)
    assert set(expected) >= {*LEGACY_DROPS, tables.BRONZE_CANDLES}
    for table in (*LEGACY_DROPS, tables.BRONZE_CANDLES):  # the uninterrupted one is current
        assert set(expected[table].columns) == set(tables.spec(table).column_names) or (
            table.startswith("gold/") and set(LEGACY_DROPS[table]) <= set(expected[table].columns)
        ), table
    quarantined = expected[tables.quarantine(tables.BRONZE_CANDLES)]
    assert sorted(quarantined["record_number"]) == [1, 3, 9]
    assert sorted(quarantined["raw_bytes"]) == [1, 5, 70_000]

    for kill_after in range(1, commits + 1):
        root = tmp_path / f"killed-{kill_after}"
        shutil.copytree(legacy_root, root)
        killed = run_killed(root, kill_after)
        assert killed.returncode == -signal.SIGKILL, (kill_after, killed.stderr[-2000:])
        migrate_lake(Lake(root))  # the rerun finishes it
        finished = snapshot(root)
        assert set(finished) == set(expected), kill_after
        for table in expected:
            pd.testing.assert_frame_equal(
                finished[table], expected[table], obj=f"{table} after a kill at commit {kill_after}"
            )
        again = migrate_lake(Lake(root))  # and a third run has nothing left to do
        assert {r.status for r in again} <= {"already_delta", "absent"}, kill_after
