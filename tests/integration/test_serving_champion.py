"""The champion's signal over HTTP after a real training run in a temporary MLflow store,
its pick-up of an alias move without a restart, and a bounded schemathesis run."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import lake_writers
import mlflow
import mlflow.pyfunc
import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from postgres_server import free_port
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from serving_support import API_KEY, AUTH, live_server, wait_ready
from serving_support import settings as serve_settings
from test_training_mlflow import MODEL, fast_config
from test_training_units import synthetic_gold, write_gold

from src_clean import tables
from src_clean.feature_set import FeatureSet
from src_clean.lake import Lake
from src_clean.serving.app import create_app
from src_clean.training.train import train

REPO = Path(__file__).resolve().parents[2]
HORIZON = tables.CANONICAL_HORIZON  # the champion is the canonical feature spec's model


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A lake with gold and an MLflow store whose registry has a champion (version 1)."""
    root = tmp_path_factory.mktemp("lake")
    lake = Lake(root)
    write_gold(lake, synthetic_gold(effect=3.0, days=16, horizon=HORIZON), horizon=HORIZON)
    uri = f"sqlite:///{root}/mlflow.db"
    summary = train(lake, fast_config(uri, bootstrap=50))
    assert summary["champion_decision"]["champion_version"] == "1"
    return lake, uri


@pytest.fixture(scope="module")
def server(store, postgres_url, tiny_model):
    lake, uri = store
    app = create_app(
        serve_settings(
            postgres_url,
            tiny_model,
            lake_root=lake.root,
            mlflow_tracking_uri=uri,
            champion_refresh_s=0.2,
        )
    )
    with live_server(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        wait_ready(client)
        yield base, client


def expected_signal(lake: Lake, uri: str, version: str) -> tuple[pd.Series, float]:
    """The last gold bar and the registered version's prediction on it, computed here."""
    gold = lake.read(tables.GOLD_TRAINING).sort_values("time")
    bar = gold.iloc[-1]
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}/{version}")
    features = model.metadata.get_input_schema().input_names()
    return bar, float(model.predict(gold.iloc[[-1]][features].astype("float64"))[0])


