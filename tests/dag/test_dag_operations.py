"""Daily operations through Airflow's ``dag.test()``: trigger paths, ordinary days, fail-fast.

One lake of sample data covers 2023-12-27..2024-01-05: the week of New Year's Day 2024, a
Monday on which CME equity (``CMES``) had no session, after a weekend.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import airflow_env
import pandas as pd
import pytest

from src_clean import tables
from src_clean.lake import Lake
from src_clean.sample_data import generate_sample_data

pytestmark = pytest.mark.slow

NY = ZoneInfo("America/New_York")
SAMPLE_START = dt.date(2023, 12, 27)
SAMPLE_DAYS = 10
LEXICON = {"sentiment_model": "lexicon", "retrain": False}
MARKET_STAGES = {"silver_market", "gold_news", "gold_training", "retrain_enabled", "train"}


def _settings_env(root: Path) -> dict[str, str]:
    return {
        "SP500_EXECUTION": "local",
        "SP500_LAKE_ROOT": str(root / "lake"),
        "SP500_LANDING_MARKET": str(root / "landing" / "market"),
        "SP500_LANDING_NEWS": str(root / "landing" / "news" / "jsonl"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
    }


def _run(root: Path, conf: dict, **test_kwargs) -> dict[str, str]:
    """``dag.test(**test_kwargs)``; the state of every task instance."""
    settings_env = _settings_env(root)
    with pytest.MonkeyPatch.context() as patch:
        dag = airflow_env.load_dag(settings_env)
        for task in dag.tasks:
            task.retries = 0
        for name, value in {**settings_env, "HF_HUB_OFFLINE": "1"}.items():
            patch.setenv(name, value)
        run = dag.test(run_conf=conf, **test_kwargs)
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Path:
    airflow_env.migrated_db()
    root = tmp_path_factory.mktemp("dag-week")
    sample = generate_sample_data(root / "landing", SAMPLE_START, SAMPLE_DAYS, seed=3)
    # Like the real market: no candles from the New Year's Eve open to Monday's close.
    for day in ("2023-12-31", "2024-01-01"):
        for path in sample.market_dir.glob(f"*{day}*"):
            path.unlink()
    return root


def test_a_week_with_a_holiday_and_a_weekend_ends_green(week: Path) -> None:
    """Scheduled runs Fri 2023-12-29, Mon 2024-01-01 (holiday), Tue 2024-01-02."""
    runs = {
        day: _run(week, LEXICON, logical_date=dt.datetime(*day, 17, 30, tzinfo=NY))
        for day in ((2023, 12, 29), (2024, 1, 1), (2024, 1, 2))
    }
    for day, states in runs.items():
        assert "failed" not in states.values(), (day, states)
        assert "upstream_failed" not in states.values(), (day, states)
    holiday = runs[(2024, 1, 1)]
    skipped = {task for task, state in holiday.items() if state == "skipped"}
    assert skipped >= MARKET_STAGES  # market closed: silver, gold and train skipped
    assert holiday["market_data"] == "success"
    assert holiday["bronze_market"] == holiday["silver_sentiment"] == "success"
    assert holiday["monitor"] == holiday["monitoring_summary"] == "success"  # market closed
    trading_day = runs[(2024, 1, 2)]
    assert trading_day["gold_training"] == trading_day["silver_market"] == "success"
    lake = Lake(week / "lake")
    assert dt.date(2024, 1, 2) in lake.partitions(tables.GOLD_TRAINING)
    checks = lake.read(tables.MONITORING_CHECKS)
    holiday_checks = checks[checks["day"] == pd.Timestamp("2024-01-01", tz="UTC")]
    assert "market_closed" in set(holiday_checks["check"])  # the monitor ran, market closed
    tuesday = checks[checks["day"] == pd.Timestamp("2024-01-02", tz="UTC")]
    assert tuesday.loc[tuesday["check"] == "bar_coverage", "subject"].tolist() == ["2024-01-02"]


def test_a_trigger_without_a_logical_date_uses_the_forms_dates(week: Path) -> None:
    """REST ``"logical_date": null`` / ``airflow dags trigger``: no data interval."""
    conf = {**LEXICON, "start_date": "2024-01-03", "end_date": "2024-01-04"}
    states = _run(week, conf, logical_date=None)
    assert states["plan"] == states["gold_training"] == "success", states
    assert dt.date(2024, 1, 4) in Lake(week / "lake").partitions(tables.GOLD_TRAINING)


def test_a_session_without_candles_fails_one_early_check(week: Path) -> None:
    """Triggered for a trading day whose candles never landed: fails at ``market_data``."""
    states = _run(
        week, LEXICON, logical_date=None, run_after=dt.datetime(2024, 2, 7, 15, tzinfo=dt.UTC)
    )
    assert states["plan"] == states["bronze_market"] == "success"
    assert states["market_data"] == "failed"
    assert states["silver_market"] == "upstream_failed"


def test_the_stages_see_the_airflow_context(week: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Local mode: AIRFLOW_CTX_* reach the stage (MLflow lineage reads them in train)."""
    from src_clean.orchestration import runner

    seen: dict[str, dict[str, str]] = {}
    original = runner.run_stage

    def recording(argv, values=None):
        seen[argv[0]] = {k: v for k, v in os.environ.items() if k.startswith("AIRFLOW_CTX_")}
        original(argv, values)

    monkeypatch.setattr(runner, "run_stage", recording)
    conf = {**LEXICON, "start_date": "2024-01-03", "end_date": "2024-01-03"}
    _run(week, conf, logical_date=dt.datetime(2024, 1, 3, 12, tzinfo=dt.UTC))
    context = seen["gold-training"]
    assert context["AIRFLOW_CTX_DAG_ID"] == airflow_env.DAG_ID
    assert context["AIRFLOW_CTX_TASK_ID"] == "gold_training"
    assert context["AIRFLOW_CTX_DAG_RUN_ID"]
    assert context["AIRFLOW_CTX_TRY_NUMBER"] == "1"
    assert context["AIRFLOW_CTX_LOGICAL_DATE"].startswith("2024-01-03")


def test_an_unknown_conf_key_fails_the_plan_without_retries(week: Path) -> None:
    states = _run(week, {**LEXICON, "windw": 5}, logical_date=None)
    assert states["plan"] == "failed"
    assert states["bronze_market"] == "upstream_failed"
