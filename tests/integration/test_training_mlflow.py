"""``train`` end to end against a real sqlite MLflow store, read back through MlflowClient:
tracking, lineage, the registry's champion rule, variants and time travel on gold versions."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import mlflow
import mlflow.pyfunc
import mlflow.xgboost
import pytest
from test_training_units import MARKET, NEWS, synthetic_gold, write_gold

from src_clean import tables
from src_clean.feature_set import FeatureSet
from src_clean.lake import Lake
from src_clean.training.config import DEFAULT_EXPERIMENT, TrainConfig
from src_clean.training.tracking import session
from src_clean.training.train import train

REPO = Path(__file__).resolve().parents[2]
MODEL = "sp500-news-xgb"
HORIZON = tables.CANONICAL_HORIZON
AIRFLOW_ENV = {
    "AIRFLOW_CTX_DAG_ID": "sp500_news_pipeline",
    "AIRFLOW_CTX_DAG_RUN_ID": "scheduled__2024-04-01T00:00:00+00:00",
    "AIRFLOW_CTX_LOGICAL_DATE": "2024-04-01T00:00:00+00:00",
    "AIRFLOW_CTX_TRY_NUMBER": "2",
}
CHILD_ARTIFACTS = {
    "feature_importance.csv",
    "feature_importance.png",
    "data_profile.csv",
    "plots/predictions_vs_actual.png",
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
    "variant",
    "gold_table",
    "gold_version",
}
CLI_TRAIN = """
import sys
from src_clean.cli import main
rc = main(sys.argv[1:])
assert "torch" not in sys.modules and "transformers" not in sys.modules, "torch was imported"
sys.exit(rc)
"""


def head_commit() -> str | None:
    """The checkout's commit; None outside a git checkout (then nothing may claim one)."""
    git = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO)
    return git.stdout.strip() if git.returncode == 0 else None


def fast_config(uri: str, **overrides) -> TrainConfig:
    settings = {"n_estimators": 200, "learning_rate": 0.1, "bootstrap": 200, "tracking_uri": uri}
    return TrainConfig(**settings | overrides)


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory) -> Path:
    """An MLflow sqlite store with its tables created (about 10 s, done once per session)."""
    db = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    mlflow.MlflowClient(f"sqlite:///{db}").search_experiments()
    return db


def new_store(empty_store: Path, folder: Path) -> str:
    """The tracking URI of a fresh store in ``folder``: a copy of ``empty_store``."""
    shutil.copyfile(empty_store, folder / "mlflow.db")
    return f"sqlite:///{folder}/mlflow.db"


def canonical_gold(lake: Lake, effect: float, seed: int = 0, days: int = 20, **doc) -> int:
    """A new version of the canonical gold table (news, window 60, horizon 30); its number."""
    frame = synthetic_gold(effect, days=days, seed=seed, horizon=HORIZON)
    return write_gold(lake, frame, horizon=HORIZON, **doc)


