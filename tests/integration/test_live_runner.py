"""Issue 38: the live loop replays a recorded day bar by bar and its decisions equal the
batch pipeline's features and the champion's predictions on them; bars past their
deadline are marked missed, a rerun decides nothing twice, the table only ever grows by
inserts, and a second live process waits for the lease.

The champion is trained for real (MLflow, XGBoost) on the batch gold of the days before
the replayed one. The replay writes each bar's candle, and the articles a feed had by its
decision time, into the live landing folders as files, then ticks with the clock set just
after the bar's close.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from deltalake import DeltaTable
from fake_apis import (
    GDELT_PATH,
    OANDA_PATH,
    TOKEN,
    FakeGdelt,
    FakeOanda,
    gdelt_article,
    minute_candles,
)
from test_training_mlflow import fast_config

from src_clean import tables
from src_clean.data_pipelines.gold.feature_list import read_feature_list
from src_clean.errors import UserError
from src_clean.feature_set import FeatureSet
from src_clean.lake import Lake
from src_clean.live import decisions
from src_clean.live import runner as live_runner
from src_clean.live.features import feature_hash
from src_clean.live.replay import Replay
from src_clean.live.runner import LEASE, LiveConfig, LiveRunner
from src_clean.run_full_pipeline import PipelineConfig, run_pipeline
from src_clean.sample_data import generate_sample_data
from src_clean.training.champion import ChampionTracker
from src_clean.training.train import train

pytestmark = pytest.mark.slow

START = dt.date(2024, 1, 1)
DAYS = 24
DAY = START + dt.timedelta(days=DAYS - 1)  # the replayed day (a Wednesday)
FIRST_BAR = pd.Timestamp(f"{DAY}T14:00Z")
MODEL = "sp500_live_test"


def _batch(raw: Path, root: Path, skip_day: bool) -> Lake:
    """The batch pipeline to gold over the raw files (without ``DAY``'s if ``skip_day``)."""
    landing = root.parent / f"{root.name}-landing"
    for folder in ("market", "news/jsonl"):
        (landing / folder).mkdir(parents=True)
        for path in (raw / folder).iterdir():
            if not (skip_day and str(DAY) in path.name):
                shutil.copy(path, landing / folder / path.name)
    cfg = PipelineConfig(
        lake=root,
        bronze_market=landing / "market",
        bronze_news=landing / "news/jsonl",
        sentiment_model="lexicon",
        until="gold",
    )
    run_pipeline(cfg)
    return Lake(root)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    raw = tmp_path_factory.mktemp("raw")
    generate_sample_data(raw, START, DAYS, seed=11, articles_per_day=200, article_files=False)
    base = tmp_path_factory.mktemp("lakes")
    full = _batch(raw, base / "full", skip_day=False)  # the reference: every day, batch
    live = _batch(raw, base / "live", skip_day=True)  # what the live process starts from
    uri = f"sqlite:///{base}/mlflow.db"
    config = fast_config(uri, bootstrap=50, null_permutations=19, registered_model=MODEL, n_seeds=1)
    train(live, config)
    pristine = base / "live-pristine"  # the live lake before any tick, for tests to copy
    shutil.copytree(live.root, pristine)
    return {"raw": raw, "full": full, "live": live, "uri": uri, "base": base, "pristine": pristine}


def _day_files(raw: Path) -> tuple[Path, Path]:
    """The replayed day's candle and article files."""
    return next((raw / "market").glob(f"*{DAY}*")), next((raw / "news/jsonl").glob(f"{DAY}*"))


def _replay(raw: Path, landing: Path) -> Replay:
    return Replay(*_day_files(raw), landing)


def _runner(
    world: dict,
    landing: Path,
    clock: list[pd.Timestamp],
    lake: Lake | None = None,
    **options: Any,
) -> LiveRunner:
    config = LiveConfig(
        lake_root=(lake or world["live"]).root,
        landing_market=str(landing / "market"),
        landing_news=str(landing / "news"),
        sentiment_model="lexicon",
        tracking_uri=world["uri"],
        model_name=MODEL,
        poll_s=0.01,
        **options,
    )
    return LiveRunner(config, clock=lambda: clock[0])


def test_a_replayed_day_decides_each_bar_as_the_batch_would(world: dict) -> None:
    landing = world["base"] / "replay-landing"
    replay, clock = _replay(world["raw"], landing), [FIRST_BAR]
    runner = _runner(world, landing, clock, compact_every=2)
    bars = [FIRST_BAR + pd.Timedelta(minutes=m) for m in range(8)]
    for bar in bars[:4]:
        replay.land_through(bar)
        clock[0] = bar + pd.Timedelta(minutes=1, seconds=3)
        report = runner.tick()
        assert report.decided == 1, report.summary()
    # the process is down for bars 4-6: their rows say missed once it is back
    for bar in bars[4:7]:
        replay.land_through(bar)
    clock[0] = bars[6] + pd.Timedelta(minutes=1, seconds=200)
    assert runner.tick().missed == 3
    replay.land_through(bars[7])
    clock[0] = bars[7] + pd.Timedelta(minutes=1, seconds=2)
    assert runner.tick().decided == 1
    assert runner.tick().decided == 0  # nothing new: nothing written twice

    lake = world["live"]
    rows = lake.read(tables.LIVE_DECISIONS).set_index("bar_time")
    assert list(rows.index) == bars
    assert rows["status"].tolist() == ["decided"] * 4 + ["missed"] * 3 + ["decided"]
    assert rows.loc[bars[4], "reason"].startswith("not decided within 90 s")

    for bar in [*bars[:4], bars[7]]:
        assert 2.0 <= rows.loc[bar, "market_lag_s"] <= 3.0  # the clock ran 2-3 s after the close
    assert set(rows.loc[rows["status"] == "decided", "model_version"]) == {"1"}
    _assert_batch_parity(world, rows)
    _assert_only_inserts(lake)
    history = DeltaTable(lake.table_uri(tables.LIVE_DECISIONS)).history()
    assert sum(h["operation"] == "MERGE" for h in history) == 6  # one per tick that wrote rows
    assert any(h["operation"] == "OPTIMIZE" for h in history)
    # every 2nd tick compacted what the ticks appended to: the day's candles are in at
    # most 2 files though 7 ticks landed them, and nothing was lost
    candles = lake.delta_table(tables.BRONZE_CANDLES).file_uris()
    assert 1 <= sum(f"date={DAY}" in uri for uri in candles) <= 2
    landed = lake.read(tables.BRONZE_CANDLES, DAY, DAY)["time"].sort_values()
    assert landed.is_unique and landed.tolist()[-8:] == bars
    assert landed.tolist() == [b for b in replay.bars() if b <= bars[-1]]
    ingests = DeltaTable(lake.table_uri(tables.MONITORING_INGESTS)).history()
    assert any(h["operation"] == "OPTIMIZE" for h in ingests)


def _assert_batch_parity(world: dict, rows: pd.DataFrame) -> None:
    """Each decided bar's features are the batch gold row's, bit for bit, its prediction
    is the champion's on that row, and its version is the one the registry named."""
    tracker = ChampionTracker(world["uri"], MODEL, "champion", world["live"])
    assert tracker.refresh()
    champion = tracker.champion
    gold = world["full"].read(tables.GOLD_TRAINING, DAY, DAY).set_index("time")
    decided = rows.loc[rows["status"] == decisions.DECIDED]
    assert len(decided)
    for bar, row in decided.iterrows():
        expected = gold.loc[bar, champion.features].astype(np.float64)
        stored = pd.Series(json.loads(row["features"]))[champion.features]
        assert [v.hex() for v in stored] == [float(v).hex() for v in expected], bar
        assert row["feature_hash"] == feature_hash(expected)
        inputs = pd.DataFrame([expected.to_numpy()], columns=champion.features)
        predicted = float(np.asarray(champion.model.predict(inputs)).reshape(-1)[0])
        assert row["predicted_return_bps"] == predicted
        assert row["model_run_id"] == champion.run_id
        assert row["decision_time"] == bar + pd.Timedelta(minutes=1)


def _assert_only_inserts(lake: Lake) -> None:
    """An append-only record, version by version: each MERGE inserted rows and changed
    none; each compaction (OPTIMIZE) rewrote files, not rows; and every version's rows are
    the previous version's, unchanged, plus the new ones."""
    uri = lake.table_uri(tables.LIVE_DECISIONS)
    history = DeltaTable(uri).history()
    assert {h["operation"] for h in history[:-1]} <= {"MERGE", "OPTIMIZE"}, history
    for commit in history:
        if commit["operation"] == "MERGE":
            metrics = commit["operationMetrics"]
            assert metrics["num_target_rows_updated"] == 0, commit
            assert metrics["num_target_rows_deleted"] == 0, commit
    key = ["bar_time", "model_name"]
    before = None
    for version in range(DeltaTable(uri).version() + 1):
        rows = DeltaTable(uri, version=version).to_pandas().sort_values(key, ignore_index=True)
        assert not rows.duplicated(key).any(), version
        if before is not None:
            kept = rows.merge(before[key], on=key).sort_values(key, ignore_index=True)
            pd.testing.assert_frame_equal(kept[before.columns], before, obj=f"v{version}")
        before = rows


def test_a_compaction_that_fails_is_logged_and_the_tick_still_decides(
    world: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    lake = Lake(shutil.copytree(world["pristine"], tmp_path / "lake"))
    replay, clock = _replay(world["raw"], tmp_path / "landing"), [FIRST_BAR]
    runner = _runner(world, tmp_path / "landing", clock, lake, compact_every=1)

    def broken(table: str, dates: list) -> tuple[int, int]:
        raise OSError(f"disk full while compacting {table}\nsecond line")

    monkeypatch.setattr(runner.lake, "compact", broken)
    replay.land_through(FIRST_BAR)
    clock[0] = FIRST_BAR + pd.Timedelta(minutes=1, seconds=3)
    report = runner.tick()
    assert report.decided == 1 and "compact" in report.seconds, report.summary()
    warnings = [r.getMessage() for r in caplog.records if "cannot compact" in r.getMessage()]
    assert len(warnings) == len(live_runner.COMPACTED)
    assert all("disk full" in w and "second line" not in w for w in warnings)
    assert lake.read(tables.LIVE_DECISIONS)["bar_time"].tolist() == [FIRST_BAR]


def test_a_second_live_process_waits_for_the_lease(world: dict, tmp_path: Path) -> None:
    """It waits; with a timeout (a scheduled run) it gives up in one line, deciding nothing."""
    landing = tmp_path / "landing"
    runner, other = (_runner(world, landing, [FIRST_BAR]) for _ in range(2))
    other.config = dataclasses.replace(other.config, lease_timeout_s=0.2)
    before = decisions.last_bar(world["live"], MODEL)
    with runner.lease(), pytest.raises(UserError) as refused:
        other.run(ticks=1)
    assert "another live process holds the lease" in str(refused.value)
    assert str(world["live"].local_path(LEASE)) in str(refused.value)
    assert "\n" not in str(refused.value)
    assert decisions.last_bar(world["live"], MODEL) == before
    with other.lease(timeout_s=1):  # released: the next one takes it
        pass


def test_the_feature_list_it_decides_with_is_the_batch_one(world: dict) -> None:
    spec = read_feature_list(world["live"], FeatureSet())
    assert spec == read_feature_list(world["full"], FeatureSet())
    assert decisions.last_bar(Lake(world["base"] / "nowhere"), MODEL) is None


def test_a_champion_swap_takes_effect_at_the_next_bar_and_is_recorded(
    world: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", world["uri"])  # resolves the models:/ source

    lake = Lake(shutil.copytree(world["pristine"], tmp_path / "lake"))
    replay, clock = _replay(world["raw"], tmp_path / "landing"), [FIRST_BAR]
    runner = _runner(world, tmp_path / "landing", clock, lake)
    client = MlflowClient(world["uri"])
    first = client.get_model_version_by_alias(MODEL, "champion")
    bars = [FIRST_BAR + pd.Timedelta(minutes=m) for m in range(4)]
    for n, bar in enumerate(bars):
        if n == 2:  # between two bars, a new version becomes champion
            swapped = client.create_model_version(
                MODEL,
                source=first.source,
                run_id=first.run_id,
                tags=first.tags,
                model_id=first.model_id,
            )
            client.set_registered_model_alias(MODEL, "champion", swapped.version)
        replay.land_through(bar)
        clock[0] = bar + pd.Timedelta(minutes=1, seconds=3)
        assert runner.tick().decided == 1
    client.set_registered_model_alias(MODEL, "champion", first.version)  # as the others expect
    rows = lake.read(tables.LIVE_DECISIONS).set_index("bar_time")
    assert list(rows.index) == bars
    assert rows["model_version"].tolist() == [str(first.version)] * 2 + [str(swapped.version)] * 2
    assert rows["model_run_id"].tolist() == [first.run_id] * 4
    _assert_batch_parity(world, rows)


# The child: a live process replaying bars ``first..last`` of the day (a tick each, the clock
# 3 s after the bar's close) that SIGKILLs itself at ``kill_at`` ("<step>:<before|after>")
# of bar ``kill_bar``'s tick; -1: never.
LIVE_CHILD = """
import os, signal, sys
import pandas as pd
from src_clean.live import runner as live_runner
from src_clean.live.replay import Replay
from src_clean.live.runner import LiveConfig, LiveRunner
lake, landing, market, news, uri, model = sys.argv[1:7]
first, last, kill_bar, kill_at = int(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9]), sys.argv[10]
bar_now = [None]
def hooked(step, function):
    def wrapper(*args, **kwargs):
        if bar_now[0] == kill_bar and kill_at == step + ":before":
            os.kill(os.getpid(), signal.SIGKILL)
        result = function(*args, **kwargs)
        if bar_now[0] == kill_bar and kill_at == step + ":after":
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    return wrapper
live_runner.ingest_market = hooked("market", live_runner.ingest_market)
live_runner.ingest_news = hooked("news", live_runner.ingest_news)
live_runner.score_new_articles = hooked("sentiment", live_runner.score_new_articles)
live_runner.decisions.write = hooked("write", live_runner.decisions.write)
clock = [None]
config = LiveConfig(lake, f"{landing}/market", f"{landing}/news", "lexicon", uri, model)
runner = LiveRunner(config, clock=lambda: clock[0])
replay = Replay(market, news, landing)
start = pd.Timestamp(sys.argv[11])
with runner.lease(timeout_s=60):
    for n in range(first, last + 1):
        bar = start + pd.Timedelta(minutes=n)
        replay.land_through(bar)
        clock[0], bar_now[0] = bar + pd.Timedelta(minutes=1, seconds=3), n
        print(n, runner.tick().summary(), flush=True)
"""


def test_a_kill_mid_tick_then_a_restart_duplicates_and_rewrites_nothing(
    world: dict, tmp_path: Path
) -> None:
    """Killed at steps of a tick (SIGKILL: no cleanup), restarted 3 bars later."""
    import signal
    import subprocess
    import sys

    lake = Lake(shutil.copytree(world["pristine"], tmp_path / "lake"))
    market, news = _day_files(world["raw"])
    fixed = [lake.root, str(tmp_path / "landing"), str(market), str(news), world["uri"], MODEL]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}

    def child(first: int, last: int, kill_bar: int = -1, kill_at: str = "") -> int:
        argv = [*fixed, str(first), str(last), str(kill_bar), kill_at, FIRST_BAR.isoformat()]
        done = subprocess.run(
            [sys.executable, "-c", LIVE_CHILD, *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        expected = -signal.SIGKILL if kill_at else 0
        assert done.returncode == expected, (kill_at, done.stdout, done.stderr[-3000:])
        return done.returncode

    # bars 0-1 decided, killed in bar 1's write just after its commit; back at bar 4
    child(0, 1, kill_bar=1, kill_at="write:after")
    # killed once bar 5's articles were in bronze, before they were scored; back at bar 8
    child(4, 5, kill_bar=5, kill_at="news:after")
    # killed after scoring bar 9, before its row was written; back at bar 12
    child(8, 9, kill_bar=9, kill_at="write:before")
    # killed as bar 13's tick began; back at 16 and on to 17
    child(12, 13, kill_bar=13, kill_at="market:before")
    child(16, 17)

    rows = lake.read(tables.LIVE_DECISIONS).set_index("bar_time")
    bars = [FIRST_BAR + pd.Timedelta(minutes=m) for m in range(18)]
    assert list(rows.index) == bars  # every bar once: none lost, none twice
    # back 3 bars later, the restart's clock is 183 s and 123 s past the close of the two
    # bars before the last it saw: missed (deadline 90 s); the one after, at 63 s, decided
    missed = {2, 5, 6, 9, 10, 13, 14}
    statuses = [rows.loc[bar, "status"] for bar in bars]
    assert statuses == ["missed" if n in missed else "decided" for n in range(18)]
    assert rows["written_at"].is_monotonic_increasing
    _assert_batch_parity(world, rows)
    _assert_only_inserts(lake)
    # bronze holds each candle once, however often the restarts landed it again
    candles = lake.read(tables.BRONZE_CANDLES, DAY, DAY)
    assert candles["time"].is_unique and set(bars) <= set(candles["time"])


def test_the_cli_runs_the_loop_and_its_health_check_reads_the_heartbeat(
    world: dict, tmp_path: Path
) -> None:
    """``python -m src_clean live --ticks 2`` then ``live --health`` as compose runs it."""
    import subprocess
    import sys

    lake = Lake(shutil.copytree(world["pristine"], tmp_path / "lake"))
    replay = _replay(world["raw"], tmp_path / "landing")
    replay.land_through(FIRST_BAR + pd.Timedelta(minutes=5))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    base = [sys.executable, "-m", "src_clean", "live", "--lake", lake.root]

    def live(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*base, *args], capture_output=True, text=True, env=env, timeout=300)

    assert live("--health").stdout.startswith("unhealthy: no heartbeat at ")
    ran = live(
        *("--landing-market", str(tmp_path / "landing/market")),
        *("--landing-news", str(tmp_path / "landing/news")),
        *("--sentiment-model", "lexicon", "--mlflow-tracking-uri", world["uri"]),
        *("--registered-model", MODEL, "--ticks", "2", "--poll-s", "0.01"),
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    # bronze took the landed day; its bars are long closed (2024), and a live record starts
    # now: no row is written for them, not even as missed
    assert ran.stderr.count("live tick: decided=0 skipped=0 missed=0") == 2, ran.stderr[-3000:]
    assert Lake(lake.root).read(tables.BRONZE_CANDLES, DAY, DAY)["time"].max() == replay.landed_bar
    healthy = live("--health")
    assert (healthy.returncode, healthy.stdout.split(":")[0]) == (0, "healthy"), healthy.stdout
    stale = live("--health", "--health-max-age-s", "0")
    assert stale.returncode == 1
    assert stale.stdout.startswith("unhealthy: the last tick was "), stale.stdout
    assert lake.partitions(tables.LIVE_DECISIONS) == []


def test_a_tick_fetches_its_feeds_and_a_feed_down_is_recorded_not_hidden(
    world: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, httpserver
) -> None:
    """With ``--fetch-market --fetch-news gdelt`` against the local fakes, on the real clock:
    the bar that just closed is fetched, ingested and decided; with GDELT down, the next
    bar is still decided and its row names the failed feed and the news lag."""
    from werkzeug import Request, Response

    from src_clean.acquisition.http import RetryPolicy
    from src_clean.live.feeds import FeedConfig

    monkeypatch.setenv("OANDA_API_TOKEN", TOKEN)
    now = pd.Timestamp.now(tz="UTC")
    today = now.date()
    minute = now.hour * 60 + now.minute
    oanda = FakeOanda(candles=minute_candles(today, range(max(0, minute - 90), minute + 1)))
    gdelt = FakeGdelt(articles=[gdelt_article(now - pd.Timedelta(minutes=10), 1)])
    gdelt_up = [True]

    def serve(request: Request) -> Response:
        if request.path == OANDA_PATH:
            return oanda(request)
        return gdelt(request) if gdelt_up[0] else Response("down", status=503)

    httpserver.expect_request(OANDA_PATH).respond_with_handler(serve)
    httpserver.expect_request(GDELT_PATH).respond_with_handler(serve)
    lake = Lake(shutil.copytree(world["pristine"], tmp_path / "lake"))
    feeds = FeedConfig(
        market=True,
        news=("gdelt",),
        oanda_api_url=httpserver.url_for("/"),
        gdelt_api_url=httpserver.url_for(GDELT_PATH),
        gdelt_min_interval_s=0,
        news_every_s=0,
        policy=RetryPolicy(attempts=2, deadline_s=5, initial_wait_s=0.01, max_wait_s=0.05),
    )
    config = LiveConfig(
        lake_root=lake.root,
        landing_market=str(tmp_path / "landing/market"),
        landing_news=str(tmp_path / "landing/news"),
        sentiment_model="lexicon",
        tracking_uri=world["uri"],
        model_name=MODEL,
        feeds=feeds,
    )
    runner = LiveRunner(config)
    first = runner.tick()
    assert (first.decided, first.feed_errors) == (1, {}), first.summary()
    gdelt_up[0] = False
    time.sleep(max(0.0, 61 - (pd.Timestamp.now(tz="UTC") - now).total_seconds()))
    minute += 1
    oanda.candles += minute_candles(today, range(minute, minute + 1))
    second = runner.tick()
    assert set(second.feed_errors) == {"gdelt"}, second.summary()
    rows = lake.read(tables.LIVE_DECISIONS).sort_values("bar_time")
    assert rows["status"].tolist() == ["decided", "decided"]
    assert second.decided == 1
    newest = rows.iloc[-1]
    assert newest["reason"].startswith("gdelt feed failed: ")
    # the newest article it had arrived in the first tick, over a minute before
    assert newest["news_lag_s"] > 55
    assert newest["bar_time"] == pd.Timestamp(
        minute_candles(today, range(minute - 1, minute))[0]["time"]
    )
    news = lake.read(tables.BRONZE_NEWS, today, today)
    assert news["url"].tolist() == [gdelt.articles[0]["url"]]


def test_monitor_judges_what_the_live_path_recorded_against_the_matured_outcomes(
    world: dict, tmp_path: Path
) -> None:
    """After the day's batch run, ``monitor`` joins each decided row to its realised return
    in ``live/outcomes`` (the decisions untouched) and reports the day's coverage."""
    from src_clean.monitoring.monitor import run_monitor

    lake = Lake(shutil.copytree(world["pristine"], tmp_path / "lake"))
    replay, clock = _replay(world["raw"], tmp_path / "landing"), [FIRST_BAR]
    runner = _runner(world, tmp_path / "landing", clock, lake)
    bars = [FIRST_BAR + pd.Timedelta(minutes=m) for m in range(8)]
    for bar in bars[:6]:
        replay.land_through(bar)
        clock[0] = bar + pd.Timedelta(minutes=1, seconds=3)
        assert runner.tick().decided == 1
    replay.land_through(bars[7])
    clock[0] = bars[7] + pd.Timedelta(minutes=1, seconds=120)  # bars 6 and 7 are missed
    assert runner.tick().missed == 2
    history_before = len(DeltaTable(lake.table_uri(tables.LIVE_DECISIONS)).history())

    landing = tmp_path / "batch-landing"  # the daily run: the whole day, labels included
    for folder in ("market", "news"):
        (landing / folder).mkdir(parents=True)
    market, news = _day_files(world["raw"])
    shutil.copy(market, landing / "market" / market.name)
    shutil.copy(news, landing / "news" / news.name)
    run_pipeline(
        PipelineConfig(
            lake=Path(lake.root),
            bronze_market=landing / "market",
            bronze_news=landing / "news",
            sentiment_model="lexicon",
            until="gold",
        )
    )
    result = run_monitor(lake, DAY, DAY, mlflow_uri=world["uri"], registered_model=MODEL)

    checks = result.checks.set_index("check")
    coverage = checks.loc["decisions_coverage"]
    assert (coverage["value"], coverage["status"]) == (0.75, "warn")
    assert coverage["detail"] == "6 of 8 bars decided; 2 not decided within 90 s of the bar's close"
    assert {"decisions_ic_5s", "decisions_hit_rate_5s", "decisions_decay"} <= set(checks.index)
    outcomes = lake.read(tables.LIVE_OUTCOMES).set_index("bar_time")
    assert list(outcomes.index) == bars[:6]
    recorded = lake.read(tables.LIVE_DECISIONS).set_index("bar_time")
    gold = world["full"].read(tables.GOLD_TRAINING, DAY, DAY).set_index("time")
    for bar in bars[:6]:
        assert (
            outcomes.loc[bar, "predicted_return_bps"] == recorded.loc[bar, "predicted_return_bps"]
        )
        assert outcomes.loc[bar, "realized_return_bps"] == gold.loc[bar, "target_return_30m"]
    # the record was only read
    assert len(DeltaTable(lake.table_uri(tables.LIVE_DECISIONS)).history()) == history_before


def test_the_15_minute_dag_decides_the_newest_bar_and_yields_to_a_running_service(
    world: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd, httpserver
) -> None:
    """``sp500_live`` under ``dag.test()`` on the real clock, fetching from the local OANDA
    and GDELT fakes as ``SP500_SOURCES`` says: the newest closed bar is decided by the
    champion. With a live service holding the lease, the next run fails on its first try
    with the one-line reason, and writes nothing."""
    import airflow_env

    from src_clean.orchestration import live_tasks

    airflow_env.migrated_db()
    now = pd.Timestamp.now(tz="UTC")
    minute = now.hour * 60 + now.minute
    oanda = FakeOanda(candles=minute_candles(now.date(), range(max(0, minute - 90), minute)))
    gdelt = FakeGdelt(articles=[gdelt_article(now - pd.Timedelta(minutes=10), 1)])
    httpserver.expect_request(OANDA_PATH).respond_with_handler(oanda)
    httpserver.expect_request(GDELT_PATH).respond_with_handler(gdelt)
    lake = Lake(shutil.copytree(world["pristine"], tmp_path / "lake"))
    env = {
        "SP500_EXECUTION": "local",
        "SP500_SOURCES": "oanda,gdelt",
        "SP500_LAKE_ROOT": lake.root,
        "SP500_LANDING_MARKET": str(tmp_path / "landing/market"),
        "SP500_LANDING_NEWS": str(tmp_path / "landing/news"),
        "SP500_OANDA_API_URL": httpserver.url_for("/"),
        "SP500_GDELT_API_URL": httpserver.url_for(GDELT_PATH),
        "SP500_GDELT_MIN_INTERVAL_S": "0",
        "SP500_SENTIMENT_MODEL": "lexicon",
        "SP500_REGISTERED_MODEL": MODEL,
        "MLFLOW_TRACKING_URI": world["uri"],
    }
    dag = airflow_env.parse_dag_folder(env).dags["sp500_live"]
    for name, value in {**env, "OANDA_API_TOKEN": TOKEN}.items():
        monkeypatch.setenv(name, value)
    run = dag.test(logical_date=None)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states == {"plan": "success", "live": "success"}, states
    rows = lake.read(tables.LIVE_DECISIONS)
    newest = pd.Timestamp(oanda.candles[-1]["time"])
    assert rows["bar_time"].tolist() == [newest] and rows["status"].tolist() == ["decided"]
    assert rows["model_version"].tolist() == ["1"]
    today = now.date()
    assert lake.read(tables.BRONZE_NEWS, today, today)["url"].tolist() == [gdelt.articles[0]["url"]]

    monkeypatch.setattr(live_tasks, "LEASE_TIMEOUT_S", 1)
    service = _runner(world, tmp_path / "landing", [now], lake)
    capfd.readouterr()
    with service.lease():
        run = dag.test(logical_date=None)
    ti = run.get_task_instance("live")
    assert (str(ti.state), ti.try_number) == ("failed", 1)
    output = "".join(capfd.readouterr())
    assert "another live process holds the lease" in output and "Traceback" not in output
    assert len(lake.read(tables.LIVE_DECISIONS)) == 1
