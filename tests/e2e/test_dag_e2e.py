"""End to end: Airflow's ``dag.test()`` runs every stage on sample data, in local mode."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import airflow_env
import pandas as pd
import pytest
import sqlalchemy as sa

from src_clean import tables
from src_clean.data_pipelines.silver import model_registry
from src_clean.feature_set import FeatureSet
from src_clean.lake import Lake
from src_clean.sample_data import generate_sample_data

pytestmark = pytest.mark.slow

# Three weeks of candles: the trigger form backfills all of them (the data interval alone
# would cover one session, too little to train on); the training history covers them all,
# enough sessions for the default walk-forward (5 folds and a holdout).
SAMPLE_START = dt.date(2024, 1, 1)
SAMPLE_DAYS = 22
SAMPLE_END = SAMPLE_START + dt.timedelta(days=SAMPLE_DAYS - 1)
LOGICAL_DATE = dt.datetime.combine(SAMPLE_END + dt.timedelta(days=1), dt.time(12), dt.UTC)
RUN_CONF = {
    "start_date": SAMPLE_START.isoformat(),
    "end_date": SAMPLE_END.isoformat(),
    "sentiment_model": "lexicon",
}


def _settings_env(root: Path, lake: Path) -> dict[str, str]:
    return {
        "SP500_EXECUTION": "local",
        "SP500_LAKE_ROOT": str(lake),
        "SP500_LANDING_MARKET": str(root / "landing" / "market"),
        "SP500_LANDING_NEWS": str(root / "landing" / "news" / "jsonl"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
    }


def _test(settings_env: dict[str, str], logical_date: dt.datetime | None, conf: dict) -> Any:
    """``dag.test()`` with ``settings_env``; the DagRun."""
    with pytest.MonkeyPatch.context() as patch:
        dag = airflow_env.load_dag(settings_env)
        for task in dag.tasks:
            task.retries = 0  # a failure fails the test now, not after the retry delays
        for name, value in {**settings_env, "HF_HUB_OFFLINE": "1"}.items():
            patch.setenv(name, value)
        return dag.test(logical_date=logical_date, run_conf=conf)


def _run(settings_env: dict[str, str], logical_date: dt.datetime, conf: dict) -> dict[str, str]:
    """``dag.test()`` with ``settings_env``; the state of every task instance."""
    run = _test(settings_env, logical_date, conf)
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def _asset_events(run_id: str) -> dict[str, tuple[str, dict]]:
    """The Asset events a run emitted: task id -> (asset name, extra)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.execute(
            sa.select(AssetEvent.source_task_id, AssetModel.name, AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetEvent.source_run_id == run_id)
        ).all()
    return {task: (name, extra) for task, name, extra in rows}


def _row_counts(lake: Lake) -> dict[str, int]:
    return {table: len(lake.read(table)) for table in tables.LAYER_TABLES}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict[str, str]]:
    airflow_env.migrated_db()
    root = tmp_path_factory.mktemp("dag-e2e")
    generate_sample_data(root / "landing", SAMPLE_START, SAMPLE_DAYS, seed=7)
    settings_env = _settings_env(root, root / "lake")
    return root, settings_env, _run(settings_env, LOGICAL_DATE, RUN_CONF)


def test_every_task_succeeds_and_writes_its_table(first_run) -> None:
    root, _, states = first_run
    assert states == dict.fromkeys(states, "success")
    assert len(states) == 14  # with monitor and monitoring_summary
    lake = Lake(root / "lake")
    for table in (*tables.LAYER_TABLES, tables.MONITORING_CHECKS, tables.MONITORING_INGESTS):
        assert lake.partitions(table), table
    assert lake.files.exists(f"{tables.MONITORING_REPORTS}/{SAMPLE_END}.html")
    assert lake.partitions(tables.GOLD_TRAINING)[-1] == SAMPLE_END
    assert lake.files.read_json(FeatureSet().feature_list)["news_features"]
    sentiment = lake.read(tables.SILVER_SENTIMENT, columns=["model_id"])
    assert sentiment["model_id"].str.startswith("lexicon:").all()  # the trigger form's model


def test_training_is_tracked_in_mlflow(first_run) -> None:
    from mlflow.tracking import MlflowClient

    root, settings_env, _ = first_run
    summary = Lake(root / "lake").files.read_json(tables.TRAINING_SUMMARY)
    client = MlflowClient(settings_env["MLFLOW_TRACKING_URI"])
    experiments = [e.experiment_id for e in client.search_experiments()]
    run_ids = {run.info.run_id for run in client.search_runs(experiments)}
    assert summary["mlflow_run_id"] in run_ids


def test_rerunning_the_same_interval_changes_no_table(first_run, caplog) -> None:
    """The same DAG run again: no table changes, no model version is registered (gold is
    rewritten with identical rows, so the training's fingerprint is the same), and every
    Asset event finds its Asset."""
    from mlflow.tracking import MlflowClient

    root, settings_env, _ = first_run
    lake = Lake(root / "lake")
    client = MlflowClient(settings_env["MLFLOW_TRACKING_URI"])
    versions = client.search_model_versions("name = 'sp500-news-xgb'")
    before = _row_counts(lake)
    with caplog.at_level("WARNING"):
        states = _run(settings_env, LOGICAL_DATE, RUN_CONF)
    assert states == dict.fromkeys(states, "success")
    assert _row_counts(lake) == before
    assert len(client.search_model_versions("name = 'sp500-news-xgb'")) == len(versions) > 0
    decision = lake.files.read_json(tables.TRAINING_SUMMARY)["champion_decision"]
    assert decision["unchanged"] is True, decision
    assert not [r for r in caplog.records if "cannot create asset event" in r.getMessage()]


