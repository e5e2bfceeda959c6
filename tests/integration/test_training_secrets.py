"""The MLflow tracking URI's password never reaches MLflow params, tags, logs or stdout.

``train`` runs as a user runs it, against a real MLflow tracking server on 127.0.0.1 with
credentials in the URI, at debug log level; then everything it printed, everything the
server stored (database and artifacts) and everything written to the lake is searched.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from test_training_mlflow import REPO, canonical_gold

from src_clean import tables
from src_clean.lake import Lake

PASSWORD = "Zq7-n0t:in/any@log"  # ':', '/' and '@' need percent-encoding in a URI
ENCODED = "Zq7-n0t%3Ain%2Fany%40log"
SECRETS = (PASSWORD, ENCODED)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[Path, str]]:
    """A tracking server (sqlite store, proxied artifacts); yields its folder and URL."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1"]
    command += ["--backend-store-uri", f"sqlite:///{root}/mlflow.db"]
    command += ["--artifacts-destination", str(root / "artifacts")]
    log = (root / "server.log").open("wb")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((root / "server.log").read_text()[-3000:]) from None
                time.sleep(0.3)
        yield root, url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and its uvicorn worker
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # a graceful shutdown waits for idle keep-alives
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def stored_bytes(folder: Path) -> Iterator[tuple[Path, bytes]]:
    for path in folder.rglob("*"):
        if path.is_file():
            yield path, path.read_bytes()


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


@pytest.mark.slow
@pytest.mark.parametrize("how", ["flag", "environment"])
def test_tracking_password_never_reaches_params_logs_or_stdout(server, tmp_path, how) -> None:
    root, url = server
    lake = Lake(tmp_path)
    canonical_gold(lake, effect=3.0, days=10)
    uri = url.replace("http://", f"http://trainer:{ENCODED}@")
    argv = [sys.executable, "-m", "src_clean", "-v", "train", "--lake", str(tmp_path)]
    argv += ["--n-estimators", "20", "--bootstrap", "20", "--experiment", f"secrets-{how}"]
    argv += ["--folds", "2", "--seeds", "1", "--null-permutations", "2"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
    if how == "flag":
        argv += ["--mlflow-tracking-uri", uri]
    else:
        env["MLFLOW_TRACKING_URI"] = uri
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]

    assert leaks(proc.stdout) == [] and leaks(proc.stderr) == []
    assert "View run train canonical · h30" in proc.stdout  # MLflow's link, no credentials
    assert f"{url}/#/experiments/" in proc.stdout
    summary = lake.files.read_json(tables.TRAINING_SUMMARY)
    client = mlflow.MlflowClient(url)
    parent = client.get_run(summary["mlflow_run_id"])
    assert parent.data.params["tracking_uri"] == url  # the URI MLflow used: no credentials
    runs = client.search_runs([parent.info.experiment_id])
    assert len(runs) == 3  # parent and two children
    for run in runs:
        assert leaks(repr(run.data.params)) == [] and leaks(repr(run.data.tags)) == []
        assert run.data.tags["mlflow.user"] == "trainer"  # the URI's user, as MLflow logs one
    models = client.search_logged_models([parent.info.experiment_id])
    assert len(models) == 2 and {m.tags["mlflow.user"] for m in models} == {"trainer"}
    for path, data in [*stored_bytes(root), *stored_bytes(tmp_path)]:
        assert not any(secret.encode() in data for secret in SECRETS), path
