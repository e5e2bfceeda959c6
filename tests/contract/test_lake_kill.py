"""A writer SIGKILLed at any moment of a Delta write leaves the table readable at its
previous version, and a rerun gives exactly the table an uninterrupted run gives."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from src_clean import tables
from src_clean.data_pipelines.bronze.market import ingest_market
from src_clean.data_pipelines.silver.market import build_market_features
from src_clean.lake import Lake
from src_clean.sample_data import generate_sample_data

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
FIRST_DAY = "2024-01-02"
DAYS = 8
# seconds after the child's first Delta write starts: at once, then random moments up to
# past a typical write (a MERGE of a week of candles takes tens of milliseconds)
RANDOM = random.Random(11)
DELAYS = [0.0, *sorted(round(RANDOM.uniform(0.0, 0.25), 3) for _ in range(4))]


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Candles of ``DAYS`` days: the first day in ``base/``, the others in ``later/``."""
    folder = tmp_path_factory.mktemp("raw")
    generate_sample_data(folder / "all", pd.Timestamp(FIRST_DAY).date(), DAYS, articles_per_day=1)
    for path in sorted((folder / "all" / "market").iterdir()):
        target = folder / ("base" if FIRST_DAY in path.name else "later") / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target)
    return folder


@pytest.fixture(scope="module")
def lakes(raw: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, Lake]:
    """(the lake before the interrupted runs, the lake after uninterrupted ones)."""
    before = Lake(tmp_path_factory.mktemp("before"))
    ingest_market(raw / "base", before)
    build_market_features(before)
    after = Lake(tmp_path_factory.mktemp("after"))
    shutil.copytree(before.root, after.root, dirs_exist_ok=True)
    ingest_market(raw / "later", after)
    build_market_features(after)
    return before, after


def run_killed(delay: float, argv: list[str]) -> int:
    """Run the CLI in a child that SIGKILLs itself ``delay`` s into its first Delta write."""
    script = REPO / "tests" / "lake_writers.py"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, str(script), str(delay), *argv], cwd=REPO, env=env, capture_output=True
    )
    assert done.returncode in (0, -signal.SIGKILL), done.stderr.decode()[-2000:]
    return done.returncode


def check_kill_then_rerun(
    table: str, argv: list[str], rerun, before: Lake, after: Lake, tmp_path: Path
) -> bool:
    """Kill the write at each delay; True when at least one child was killed."""
    killed = False
    for delay in DELAYS:
        lake = Lake(tmp_path / f"lake-{delay}")
        shutil.copytree(before.root, lake.root)
        stored, version = lake.read(table), lake.version(table)
        code = run_killed(delay, [*argv, "--lake", lake.root])
        # readable, and the previous version is intact whatever happened
        pd.testing.assert_frame_equal(lake.read(table, version=version), stored)
        if code and lake.version(table) == version:
            pd.testing.assert_frame_equal(lake.read(table), stored)
        killed |= code == -signal.SIGKILL
        rerun(lake)
        pd.testing.assert_frame_equal(lake.read(table), after.read(table), check_exact=True)
    return killed


def test_a_killed_ingest_leaves_the_previous_version_and_a_rerun_completes_it(
    raw: Path, lakes: tuple[Lake, Lake], tmp_path: Path
) -> None:
    argv = ["bronze-market", "--input", str(raw / "later")]
    rerun = lambda lake: ingest_market(raw / "later", lake)  # noqa: E731
    assert check_kill_then_rerun(tables.BRONZE_CANDLES, argv, rerun, *lakes, tmp_path)


def test_a_killed_range_replacement_leaves_the_previous_version(
    raw: Path, lakes: tuple[Lake, Lake], tmp_path: Path
) -> None:
    before, after = lakes
    base = Lake(tmp_path / "base")
    shutil.copytree(before.root, base.root)
    ingest_market(raw / "later", base)  # bronze has the new days; silver is recomputed
    argv = ["silver-market"]
    check_kill_then_rerun(
        tables.SILVER_FEATURES, argv, build_market_features, base, after, tmp_path
    )
