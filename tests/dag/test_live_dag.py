"""The 15-minute live DAG (``sp500_live``): its schedule, its one stage task and the argv
its plan gives the ``live`` stage; a real ``dag.test()`` is in
``tests/integration/test_live_runner.py`` (it needs the trained champion there)."""

from __future__ import annotations

import datetime as dt

import airflow_env
import pytest

from src_clean import tables
from src_clean.orchestration import live_tasks


@pytest.fixture(scope="module")
def dag():
    bag = airflow_env.parse_dag_folder({"SP500_EXECUTION": "local"})
    assert not bag.import_errors, bag.import_errors
    return bag.dags["sp500_live"]


def test_it_ticks_every_15_minutes_never_overlapping_and_starts_paused(dag) -> None:
    assert dag.schedule == live_tasks.SCHEDULE == "*/15 * * * *"
    assert (dag.max_active_runs, dag.catchup, dag.is_paused_upon_creation) == (1, False, True)
    assert dag.dagrun_timeout < dt.timedelta(minutes=15)
    live = dag.get_task("live")
    assert live.execution_timeout <= dag.dagrun_timeout
    assert [a.uri for a in live.outlets] == [tables.asset_uri(tables.LIVE_DECISIONS)]
    assert {t.task_id for t in dag.tasks} == {"plan", "live"}
    assert dag.get_task("plan").downstream_task_ids == {"live"}
    assert dag.params["deadline_s"] == live_tasks.DEADLINE_S == 20 * 60


@pytest.mark.parametrize(
    ("sources", "fetch"),
    [
        ("oanda,gdelt,rss", ["--fetch-market", "--fetch-news", "gdelt,rss"]),
        ("gdelt-gkg,gdelt", ["--fetch-news", "gdelt"]),  # GKG files are history
        ("oanda", ["--fetch-market"]),
        ("", []),  # the landing folders are filled by someone else
    ],
)
def test_the_plan_fetches_what_the_daily_dag_fetches(
    sources: str, fetch: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("SP500_SOURCES", sources)
    monkeypatch.setenv("SP500_LAKE_ROOT", str(tmp_path / "lake"))
    if "rss" in sources:
        monkeypatch.setenv("SP500_RSS_FEEDS", str(tmp_path / "feeds.txt"))
    argv = live_tasks.plan({"deadline_s": 900})
    assert argv == [
        *("live", "--lake", str(tmp_path / "lake"), "--ticks", "1", "--deadline-s", "900"),
        *("--lease-timeout-s", "60", *fetch),
    ]
    assert live_tasks.plan()[6] == str(live_tasks.DEADLINE_S)


def test_the_plan_gives_an_argv_the_live_command_accepts(monkeypatch, tmp_path) -> None:
    from src_clean import cli

    monkeypatch.setenv("SP500_SOURCES", "gdelt")
    monkeypatch.setenv("SP500_LAKE_ROOT", str(tmp_path / "lake"))
    args = cli.parse(live_tasks.plan())
    assert (args.ticks, args.deadline_s, args.lease_timeout_s) == (1, 1200.0, 60.0)
    assert (args.fetch_market, args.fetch_news) == (False, ("gdelt",))
