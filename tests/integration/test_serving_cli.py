"""``python -m src_clean serve`` as users and containers start it: a real process on a port."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import sqlalchemy as sa
from postgres_server import free_port
from serving_support import API_KEY, AUTH, wait_ready
from tiny_bert import build_tiny_bert

from src_clean.data_pipelines.silver.scoring.onnx_backend import safe_onnx_precisions
from src_clean.serving.scorer import SentimentModel
from src_clean.settings import Settings

REPO = Path(__file__).resolve().parents[2]
TORCH_FREE = """
import sys
import time
from src_clean.settings import Settings
from src_clean.serving.scorer import SentimentModel
from src_clean.serving.app import create_app
model = SentimentModel.load(Settings(sentiment_model=sys.argv[1], precision="onnx"))
assert model.predict(["Apple beats estimates"])[0].label
create_app(Settings(api_keys="k", sentiment_model=sys.argv[1]), model=model)
heavy = sorted({"torch", "transformers"} & set(sys.modules))
assert not heavy, f"imported {heavy}"
"""


def start_serve(argv: list[str], **extra_env: str) -> subprocess.Popen:
    """``argv`` (a ``serve`` command line) as a process, stdout and stderr together."""
    return subprocess.Popen(
        argv,
        env=env(**extra_env),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_bound(client: httpx.Client, process: subprocess.Popen) -> None:
    """Until the server answers /health (or the process has ended): it needs a moment."""
    for _ in range(600):
        try:
            client.get("/health")
            return
        except httpx.TransportError:
            if process.poll() is not None:
                return
            time.sleep(0.1)


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), **extra}


def test_onnx_serving_never_imports_torch(tiny_model) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", TORCH_FREE, str(tiny_model)],
        capture_output=True,
        text=True,
        env=env(),
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_migrate_flag_migrates_and_exits(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/p.db"
    proc = subprocess.run(
        [sys.executable, "-m", "src_clean", "serve", "--migrate", "--database-url", url],
        capture_output=True,
        text=True,
        env=env(SP500_API_KEYS="k"),
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert "database at revision 0001" in proc.stdout
    assert sa.inspect(sa.create_engine(url)).has_table("predictions")


def test_missing_api_keys_is_a_one_line_error(tmp_path) -> None:
    clean = {k: v for k, v in env().items() if not k.startswith("SP500_API_KEYS")}
    proc = subprocess.run(
        [sys.executable, "-m", "src_clean", "serve", "--database-url", f"sqlite:///{tmp_path}/p"],
        capture_output=True,
        text=True,
        env=clean,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: no API key configured. Fix: set SP500_API_KEYS (comma separated) or "
        "SP500_API_KEYS_FILE (one key per line)"
    ]


def test_serve_process_answers_and_stops_cleanly(postgres_url, tiny_model, tmp_path) -> None:
    port = free_port()
    key_file = tmp_path / "keys"
    key_file.write_text(f"{API_KEY}\n")
    argv = [sys.executable, "-m", "src_clean", "serve", "--port", str(port)]
    argv += ["--database-url", postgres_url, "--sentiment-model", str(tiny_model)]
    argv += ["--lake", str(tmp_path / "lake")]
    process = start_serve(argv, SP500_API_KEYS_FILE=str(key_file))
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            wait_bound(client, process)
            ready = wait_ready(client)
            assert ready["db_connected"] and ready["model_loaded"]
            response = client.post("/api/v1/predict", json={"text": "Fed holds"}, headers=AUTH)
            assert response.status_code == 200
            assert "X-Storage-Warning" not in response.headers
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells why
    assert process.returncode in (0, -signal.SIGTERM), output[-3000:]
    assert "Application shutdown complete" in output
    assert '"route": "/api/v1/predict"' in output
    assert API_KEY not in output


# -- a checkpoint without an ONNX export ---------------------------------------------------


def test_a_checkpoint_without_export_is_refused_with_both_choices(tmp_path) -> None:
    folder = build_tiny_bert(tmp_path / "bare")
    proc = subprocess.run(
        [sys.executable, "-m", "src_clean", "serve", "--sentiment-model", str(folder)],
        capture_output=True,
        text=True,
        env=env(SP500_API_KEYS="k"),
        cwd=REPO,
    )
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert f"{folder} is a checkpoint without a validated ONNX export" in line
    fix = line.split("Fix: ")[1]
    assert "--export-onnx" in fix and "--precision fp32" in fix
    assert "download-model" not in line  # the model is there: only the export is missing


def test_export_onnx_on_start_exports_then_serves_with_onnx_runtime(tmp_path) -> None:
    folder = build_tiny_bert(tmp_path / "bare")
    settings = Settings(sentiment_model=str(folder), export_onnx=True)
    model = SentimentModel.load(settings)
    assert type(model.scorer).__name__ == "OnnxScorer"
    assert safe_onnx_precisions(folder) == ["onnx-int8", "onnx-fp32"]
    [scored] = model.predict(["Apple beats estimates"])
    assert scored.label in {"positive", "negative", "neutral"}
    again = SentimentModel.load(settings)  # exported once: the second start only loads it
    assert again.model_version == model.model_version


def test_torch_serving_of_a_checkpoint_warns(tmp_path, caplog) -> None:
    folder = build_tiny_bert(tmp_path / "bare")
    with caplog.at_level(logging.WARNING, logger="src_clean.serving.scorer"):
        model = SentimentModel.load(Settings(sentiment_model=str(folder), precision="fp32"))
    assert type(model.scorer).__name__ == "TransformersScorer"
    assert "ONNX Runtime is faster" in caplog.text and "--export-onnx" in caplog.text
    assert not (folder / "onnx").exists()


# -- a missing model: refused at once, or the demo fallback (issue 36) -----------------------


def test_a_missing_model_folder_stops_the_start_in_one_line(tmp_path) -> None:
    """The api never waits forever on a missing folder: before, it started, logged the
    error and answered 503 on /ready for good (compose: never healthy)."""
    missing = tmp_path / "models" / "sentiment"
    began = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "src_clean", "serve", "--sentiment-model", str(missing)],
        capture_output=True,
        text=True,
        env=env(SP500_API_KEYS="k", SP500_DEMO_FALLBACK="false"),
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 2 and time.monotonic() - began < 60
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: the model folder {missing} is missing. Fix: ")


def test_the_demo_fallback_serves_the_lexicon_and_says_so(postgres_url, tmp_path) -> None:
    """SP500_DEMO_FALLBACK=true (compose's api default): a missing model folder comes up on
    the lexicon scorer (``vaderSentiment`` is in the api image), /ready is 200 and names
    the fallback, and the log carries the banner."""
    port = free_port()
    missing = tmp_path / "models" / "sentiment"
    argv = [sys.executable, "-m", "src_clean", "serve", "--port", str(port)]
    argv += ["--database-url", postgres_url, "--sentiment-model", str(missing)]
    argv += ["--lake", str(tmp_path / "lake")]
    process = start_serve(argv, SP500_API_KEYS=API_KEY, SP500_DEMO_FALLBACK="true")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            wait_bound(client, process)
            ready = wait_ready(client)
            assert ready["model_version"].startswith("lexicon:")
            assert ready["fallback"].startswith(f"demo fallback: {missing} could not be loaded")
            response = client.post("/api/v1/predict", json={"text": "Stocks surge"}, headers=AUTH)
            assert response.status_code == 200 and response.json()["label"] == "positive"
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert "FALLING BACK TO THE LEXICON SCORER" in output
