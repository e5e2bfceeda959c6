"""The live loop's heartbeat and its health check (``live.health``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from src_clean.live.health import check, write_heartbeat

NOW = pd.Timestamp("2024-01-24T15:00:00Z")


def test_a_recent_heartbeat_is_healthy(tmp_path: Path) -> None:
    path = tmp_path / "_state" / "live.heartbeat.json"
    write_heartbeat(path, NOW - pd.Timedelta(seconds=30), 0, "decided=1")
    assert check(path, NOW) is None
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no partial file left


def test_an_old_heartbeat_or_repeated_failures_are_unhealthy(tmp_path: Path) -> None:
    path = tmp_path / "beat.json"
    write_heartbeat(path, NOW - pd.Timedelta(seconds=121), 0, "decided=1")
    assert check(path, NOW) == (
        "the last tick was 121 s ago (limit 120 s): the loop is stuck or down"
    )
    assert check(path, NOW, max_age_s=300) is None
    write_heartbeat(path, NOW, 3, "OSError: lake unreachable")
    assert check(path, NOW) == "3 ticks failed in a row; the last: OSError: lake unreachable"
    write_heartbeat(path, NOW, 2, "OSError: lake unreachable")
    assert check(path, NOW) is None  # a blip is not an outage


def test_a_missing_or_torn_heartbeat_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "beat.json"
    assert check(path, NOW).startswith("no heartbeat at ")
    for body in ('{"at": "2024-01-24T15:00', '{"failures": 0}', "[]", '{"at": "x", "failures": 0}'):
        path.write_text(body)
        reason = check(path, NOW)
        assert reason.startswith("unreadable heartbeat ") and "\n" not in reason, body