def _table(lake: Lake, table: str):
    return lake.read(table).sort_values("time", ignore_index=True)


def test_skip_news_writes_its_own_variant_and_a_normal_run_then_trains(
    first_run, tmp_path: Path
) -> None:
    """A skip_news run never rewrites gold/training; the next normal run trains (#13)."""
    root, _, _ = first_run
    shutil.copytree(root / "lake", tmp_path / "lake")
    settings_env = _settings_env(root, tmp_path / "lake")
    lake = Lake(tmp_path / "lake")
    canonical = _table(lake, tables.GOLD_TRAINING)
    features = lake.files.read_json(FeatureSet().feature_list)

    summary = lake.files.read_json(tables.TRAINING_SUMMARY)

    conf = {**RUN_CONF, "skip_news": True}
    run = _test(settings_env, LOGICAL_DATE + dt.timedelta(days=1), conf)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    skipped = {"silver_sentiment", "gold_news"}
    assert {task for task, state in states.items() if state == "skipped"} == skipped
    assert all(states[task] == "success" for task in set(states) - skipped)
    feature_set = FeatureSet(skip_news=True)
    variant, variant_table = feature_set.name, feature_set.training_table
    market_only = lake.files.read_json(feature_set.feature_list)
    assert market_only["skip_news"] is True and market_only["news_features"] == []
    assert not any(c.startswith("news_") for c in lake.read(variant_table))
    pd.testing.assert_frame_equal(_table(lake, tables.GOLD_TRAINING), canonical)
    assert lake.files.read_json(FeatureSet().feature_list) == features
    # the variant's summary is its own; the canonical report is untouched (#21)
    assert lake.files.read_json(tables.TRAINING_SUMMARY) == summary
    own = lake.files.read_json(f"reports/variants/{variant}/training_summary.json")
    assert own["with_news"] is None and own["variant"] == variant
    assert own["champion_decision"]["registered_model"] == f"sp500-news-xgb-{variant}"
    assert run.get_task_instance("promotion_report").xcom_pull() == {
        "mlflow_run_id": own["mlflow_run_id"],
        **own["champion_decision"],
    }
    # each Asset event names the table the task really wrote, with the run's dates
    events = _asset_events(run.run_id)
    start, end = RUN_CONF["start_date"], RUN_CONF["end_date"]
    assert events["gold_training"] == (
        variant_table,
        {
            "table": variant_table,
            "start": start,
            "end": end,
            "version": lake.version(variant_table),
            "rows": len(lake.read(variant_table, start, end)),
        },
    )
    summary_file = f"reports/variants/{variant}/training_summary.json"
    assert events["train"][0] == summary_file
    assert "rows" not in events["train"][1]  # a side file: no version, no rows
    name, extra = events["silver_market"]
    assert name == tables.SILVER_FEATURES and extra["start"] == start
    assert extra["version"] == lake.version(name)
    assert extra["rows"] == len(lake.read(name, start, end)) > 0
    assert events["monitor"][1]["table"] in (
        tables.MONITORING_CHECKS,
        tables.MONITORING_PREDICTIONS,
    )
    assert "gold_news" not in events

    states = _run(settings_env, LOGICAL_DATE + dt.timedelta(days=2), RUN_CONF)
    assert states == dict.fromkeys(states, "success")
    assert lake.files.read_json(tables.TRAINING_SUMMARY)["n_train"] > 0


def test_a_first_run_with_the_forms_defaults_on_the_demo_lake_ends_green(tmp_path: Path) -> None:
    """`make demo`, then `make airflow` and Trigger with the form as it opens: today's
    logical date, no dates, the default (unreachable) FinBERT. The run processes the last
    complete session of the sample data, scores with the lexicon behind the demo banner,
    and every task succeeds (#21)."""
    from src_clean.run_full_pipeline import PipelineConfig, run_pipeline

    airflow_env.migrated_db()
    lake = tmp_path / "data_clean"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        run_pipeline(PipelineConfig(lake=lake, demo=True, demo_days=SAMPLE_DAYS))
    settings_env = {  # what scripts/airflow_standalone.sh exports on the sample data
        "SP500_EXECUTION": "local",
        "SP500_LAKE_ROOT": str(lake),
        "SP500_LANDING_MARKET": str(lake / "raw" / "market"),
        "SP500_LANDING_NEWS": str(lake / "raw" / "news" / "jsonl"),
        "SP500_SCHEDULE": "",
        "SP500_DEMO_FALLBACK": "true",
        "MLFLOW_TRACKING_URI": f"sqlite:///{lake / 'mlflow.db'}",
    }
    run = _test(settings_env, dt.datetime.now(dt.UTC), {})
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states == dict.fromkeys(states, "success")
    last_day = SAMPLE_END
    plan = run.get_task_instance("plan").xcom_pull(key="silver_market")
    assert plan[-4:] == ["--start", f"{last_day}", "--end", f"{last_day}"]
    finbert = model_registry.lookup(Lake(lake), "ProsusAI/finbert")  # behind the demo banner
    assert finbert.fell_back_to_lexicon is True
    summary = Lake(lake).files.read_json(tables.TRAINING_SUMMARY)
    assert summary["gold_table"] == tables.GOLD_TRAINING and summary["n_train"] > 0
