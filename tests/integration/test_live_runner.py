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

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from deltalake import DeltaTable
from test_training_mlflow import fast_config

from src_clean import tables
from src_clean.data_pipelines.gold.feature_list import read_feature_list
from src_clean.feature_set import FeatureSet
from src_clean.lake import Lake
from src_clean.live import decisions
from src_clean.live.features import feature_hash
from src_clean.live.replay import Replay
from src_clean.live.runner import LiveConfig, LiveRunner
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
    return {"raw": raw, "full": full, "live": live, "uri": uri, "base": base}


def _replay(raw: Path, landing: Path) -> Replay:
    market = next((raw / "market").glob(f"*{DAY}*"))
    return Replay(market, next((raw / "news/jsonl").glob(f"{DAY}*")), landing)


def _runner(world: dict, landing: Path, clock: list[pd.Timestamp]) -> LiveRunner:
    config = LiveConfig(
        lake_root=world["live"].root,
        landing_market=str(landing / "market"),
        landing_news=str(landing / "news"),
        sentiment_model="lexicon",
        tracking_uri=world["uri"],
        model_name=MODEL,
        poll_s=0.01,
    )
    return LiveRunner(config, clock=lambda: clock[0])


def test_a_replayed_day_decides_each_bar_as_the_batch_would(world: dict) -> None:
    landing = world["base"] / "replay-landing"
    replay, clock = _replay(world["raw"], landing), [FIRST_BAR]
    runner = _runner(world, landing, clock)
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

    # parity: each decided bar's features are the batch gold row's, bit for bit, and its
    # prediction is the champion's on that row
    tracker = ChampionTracker(world["uri"], MODEL, "champion", lake)
    assert tracker.refresh()
    champion = tracker.champion
    gold = world["full"].read(tables.GOLD_TRAINING, DAY, DAY).set_index("time")
    for bar in [*bars[:4], bars[7]]:
        row = rows.loc[bar]
        expected = gold.loc[bar, champion.features].astype(np.float64)
        stored = pd.Series(json.loads(row["features"]))[champion.features]
        assert [v.hex() for v in stored] == [float(v).hex() for v in expected], bar
        assert row["feature_hash"] == feature_hash(expected)
        inputs = pd.DataFrame([expected.to_numpy()], columns=champion.features)
        predicted = float(np.asarray(champion.model.predict(inputs)).reshape(-1)[0])
        assert row["predicted_return_bps"] == predicted
        assert row["model_version"] == champion.version
        assert 2.0 <= row["market_lag_s"] <= 3.0  # the clock ran 2-3 s after the close
        assert row["decision_time"] == bar + pd.Timedelta(minutes=1)

    # an append-only record: every commit after the first inserted rows and changed none
    history = DeltaTable(lake.table_uri(tables.LIVE_DECISIONS)).history()
    merges = [h for h in history if h["operation"] == "MERGE"]
    assert len(merges) == len(history) - 1 >= 5
    for commit in merges:
        metrics = commit["operationMetrics"]
        assert metrics["num_target_rows_updated"] == 0, commit
        assert metrics["num_target_rows_deleted"] == 0, commit


def test_a_second_live_process_waits_for_the_lease(world: dict, tmp_path: Path) -> None:
    import filelock

    landing = tmp_path / "landing"
    runner, other = (_runner(world, landing, [FIRST_BAR]) for _ in range(2))
    with runner.lease(), pytest.raises(filelock.Timeout), other.lease(timeout_s=0.2):
        pass
    with other.lease(timeout_s=1):  # released: the next one takes it
        pass


def test_the_feature_list_it_decides_with_is_the_batch_one(world: dict) -> None:
    spec = read_feature_list(world["live"], FeatureSet())
    assert spec == read_feature_list(world["full"], FeatureSet())
    assert decisions.last_bar(Lake(world["base"] / "nowhere"), MODEL) is None
