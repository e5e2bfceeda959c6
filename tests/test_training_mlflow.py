"""``train`` end to end against a real sqlite MLflow store, read back through MlflowClient."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import mlflow.pyfunc
import mlflow.xgboost
import pytest

from src_clean import tables
from src_clean.lake import Lake
from src_clean.training.config import TrainConfig
from src_clean.training.train import train

sys.path.insert(0, str(Path(__file__).parent))
from test_training_units import HORIZON, MARKET, NEWS, synthetic_gold, write_gold

REPO = Path(__file__).resolve().parents[1]
MODEL = "sp500-news-xgb"
CHILD_ARTIFACTS = {
    "feature_importance.csv",
    "feature_importance.png",
    "data_profile.csv",
    "plots/predictions_vs_actual.png",
    "plots/cumulative_return.png",
}
SUMMARY_KEYS = {
    "with_news",
    "market_only",
    "baselines",
    "uplift",
    "mlflow_run_id",
    "sentiment_model_id",
    "n_train",
    "n_val",
    "n_test",
    "registered_model_version",
    "champion_decision",
    "horizon_minutes",
    "feature_list_hash",
}
CLI_TRAIN = """
import sys
from src_clean.cli import main
rc = main(sys.argv[1:])
assert "torch" not in sys.modules and "transformers" not in sys.modules, "torch was imported"
sys.exit(rc)
"""


def fast_config(uri: str, **overrides) -> TrainConfig:
    settings = {"n_estimators": 200, "learning_rate": 0.1, "bootstrap": 200, "tracking_uri": uri}
    return TrainConfig(**settings | overrides)


def all_artifacts(client, run_id: str, path: str | None = None) -> set[str]:
    found = set()
    for item in client.list_artifacts(run_id, path):
        found |= all_artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return found


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """One CLI run in a subprocess (as the trainer container runs it) on a planted signal."""
    root = tmp_path_factory.mktemp("lake")
    lake = Lake(root)
    write_gold(lake, synthetic_gold(effect=3.0))
    uri = f"sqlite:///{root}/mlflow.db"
    argv = ["train", "--lake", str(root), "--mlflow-tracking-uri", uri]
    argv += ["--n-estimators", "200", "--bootstrap", "200"]
    proc = subprocess.run(
        [sys.executable, "-c", CLI_TRAIN, *argv], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = lake.read_json(tables.TRAINING_SUMMARY)
    return lake, uri, mlflow.MlflowClient(uri), summary, proc.stdout


def test_cli_prints_table_and_never_imports_torch(first_run) -> None:
    _, _, _, summary, stdout = first_run
    assert "baseline:previous_return_sign" in stdout
    assert "uplift directional_accuracy" in stdout
    assert summary["mlflow_run_id"] in stdout
    assert "promoted" in stdout


def test_summary_has_every_key(first_run) -> None:
    _, _, _, summary, _ = first_run
    assert set(summary) >= SUMMARY_KEYS
    for block in (summary["with_news"], summary["market_only"], *summary["baselines"].values()):
        assert {"test_rmse", "test_mae", "test_directional_accuracy", "test_ic"} <= set(block)
    assert set(summary["uplift"]) == {"directional_accuracy", "ic"}
    assert summary["horizon_minutes"] == HORIZON
    assert summary["n_train"] > summary["n_val"] > 0


def test_parent_and_child_runs_with_params_and_metrics(first_run) -> None:
    lake, _, client, summary, _ = first_run
    parent = client.get_run(summary["mlflow_run_id"])
    experiment = client.get_experiment(parent.info.experiment_id)
    assert experiment.name == "sp500-news-signals"
    assert experiment.artifact_location == lake.local_path("mlartifacts").as_uri()
    params = parent.data.params
    assert params["feature_list_hash"] == summary["feature_list_hash"]
    assert params["horizon_minutes"] == str(HORIZON)
    assert params["sentiment_model_id"] == "ProsusAI/finbert@test"
    assert len(params["git_commit"]) == 40 or params["git_commit"] == "unknown"
    assert params["n_test"] == str(summary["n_test"])
    assert params["learning_rate"] == "0.05" and params["n_estimators"] == "200"
    metrics = parent.data.metrics
    assert metrics["with_news_test_ic"] == pytest.approx(summary["with_news"]["test_ic"])
    assert "baseline_zero_return_test_rmse" in metrics
    assert metrics["uplift_ic_ci_low"] == pytest.approx(summary["uplift"]["ic"]["ci_low"])
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    assert sorted(run.info.run_name for run in children) == ["market_only", "with_news"]
    for child in children:
        assert {"test_ic", "test_rmse", "best_iteration"} <= set(child.data.metrics)
        assert all_artifacts(client, child.info.run_id) >= CHILD_ARTIFACTS
    assert {"champion_decision.json", "training_summary.json"} <= all_artifacts(
        client, parent.info.run_id
    )


def test_registered_challenger_loads_and_is_the_with_news_model(first_run) -> None:
    lake, uri, client, summary, _ = first_run
    version = client.get_model_version_by_alias(MODEL, "challenger")
    assert str(version.version) == summary["registered_model_version"] == "1"
    assert client.get_run(version.run_id).info.run_name == "with_news"
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    mlflow.set_tracking_uri(uri)
    model = mlflow.xgboost.load_model(f"models:/{MODEL}@challenger")
    features = model.get_booster().feature_names
    assert features == [*MARKET, *NEWS]
    gold = lake.read(tables.GOLD_TRAINING, columns=features).head(50)  # float64, as served
    served = mlflow.pyfunc.load_model(f"models:/{MODEL}@challenger").predict(gold)
    assert served == pytest.approx(model.predict(gold), rel=1e-6)
    logged = mlflow.search_logged_models(
        experiment_ids=[client.get_run(version.run_id).info.experiment_id], output_format="list"
    )
    assert {m.source_run_id for m in logged} >= {version.run_id}


def test_champion_moves_only_when_the_challenger_is_better(first_run) -> None:
    lake, uri, client, _, _ = first_run
    worse = train_on(lake, uri, effect=0.0)
    assert worse["champion_decision"]["promoted"] is False
    assert worse["champion_decision"]["previous_champion_version"] == "1"
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    assert str(client.get_model_version_by_alias(MODEL, "challenger").version) == "2"
    decision = json.loads(
        Path(
            client.download_artifacts(worse["mlflow_run_id"], "champion_decision.json")
        ).read_text()
    )
    assert decision["reason"].startswith("kept champion")

    better = train_on(lake, uri, effect=8.0)
    assert better["champion_decision"]["promoted"] is True
    assert (
        better["champion_decision"]["challenger_value"]
        > (better["champion_decision"]["previous_champion_value"])
    )
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "3"
    tags = client.get_run(better["mlflow_run_id"]).data.tags
    assert tags["champion_decision"].startswith("promoted")


def train_on(lake: Lake, uri: str, effect: float) -> dict:
    write_gold(lake, synthetic_gold(effect=effect, seed=2))
    return train(lake, fast_config(uri))


def test_skip_news_registers_market_only(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    write_gold(lake, synthetic_gold(effect=3.0, days=10), skip_news=True)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    summary = train(lake, fast_config(uri, experiment="skip-news"))
    assert summary["with_news"] is None and summary["uplift"] is None
    assert summary["sentiment_model_id"] is None
    client = mlflow.MlflowClient(uri)
    version = client.get_model_version_by_alias(MODEL, "challenger")
    assert client.get_run(version.run_id).info.run_name == "market_only"
