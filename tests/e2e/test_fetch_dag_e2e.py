"""Acquisition inside the daily DAG: ``fetch_market`` and ``fetch_news`` call local OANDA and
GDELT stand-ins, and the ingests, silver and gold run on what they landed (``dag.test()``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import airflow_env
import pandas as pd
import pytest
from fake_apis import (
    GDELT_PATH,
    OANDA_PATH,
    TOKEN,
    FakeGdelt,
    FakeOanda,
    gdelt_article,
    recent_friday,
)
from fake_apis import minute_candles as candles_of

from src_clean import tables
from src_clean.lake import Lake

pytestmark = pytest.mark.slow

DAY = recent_friday()  # a CME equity session inside GDELT DOC's 3-month window


def test_a_run_fetches_its_interval_and_builds_the_lake(httpserver, tmp_path: Path) -> None:
    airflow_env.migrated_db()
    oanda = FakeOanda(candles=candles_of(DAY))
    noon = dt.datetime.combine(DAY, dt.time(12), tzinfo=dt.UTC)
    articles = [gdelt_article(noon + dt.timedelta(minutes=9 * n), n) for n in range(30)]
    gdelt = FakeGdelt(articles=articles)
    httpserver.expect_request(OANDA_PATH).respond_with_handler(oanda)
    httpserver.expect_request(GDELT_PATH).respond_with_handler(gdelt)
    settings_env = {
        "SP500_EXECUTION": "local",
        "SP500_SOURCES": "oanda,gdelt",
        "SP500_LAKE_ROOT": str(tmp_path / "lake"),
        "SP500_LANDING_MARKET": str(tmp_path / "landing" / "market"),
        "SP500_LANDING_NEWS": str(tmp_path / "landing" / "news"),
        "SP500_OANDA_API_URL": httpserver.url_for("/"),
        "SP500_GDELT_API_URL": httpserver.url_for(GDELT_PATH),
        "SP500_GDELT_MIN_INTERVAL_S": "0",
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    conf = {"sentiment_model": "lexicon", "retrain": False}
    conf |= {"start_date": DAY.isoformat(), "end_date": DAY.isoformat()}
    with pytest.MonkeyPatch.context() as patch:
        dag = airflow_env.load_dag(settings_env)
        for task in dag.tasks:
            task.retries = 0
        for name, value in {**settings_env, "OANDA_API_TOKEN": TOKEN}.items():
            patch.setenv(name, value)
        run = dag.test(run_conf=conf, logical_date=None)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}

    assert states["fetch_market"] == states["fetch_news"] == "success", states
    assert states["gold_training"] == "success", states
    assert oanda.log and gdelt.log  # both APIs were called by the run

    lake = Lake(tmp_path / "lake")
    candles = lake.read(tables.BRONZE_CANDLES).sort_values("time", ignore_index=True)
    served = pd.to_datetime([c["time"] for c in oanda.candles], utc=True)
    assert (candles["time"].to_numpy() == served.to_numpy()).all()
    assert candles["close"].tolist() == [float(c["mid"]["c"]) for c in oanda.candles]
    news = lake.read(tables.BRONZE_NEWS)
    assert sorted(news["headline"]) == sorted(a["title"] for a in articles)
    scored = lake.read(tables.SILVER_SENTIMENT)
    assert set(scored["article_id"]) == set(news["article_id"])
    gold = lake.read(tables.GOLD_TRAINING)
    assert len(gold) and set(gold["time"].dt.date) == {DAY}
