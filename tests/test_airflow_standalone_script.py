"""``make airflow`` starts Airflow's servers on 127.0.0.1 only (#21) and stops every process
they started, on SIGTERM and on Ctrl-C (#13)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import airflow_env
import pytest

SCRIPT = airflow_env.REPO / "scripts" / "airflow_standalone.sh"
# Stands in for `airflow`: `db migrate` returns, every server command starts workers like
# the real ones, one of which ignores SIGTERM (as a busy executor process may), and records
# their pids and its arguments.
FAKE_AIRFLOW = """#!/usr/bin/env bash
[ "$1" = db ] && exit 0
echo "$* schedule=[$SP500_SCHEDULE] fallback=$SP500_DEMO_FALLBACK" >> "$ARGS"
sleep 300 &
echo $! >> "$PIDS"
bash -c 'trap "" TERM; while true; do sleep 1; done' &
echo $! >> "$PIDS"
echo $$ >> "$PIDS"
wait
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_script_stops_the_whole_process_group(
    tmp_path: Path, stop: signal.Signals
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "airflow").write_text(FAKE_AIRFLOW)
    (bin_dir / "airflow").chmod(0o755)
    pids_file = tmp_path / "pids"
    env = {
        **os.environ,
        "VENV_BIN": str(bin_dir),
        "AIRFLOW_HOME": str(tmp_path / "home"),
        "SP500_LAKE_ROOT": str(tmp_path / "lake"),
        "PIDS": str(pids_file),
        "ARGS": str(tmp_path / "args"),
        "STOP_GRACE_S": "2",
    }
    script = subprocess.Popen(["bash", str(SCRIPT)], env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while len(pids_file.read_text().split() if pids_file.exists() else []) < 12:
        assert time.monotonic() < deadline, "the fake airflow never started"
        time.sleep(0.1)
    # every server on 127.0.0.1, no log server (Airflow binds those to every interface);
    # on the sample data no schedule, and the demo's fallback to the lexicon scorer
    demo = " schedule=[] fallback=true"
    assert sorted((tmp_path / "args").read_text().splitlines()) == [
        f"api-server --host 127.0.0.1 --port 8080{demo}",
        f"dag-processor{demo}",
        f"scheduler --skip-serve-logs{demo}",
        f"triggerer --skip-serve-logs{demo}",
    ]
    pids = [int(pid) for pid in pids_file.read_text().split()]
    assert all(_alive(pid) for pid in pids)

    script.send_signal(stop)
    assert script.wait(timeout=30) == 0
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in pids if _alive(pid)] == []