def wait_for_version(client: httpx.Client, version: str, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get("/api/v1/signal/latest", headers=AUTH)
        if response.status_code == 200 and response.json()["model_version"] == version:
            return response.json()
        if time.monotonic() > deadline:
            raise AssertionError(f"champion v{version} not served: {response.text}")
        time.sleep(0.1)


def test_signal_is_the_champion_on_the_latest_gold_bar(server, store) -> None:
    _, client = server
    lake, uri = store
    signal = wait_for_version(client, "1")
    bar, predicted = expected_signal(lake, uri, "1")
    assert signal["predicted_return_bps"] == pytest.approx(predicted, rel=1e-6)
    assert signal["direction"] == ("up" if predicted > 0 else "down")
    bar_time = dt.datetime.fromisoformat(signal["bar_time"])
    assert bar_time == bar["time"].to_pydatetime()
    assert dt.datetime.fromisoformat(signal["decision_time"]) == bar_time + dt.timedelta(minutes=1)
    assert signal["horizon_minutes"] == HORIZON
    assert signal["model_name"] == MODEL
    assert signal["sentiment_model_id"] == "ProsusAI/finbert@test"
    freshness = signal["feature_freshness"]
    assert freshness["features_as_of"] == signal["decision_time"]
    age = dt.datetime.now(dt.UTC) - (bar_time + dt.timedelta(minutes=1))
    assert freshness["age_seconds"] == pytest.approx(age.total_seconds(), abs=60)
    client_mlflow = mlflow.MlflowClient(uri)
    assert signal["model_run_id"] == client_mlflow.get_model_version(MODEL, "1").run_id
    ready = client.get("/ready").json()
    assert ready["champion_loaded"] and ready["champion_version"] == "1"


def test_a_new_champion_is_served_without_restart(server, store) -> None:
    _, client = server
    lake, uri = store
    write_gold(lake, synthetic_gold(effect=8.0, days=16, seed=2, horizon=HORIZON), horizon=HORIZON)
    train(lake, fast_config(uri, bootstrap=50))
    registry = mlflow.MlflowClient(uri)
    registry.set_registered_model_alias(MODEL, "champion", "2")
    signal = wait_for_version(client, "2")
    _, predicted = expected_signal(lake, uri, "2")
    assert signal["predicted_return_bps"] == pytest.approx(predicted, rel=1e-6)
    assert signal["model_run_id"] == registry.get_model_version(MODEL, "2").run_id
    registry.set_registered_model_alias(MODEL, "champion", "1")  # a rollback is followed too
    _, predicted = expected_signal(lake, uri, "1")
    assert wait_for_version(client, "1")["predicted_return_bps"] == pytest.approx(predicted)
    metrics = client.get("/metrics").text
    assert "sp500_api_champion_version 1.0" in metrics


def test_gold_from_another_sentiment_model_is_refused(server, store) -> None:
    _, client = server
    lake, _ = store
    path = FeatureSet().feature_list
    doc = lake.files.read_json(path)
    lake.files.write_json(path, doc | {"sentiment_model_id": "other/model@abc"})
    try:
        response = client.get("/api/v1/signal/latest", headers=AUTH)
    finally:
        lake.files.write_json(path, doc)
    assert response.status_code == 409
    assert "other/model@abc" in response.json()["detail"]
    assert client.get("/api/v1/signal/latest", headers=AUTH).status_code == 200


def test_an_infinite_feature_on_the_latest_bar_is_a_clear_no_signal(server, store) -> None:
    """±inf on the last gold bar (XGBoost refuses it) answered 500 on the signal and took
    the page down. Now: 503 with the bar and the features named, and the page stays up."""
    import numpy as np

    _, client = server
    lake, _ = store
    day = lake.partitions(tables.GOLD_TRAINING)[-1]
    before = lake.read(tables.GOLD_TRAINING, day, day)
    broken = before.sort_values("time", ignore_index=True)
    broken.loc[len(broken) - 1, "ret_1m"] = np.inf
    lake_writers.replace_day_unchecked(lake, tables.GOLD_TRAINING, broken, day)  # an older writer
    try:
        response = client.get("/api/v1/signal/latest", headers=AUTH)
        page = client.get("/", headers=AUTH)
    finally:
        lake.replace_range(tables.GOLD_TRAINING, before, day, day)
    assert response.status_code == 503, response.text
    detail = response.json()["detail"]
    assert "no signal for the latest bar" in detail and "['ret_1m']" in detail
    assert page.status_code == 200 and "no signal for the latest bar" in page.text
    assert client.get("/api/v1/signal/latest", headers=AUTH).status_code == 200


def test_standalone_serve_loads_the_champion_through_its_own_tracking_uri(
    store, tiny_model, tmp_path
) -> None:
    """``serve --lake L --mlflow-tracking-uri U`` without MLFLOW_TRACKING_URI in the
    environment serves the champion, and writes nothing into its working directory."""
    lake, uri = store
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    environment |= {"PYTHONPATH": str(REPO), "SP500_API_KEYS": API_KEY}
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    argv = [sys.executable, "-m", "src_clean", "serve", "--port", str(port)]
    argv += ["--lake", str(lake.root), "--mlflow-tracking-uri", uri]
    argv += ["--database-url", f"sqlite:///{tmp_path / 'p.db'}"]
    argv += ["--sentiment-model", str(tiny_model)]
    process = subprocess.Popen(
        argv, env=environment, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 120
            while True:
                assert process.poll() is None, "serve exited"
                try:
                    response = client.get("/api/v1/signal/latest", headers=AUTH)
                    if response.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, response.text
                time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0].decode()
    assert response.json()["model_version"] == "1", output[-2000:]
    assert sorted(p.name for p in workdir.iterdir()) == []


def test_the_monitoring_is_served_and_its_page_renders_in_chromium(server, store) -> None:
    """Before a monitor run: 404 and a page saying so; after: the day's checks as stored,
    the live record beside the signal, the review state as the registry has it, and ``/``
    in headless Chromium with no console error and no secret in it."""
    from src_clean.monitoring.monitor import run_monitor

    base, client = server
    lake, uri = store
    assert client.get("/api/v1/monitoring/latest", headers=AUTH).status_code == 404
    assert client.get("/api/v1/monitoring/latest").status_code == 401  # the API's key
    # the page shows what the API protects, so it takes the same key
    refused = client.get("/")
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
    assert "Monitoring" not in refused.text
    assert client.get("/", auth=("anyone", "not-the-key")).status_code == 401
    assert "no run yet" in client.get("/", auth=("anyone", API_KEY)).text
    assert "no run yet" in client.get("/", headers=AUTH).text

    day = lake.partitions(tables.GOLD_TRAINING)[-1]
    result = run_monitor(lake, day, day, mlflow_uri=uri, registered_model=MODEL)
    body = client.get("/api/v1/monitoring/latest", headers=AUTH).json()
    stored = lake.read(tables.MONITORING_CHECKS, day, day)
    assert body["day"] == str(day) and body["run_id"] == result.run_id
    assert sorted((c["check"], c["subject"], c["status"]) for c in body["checks"]) == sorted(
        zip(stored["check"], stored["subject"], stored["status"], strict=True)
    )
    signal = client.get("/api/v1/signal/latest", headers=AUTH).json()
    assert signal["live"]["day"] == str(day) and signal["review_state"] is None
    live = stored.set_index("check")
    assert signal["live"]["decay"] == live.loc["live_decay", "status"]

    registry = mlflow.MlflowClient(uri)
    registry.set_model_version_tag(MODEL, signal["model_version"], "review_state", "under_review")
    deadline = time.monotonic() + 30
    while client.get("/api/v1/signal/latest", headers=AUTH).json()["review_state"] is None:
        assert time.monotonic() < deadline, "the review state was never picked up"
        time.sleep(0.2)
    registry.delete_model_version_tag(MODEL, signal["model_version"], "review_state")

    html = client.get("/", headers=AUTH).text
    assert API_KEY not in html and "mlflow.db" not in html
    playwright = pytest.importorskip("playwright.sync_api")
    p_errors = pytest.importorskip("playwright._impl._errors")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    errors: list[str] = []
    artifacts = Path(os.environ.get("TEST_ARTIFACTS", "test-artifacts"))
    artifacts.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        anonymous = browser.new_page()  # no credentials: a headless browser cannot sign in
        with pytest.raises(p_errors.Error, match="ERR_INVALID_AUTH_CREDENTIALS"):
            anonymous.goto(f"{base}/")
        anonymous.close()
        context = browser.new_context(http_credentials={"username": "me", "password": API_KEY})
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/")
        assert page.locator("#checks tr").count() > 5
        page.locator("#details-signal summary").click()
        assert page.locator("#signal").inner_text().count(f"v{signal['model_version']}") == 1
        assert page.locator("#live-ic-chart").count() == 1
        page.screenshot(path=str(artifacts / "service_home.png"), full_page=True)
        # /docs with no internet: Swagger UI from the package renders the operations
        page.route("**/*", lambda r: r.continue_() if "127.0.0.1" in r.request.url else r.abort())
        page.goto(f"{base}/docs")
        page.wait_for_selector(".opblock", timeout=20_000)
        assert page.locator(".opblock").count() >= 8
        page.screenshot(path=str(artifacts / "service_docs.png"))
        browser.close()
    assert errors == []


# -- schemathesis: every operation, generated valid and invalid inputs, never a 5xx ----------


def has_inputs(operation) -> bool:
    raw = operation.definition.raw
    return bool(raw.get("parameters") or raw.get("requestBody"))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors(server, mode) -> None:
    """Schemathesis cases for every operation of the live OpenAPI schema, valid and invalid."""
    base, _ = server
    api_schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 11
    if mode is GenerationMode.NEGATIVE:  # only operations with inputs have invalid ones
        operations = [op for op in operations if has_inputs(op)]
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def no_5xx(case) -> None:
            case.call_and_validate(base_url=base, headers=AUTH, checks=[not_a_server_error])

        no_5xx()


# -- the live signal (issue 38.4): written last, it takes over /signal/latest --------------


def test_the_live_decision_is_served_with_its_age_lags_and_stale_state(server, store) -> None:
    """Once live/decisions has a row, /signal/latest serves the newest one with its age and
    feed lags; a news feed late past its limit, or a missed bar, is served as ``stale``
    with the reason and no prediction presented as new, and the page says STALE."""
    import pandas as pd

    from src_clean.live import decisions

    _, client = server
    lake, uri = store
    run_id = mlflow.MlflowClient(uri).get_model_version(MODEL, "1").run_id
    bar = pd.Timestamp.now(tz="UTC").floor("min") - pd.Timedelta(minutes=2)

    def decided(at: pd.Timestamp, news_lag_s: float) -> dict:
        return decisions.row(
            at, MODEL, decisions.DECIDED, "", model_version="1", model_run_id=run_id,
            feature_hash="h", features="{}", predicted_return_bps=1.5,
            market_data_time=at, news_data_time=at, market_lag_s=2.0, news_lag_s=news_lag_s,
        )  # fmt: skip

    decisions.write(lake, [decided(bar, 30.0)])
    body = client.get("/api/v1/signal/latest", headers=AUTH).json()
    assert (body["source"], body["state"], body["stale_reason"]) == ("live", "fresh", None)
    assert body["predicted_return_bps"] == 1.5 and body["direction"] == "up"
    assert body["feeds"]["market_lag_s"] == 2.0 and body["feeds"]["news_lag_s"] == 30.0
    assert dt.datetime.fromisoformat(body["bar_time"]) == bar.to_pydatetime()
    assert 30 <= body["feature_freshness"]["age_seconds"] <= 180
    assert body["model_run_id"] == run_id and body["horizon_minutes"] == HORIZON

    decisions.write(lake, [decided(bar + pd.Timedelta(minutes=1), 7200.0)])
    body = client.get("/api/v1/signal/latest", headers=AUTH).json()
    assert body["state"] == "stale" and "news feed" in body["stale_reason"]

    missed = decisions.row(
        bar + pd.Timedelta(minutes=2), MODEL, decisions.MISSED, "not decided within 90 s"
    )
    decisions.write(lake, [missed])
    body = client.get("/api/v1/signal/latest", headers=AUTH).json()
    assert body["state"] == "stale" and "missed: not decided within 90 s" in body["stale_reason"]
    assert body["predicted_return_bps"] is None and body["direction"] is None
    page = client.get("/", headers=AUTH).text
    assert "STALE" in page and "missed: not decided within 90 s" in page