def all_artifacts(client, run_id: str, path: str | None = None) -> set[str]:
    found = set()
    for item in client.list_artifacts(run_id, path):
        found |= all_artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return found


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, empty_store):
    """One CLI run in a subprocess (as the trainer container runs it) on a planted signal."""
    root = tmp_path_factory.mktemp("lake")
    lake = Lake(root)
    version = canonical_gold(lake, effect=3.0)
    uri = new_store(empty_store, root)
    argv = ["train", "--lake", str(root), "--mlflow-tracking-uri", uri]
    argv += ["--n-estimators", "200", "--bootstrap", "200"]
    proc = subprocess.run(
        [sys.executable, "-c", CLI_TRAIN, *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=os.environ | AIRFLOW_ENV,  # as Airflow runs the task
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = lake.files.read_json(tables.TRAINING_SUMMARY)
    return lake, uri, mlflow.MlflowClient(uri), summary, proc.stdout, version


def test_cli_prints_table_and_never_imports_torch(first_run) -> None:
    _, _, _, summary, stdout, _ = first_run
    assert "baseline:previous_return_sign" in stdout
    assert "verdict: news is " in stdout and "permutations" in stdout
    assert summary["mlflow_run_id"] in stdout
    assert "promoted" in stdout


def test_summary_has_every_key(first_run) -> None:
    _, _, _, summary, _, _ = first_run
    assert set(summary) >= SUMMARY_KEYS
    for block in (summary["with_news"], summary["market_only"], *summary["baselines"].values()):
        assert {"test_rmse", "test_mae", "test_directional_accuracy", "test_ic"} <= set(block)
    assert set(summary["uplift"]) == {"ic"}
    walk = summary["walk_forward"]
    assert len(walk["folds"]) == 5 and walk["null"]["permutations"] == 199
    assert {"primary", "secondary", "claim"} <= set(walk)
    assert {"low", "high", "estimate"} == set(walk["pooled"]["uplift_ic"])
    assert summary["horizon_minutes"] == HORIZON
    assert summary["n_train"] > summary["n_val"] > 0


def test_parent_and_child_runs_with_params_and_metrics(first_run) -> None:
    lake, _, client, summary, _, version = first_run
    parent = client.get_run(summary["mlflow_run_id"])
    experiment = client.get_experiment(parent.info.experiment_id)
    assert experiment.name == "sp500-news-signals"
    assert experiment.artifact_location == lake.local_path("mlartifacts").as_uri()
    params = parent.data.params
    assert params["feature_list_hash"] == summary["feature_list_hash"]
    assert params["horizon_minutes"] == str(HORIZON)
    assert params["sentiment_model_id"] == "ProsusAI/finbert@test"
    assert params["git_commit"] == head_commit()
    assert params["gold_table"] == "gold/training" and params["gold_version"] == str(version)
    assert params["variant"] == "None" and params["registered_model_name"] == MODEL
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
    assert sorted(run.data.tags["feature_set"] for run in children) == ["market_only", "with_news"]
    suffix = parent.info.run_name.removeprefix("train canonical")
    assert {run.info.run_name for run in children} == {
        f"with_news{suffix}",
        f"market_only{suffix}",
    }
    for child in children:
        assert {"test_ic", "test_rmse", "best_iteration"} <= set(child.data.metrics)
        assert all_artifacts(client, child.info.run_id) >= CHILD_ARTIFACTS
    assert {"champion_decision.json", "training_summary.json"} <= all_artifacts(
        client, parent.info.run_id
    )


def test_registered_challenger_loads_and_is_the_with_news_model(first_run) -> None:
    lake, uri, client, summary, _, _ = first_run
    version = client.get_model_version_by_alias(MODEL, "challenger")
    assert str(version.version) == summary["registered_model_version"] == "1"
    assert client.get_run(version.run_id).data.tags["feature_set"] == "with_news"
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    mlflow.set_tracking_uri(uri)
    model = mlflow.xgboost.load_model(f"models:/{MODEL}@challenger")
    features = model.feature_names
    assert features == [*MARKET, *NEWS]
    gold = lake.read(tables.GOLD_TRAINING, columns=features).head(50)  # float64, as served
    served = mlflow.pyfunc.load_model(f"models:/{MODEL}@challenger").predict(gold)
    assert served == pytest.approx(model.inplace_predict(gold.to_numpy()), rel=1e-6)
    logged = mlflow.search_logged_models(
        experiment_ids=[client.get_run(version.run_id).info.experiment_id], output_format="list"
    )
    assert {m.source_run_id for m in logged} >= {version.run_id}


def test_champion_moves_only_on_walk_forward_evidence(first_run) -> None:
    lake, uri, client, summary, _, _ = first_run
    # the same folds of the same gold version, other settings: compared on those folds
    reseeded = train(lake, fast_config(uri))
    decision = reseeded["champion_decision"]
    # session by session against the champion's recorded daily IC, promoted beyond noise only
    assert re.search(
        r"\(95% CI [-+]\d\.\d{4} to [-+]\d\.\d{4}\) on the same \d+ walk-forward sessions "
        r"of gold/training@v\d+: (beyond|within) noise",
        decision["reason"],
    ), decision["reason"]
    assert decision["promoted"] == ("beyond noise" in decision["reason"])
    assert decision["previous_champion_version"] == "1"
    # the same gold version, settings and code again: nothing new is registered
    versions = len(client.search_model_versions(f"name = '{MODEL}'"))
    again = train(lake, fast_config(uri))
    assert again["champion_decision"]["unchanged"] is True
    assert again["registered_model_version"] == reseeded["registered_model_version"] == "2"
    assert len(client.search_model_versions(f"name = '{MODEL}'")) == versions
    # gold rewritten with identical rows (as every Airflow run of gold-training does): a
    # new table version, the same input, so nothing is registered either
    before = lake.version(tables.GOLD_TRAINING)
    canonical_gold(lake, effect=3.0)
    assert lake.version(tables.GOLD_TRAINING) == before + 1
    rerun = train(lake, fast_config(uri))
    assert rerun["champion_decision"]["unchanged"] is True, rerun["champion_decision"]
    assert len(client.search_model_versions(f"name = '{MODEL}'")) == versions
    # a rewritten gold table over the same dates: the champion trained on every session,
    # so there is nothing fair to compare on and the champion stays
    rewritten = train_on(lake, uri, effect=8.0)
    assert rewritten["champion_decision"]["promoted"] is False, rewritten["champion_decision"][
        "reason"
    ]
    assert "never trained on" in rewritten["champion_decision"]["reason"]
    assert str(client.get_model_version_by_alias(MODEL, "challenger").version) == "3"
    # ten more sessions: both models are scored on the walk-forward sessions after the
    # last one the champion read (its validation end plus the embargo)
    canonical_gold(lake, effect=8.0, seed=2, days=30)
    extended = train(lake, fast_config(uri))["champion_decision"]
    compared = re.search(r"on (\d+) walk-forward sessions it never trained on", extended["reason"])
    assert compared and int(compared.group(1)) >= 3, extended["reason"]
    # the reseeded v2 became champion only if its gain was beyond noise
    assert extended["previous_champion_version"] == ("2" if decision["promoted"] else "1")


def train_on(lake: Lake, uri: str, effect: float) -> dict:
    canonical_gold(lake, effect=effect, seed=2)
    return train(lake, fast_config(uri))


# -- lineage ------------------------------------------------------------------------


def test_run_names_tell_runs_apart(first_run) -> None:
    _, _, client, summary, _, version = first_run
    parent = client.get_run(summary["mlflow_run_id"])
    # what the run is comes first: the runs list cuts long names (#21)
    assert (
        parent.info.run_name == f"train canonical · h30 · 2024-03-04..2024-03-29 · gold v{version}"
    )
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    assert sorted(run.info.run_name.split(" · ")[0] for run in children) == [
        "market_only",
        "with_news",
    ]
    # the description holds the verdict, headline first; so do the metrics
    note = parent.data.tags["mlflow.note.content"]
    ic = summary["uplift"]["ic"]
    assert note.startswith("**news is ")
    secondary = summary["walk_forward"]["secondary"]["estimate"]
    assert f"secondary model uplift {secondary:+.4f} daily IC" in note
    assert "| fold1 |" in note and "permutations" in note
    history = client.get_metric_history(parent.info.run_id, "uplift_ic")
    assert [m.value for m in history] == [pytest.approx(ic["estimate"])]


def test_runs_carry_airflow_data_model_and_code_lineage(first_run) -> None:
    lake, _, client, summary, _, version = first_run
    parent = client.get_run(summary["mlflow_run_id"])
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    expected = {
        "airflow.dag_id": "sp500_news_pipeline",
        "airflow.dag_run_id": AIRFLOW_ENV["AIRFLOW_CTX_DAG_RUN_ID"],
        "airflow.logical_date": "2024-04-01T00:00:00+00:00",
        "airflow.try_number": "2",
        "sentiment_model_id": "ProsusAI/finbert@test",
        "gold.table": "gold/training",
        "gold.table_uri": lake.table_uri(tables.GOLD_TRAINING),
        "gold.version": str(version),
        "gold.date_range": "2024-03-04..2024-03-29",
        "variant": "canonical",
        "horizon_minutes": "30",
        "skip_news": "false",
    }
    digests = set()
    for run in (parent, *children):
        assert run.data.tags.items() >= expected.items(), run.info.run_name
        assert run.data.tags.get("mlflow.source.git.commit") == head_commit()
        (used,) = run.inputs.dataset_inputs
        assert used.dataset.name == f"gold/training@v{version}"
        assert used.dataset.source_type == "delta_table"
        source = json.loads(used.dataset.source)
        uri = lake.table_uri(tables.GOLD_TRAINING)
        assert source == {"path": uri, "delta_table_version": version}
        assert {t.key: t.value for t in used.tags}["mlflow.data.context"] == "training"
        assert json.loads(used.dataset.profile)["num_rows"] == 20 * (390 - HORIZON)  # labelled
        columns = {c["name"] for c in json.loads(used.dataset.schema)["mlflow_colspec"]}
        assert columns == {"time", *MARKET, *NEWS, "target_return_30m", "target_direction_30m"}
        digests.add(used.dataset.digest)
    assert len(digests) == 1  # the parent and both children read the same rows


def test_mlflow_opens_on_the_answer(first_run) -> None:
    """Model-training mode, the headline as parent-run metrics (columns in the runs list),
    the real duration, and the tear sheet beside the run."""
    lake, _, client, summary, _, _ = first_run
    experiment = client.get_experiment_by_name(DEFAULT_EXPERIMENT)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    parent = client.get_run(summary["mlflow_run_id"])
    metrics = parent.data.metrics
    walk = summary["walk_forward"]
    assert metrics["news_significant"] == float(walk["claim"]["significant"])
    assert parent.data.tags["verdict"] == summary["verdict"].split(". ", 1)[0]
    assert parent.data.tags["verdict"].startswith(("news is significant", "news is not"))
    assert metrics["secondary_ci_low"] == pytest.approx(walk["secondary"]["low"])
    assert metrics["primary_p_value"] == pytest.approx(walk["primary"]["p_value"])
    seconds = sum(walk["seconds"]["folds"]) + walk["seconds"]["null"]
    assert (parent.info.end_time - parent.info.start_time) / 1000 >= seconds
    assert "verdict/tear_sheet.html" in all_artifacts(client, parent.info.run_id)
    page = lake.local_path(summary["tear_sheet"]).read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert summary["mlflow_run_id"] in page


def test_registry_version_describes_the_champion_decision(first_run) -> None:
    _, _, client, summary, _, gold_version = first_run
    version = client.get_model_version(MODEL, summary["registered_model_version"])
    assert version.description.startswith("**promoted: no champion yet")
    assert f"`gold/training@v{gold_version}`, 2024-03-04..2024-03-29" in version.description
    assert "sentiment model ProsusAI/finbert@test" in version.description
    # the decision in one tag, what loaders and reruns look up; the details on the run
    assert set(version.tags) == {"champion_decision", "variant", "feature_set", "fingerprint"}
    assert version.tags["champion_decision"] == summary["champion_decision"]["reason"]
    assert version.tags["variant"] == "canonical"
    assert client.get_run(version.run_id).data.tags["gold.version"] == str(gold_version)
    registered = client.get_registered_model(MODEL)
    assert "Canonical feature set" in registered.description
    assert registered.tags["variant"] == "canonical"


def test_mlflow_information_is_never_an_error(tmp_path, capfd, caplog) -> None:
    """Airflow shows a task's stderr as ERROR: MLflow's notes must reach logging at INFO."""
    caplog.set_level(logging.INFO)
    lake = Lake(tmp_path)
    canonical_gold(lake, effect=3.0, days=16)
    uri = f"sqlite:///{tmp_path}/mlflow.db"  # a new store: MLflow notes that it creates tables
    for _ in range(2):  # the second run registers into an existing registered model
        train(lake, fast_config(uri, n_estimators=30, bootstrap=20))
    stderr = capfd.readouterr().err
    assert "already exists" not in stderr and "Created version" not in stderr
    assert "MLflow" not in stderr, stderr
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any(r.name.startswith("mlflow") and r.levelno == logging.INFO for r in caplog.records)


# -- variants -----------------------------------------------------------------------


def test_market_only_variant_never_touches_the_canonical_model(tmp_path, empty_store) -> None:
    lake = Lake(tmp_path)
    uri = new_store(empty_store, tmp_path)
    variant = FeatureSet(skip_news=True, horizon_minutes=HORIZON).name
    frame = synthetic_gold(effect=3.0, days=16, horizon=HORIZON)
    write_gold(lake, frame, variant=variant, skip_news=True, horizon=HORIZON)
    summary = train(lake, fast_config(uri, variant=variant))
    assert summary["with_news"] is None and summary["uplift"] is None
    assert summary["gold_table"] == "gold/variants/market_only-w60-h30/training"
    client = mlflow.MlflowClient(uri)
    name = f"{MODEL}-market_only-w60-h30"
    assert summary["champion_decision"]["registered_model"] == name
    version = client.get_model_version_by_alias(name, "challenger")
    assert client.get_run(version.run_id).data.tags["feature_set"] == "market_only"
    assert version.tags["variant"] == variant
    assert "never its challenger" in client.get_registered_model(name).description
    assert client.search_registered_models(f"name = '{MODEL}'") == []
    parent = client.get_run(summary["mlflow_run_id"])
    assert parent.info.run_name.startswith("train market_only-w60-h30 · h30 · ")
    assert parent.info.run_name.endswith(f" · market_only-w60-h30 v{summary['gold_version']}")
    assert parent.data.tags["skip_news"] == "true"
    # its reports are its own: the canonical summary and pictures are not written
    mine = f"reports/variants/{variant}"
    written = lake.files.read_json(f"{mine}/training_summary.json")
    assert json.dumps(written, sort_keys=True) == json.dumps(summary, sort_keys=True)  # NaN-safe
    # without news there is no uplift to picture: the equity curves only
    assert lake.files.list(f"{mine}/plots") == [f"{mine}/plots/equity_curves.png"]
    assert not lake.files.exists(tables.TRAINING_SUMMARY)
    assert not lake.files.exists("reports/plots")

    # then a normal run trains the canonical model on its own table, with news
    canonical_gold(lake, effect=3.0, days=16)
    normal = train(lake, fast_config(uri))
    assert normal["champion_decision"]["registered_model"] == MODEL
    challenger = client.get_model_version_by_alias(MODEL, "challenger")
    assert client.get_run(challenger.run_id).data.tags["feature_set"] == "with_news"
    assert str(client.get_model_version_by_alias(name, "challenger").version) == "1"


def test_skip_news_table_cannot_train_the_canonical_model(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    # a lake from before variants; a market-only spec records no news window
    canonical_gold(lake, effect=3.0, days=16, skip_news=True, window=None)
    proc = subprocess.run(
        [sys.executable, "-m", "src_clean", "train", "--lake", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: gold/training holds the feature set skip_news=True window=None horizon=30, not "
        "variant canonical. Fix: train the market-only variant (--variant "
        "market_only-w<window>-h30) or rebuild gold/training with gold-training without "
        "--skip-news"
    )
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "mlflow.db").exists()


# -- time travel --------------------------------------------------------------------


def test_gold_version_retrains_on_exactly_that_snapshot(tmp_path, empty_store) -> None:
    lake = Lake(tmp_path)
    uri = new_store(empty_store, tmp_path)
    config = fast_config(uri, n_estimators=60, bootstrap=50)
    version = canonical_gold(lake, effect=3.0, days=16)
    first = train(lake, config)
    assert first["gold_version"] == version
    later = canonical_gold(lake, effect=0.5, days=17, seed=5)  # later writes: other rows, dates
    latest = train(lake, config)
    assert latest["gold_version"] == later > version
    assert latest["with_news"] != first["with_news"]

    again = train(lake, replace(config, gold_version=version))
    assert again["gold_version"] == version
    for part in ("with_news", "market_only", "baselines", "uplift", "n_train", "n_test"):
        assert again[part] == first[part], part
    client = mlflow.MlflowClient(uri)
    for summary in (first, again):
        run = client.get_run(summary["mlflow_run_id"])
        assert run.data.params["gold_version"] == str(version)
        source = json.loads(run.inputs.dataset_inputs[0].dataset.source)
        assert source["delta_table_version"] == version
    first_digest, again_digest, latest_digest = (
        client.get_run(summary["mlflow_run_id"]).inputs.dataset_inputs[0].dataset.digest
        for summary in (first, again, latest)
    )
    assert first_digest == again_digest != latest_digest  # the same rows, the same digest
    assert client.get_run(latest["mlflow_run_id"]).data.tags["gold.version"] == str(later)


def test_the_session_keeps_credentials_out_of_the_environment_and_restores_mlflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking._tracking_service import utils as tracking_service
    from mlflow.tracking.request_header.registry import resolve_request_headers

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/deployment.db")
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    before, environment = tracking_service._tracking_uri, dict(os.environ)
    config = TrainConfig(tracking_uri="https://trainer:p%40ss-W0rd@mlflow.example:5000/x")
    with session(config, Lake(tmp_path)) as tracked:
        assert (tracked.uri, tracked.user) == ("https://mlflow.example:5000/x", "trainer")
        assert mlflow.get_tracking_uri() == tracked.uri  # the fluent API tracks there
        basic = base64.standard_b64encode(b"trainer:p@ss-W0rd").decode()
        assert resolve_request_headers()["Authorization"] == f"Basic {basic}"
        assert not any("W0rd" in value for value in os.environ.values())
        assert "MLFLOW_TRACKING_PASSWORD" not in os.environ
    assert dict(os.environ) == environment  # MLflow's export of the URI undone
    assert tracking_service._tracking_uri == before
    assert "Authorization" not in resolve_request_headers()


def test_the_tear_sheet_renders_in_chromium(first_run) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    browser_path = shutil.which("chromium")
    if browser_path is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    lake, _, _, summary, _, _ = first_run
    artifacts = Path(os.environ.get("TEST_ARTIFACTS", "test-artifacts"))
    artifacts.mkdir(exist_ok=True)
    errors: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 900, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(lake.local_path(summary["tear_sheet"]).as_uri())
        verdict = page.locator("#verdict").inner_text()
        assert verdict.startswith(("significant at 5%", "not significant at 5%"))
        # the answer is above the fold: no scrolling to read it
        assert page.locator("#verdict").bounding_box()["y"] < 200
        assert page.locator("#equity polyline.series").count() >= 3
        assert page.locator("#fold-uplift circle").count() == 5
        page.screenshot(path=str(artifacts / "verdict_tear_sheet.png"), full_page=True)
        browser.close()
    assert errors == []
