"""Every CLI subcommand, walked through the errors a user can make or meet (issue 35.9):
each ends with one ``error: ...`` line (a user error: ``Fix:`` and exit 2; the world: exit
1), or succeeds, and never shows a traceback without ``--debug``.

Hostile situations, applied to every subcommand with its required options filled:
the lake is a regular file; the lake is an empty folder; an input that does not exist;
an impossible date. Each call runs in a child process under a time limit (a command
that waits on a network or a queue is given a dead endpoint); the walk fails on a
traceback, a hang, or a failing exit without an ``error:`` line.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from src_clean import cli

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TIME_LIMIT_S = 60
LONG_RUNNING = {
    "serve",
    "sentiment-worker",
    "live",
}  # they wait for work; walked with bad inputs only
BREAKER_EXIT = 3  # backfill-shard's tripped circuit breaker (AWS Batch: do not retry)


def options(command: str) -> list[argparse.Action]:
    parser = argparse.ArgumentParser()
    module = importlib.import_module(cli.COMMANDS[command][0])
    module.add_arguments(parser)
    return [a for a in parser._actions if a.option_strings]


def fill(action: argparse.Action, paths: dict[str, str]) -> list[str]:
    """A value for a required option: the situation's path for paths, else a plain one."""
    flag = action.option_strings[-1]
    name = action.dest
    if action.choices:
        return [flag, str(next(iter(action.choices)))]
    if name in paths:
        return [flag, paths[name]]
    if "date" in name or name in ("start", "end", "day"):
        return [flag, "2024-01-02"]
    if name == "shard_id":
        return [flag, "2024-01"]
    return [flag, paths["input"]]


def situations(tmp: Path) -> dict[str, tuple[dict[str, str], list[str]]]:
    a_file = tmp / "a-file"
    a_file.write_text("not a lake\n")
    empty = tmp / "empty"
    empty.mkdir(exist_ok=True)
    missing = str(tmp / "does-not-exist")
    return {
        "lake is a file": ({"lake": str(a_file), "input": missing, "output": missing}, []),
        "empty lake": ({"lake": str(empty), "input": missing, "output": str(tmp / "out")}, []),
        "impossible date": (
            {"lake": str(empty), "input": missing, "output": str(tmp / "out")},
            ["--start", "2024-02-30"],
        ),
    }


def argv_for(command: str, paths: dict[str, str], extra: list[str]) -> list[str]:
    actions = options(command)
    flags = {f for a in actions for f in a.option_strings}
    argv = [command]
    for action in actions:
        if action.required or (action.dest == "lake" and "--lake" in flags):
            argv += fill(action, paths)
    return argv + extra


def applies(command: str, situation: str) -> bool:
    """A command waiting for work is walked with a lake that is a file only; an impossible
    date, where the command takes ``--start``."""
    if command in LONG_RUNNING:
        return situation == "lake is a file"
    if situation == "impossible date":
        return any("--start" in a.option_strings for a in options(command))
    return True


CASES = [
    (command, situation)
    for command in cli.COMMANDS
    for situation in ("lake is a file", "empty lake", "impossible date")
    if applies(command, situation)
]


@pytest.mark.parametrize(("command", "situation"), CASES)
def test_every_error_path_is_one_line(command: str, situation: str, tmp_path: Path) -> None:
    paths, extra = situations(tmp_path)[situation]
    argv = argv_for(command, paths, extra)
    env = {
        **os.environ,
        "SP500_LAKE": paths["lake"],
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # a dead endpoint: refused at once
        "SP500_WORKER_MAX_IDLE_S": "1",
        "NO_PROXY": "*",
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "src_clean", *argv],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIME_LIMIT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(argv)} hung for {TIME_LIMIT_S} s in '{situation}'")
    said = f"{' '.join(argv)} ({situation}) exit {done.returncode}:\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr, said
    if done.returncode == BREAKER_EXIT and command == "backfill-shard":  # documented
        last = done.stderr.strip().splitlines()[-1]
        assert "circuit breaker open" in last and "Fix:" in last, said
        return
    assert done.returncode in (0, 1, 2), said
    if done.returncode == 1 and command in LONG_RUNNING:  # services log JSON events
        events = [ln for ln in done.stderr.splitlines() if ln.startswith("{")]
        assert any('"level": "ERROR"' in e and "Fix:" in e for e in events), said
        return
    if done.returncode:
        # ours: "error: ... Fix: ..."; argparse's (a bad option value): usage, then
        # "python -m src_clean <command>: error: ..."
        ours = [ln for ln in done.stderr.splitlines() if ln.startswith("error: ")]
        argparse_says = [ln for ln in done.stderr.splitlines() if f"{command}: error: " in ln]
        assert len(ours) + len(argparse_says) == 1, said
        if ours:
            assert "Fix:" in ours[0] or done.returncode == 1, said
        else:
            assert done.returncode == 2 and done.stderr.startswith("usage: "), said
