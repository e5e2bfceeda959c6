"""Shared pieces of the serving tests: a tiny exported model, settings, a live server."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from postgres_server import free_port
from tiny_bert import FINBERT_TONE_ORDER, build_tiny_bert

from src_clean.cli import main as cli_main
from src_clean.settings import Settings

API_KEY = "test-key-0123456789abcdef"
OTHER_KEY = "second-key-fedcba9876543210"
AUTH = {"X-API-Key": API_KEY}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny BERT whose id2label is finbert-tone's order, exported by ``export-onnx`` (fp32
    only: its random weights give near-tied labels, which int8 may flip)."""
    folder = build_tiny_bert(tmp_path_factory.mktemp("tiny") / "tiny-finbert", FINBERT_TONE_ORDER)
    argv = ["export-onnx", "--model", str(folder), "--check-texts", "16", "--no-int8"]
    assert cli_main(argv) == 0
    return folder


def settings(database_url: str, model: Path | str, **overrides) -> Settings:
    values = {
        "api_keys": f"{API_KEY},{OTHER_KEY}",
        "database_url": database_url,
        "sentiment_model": str(model),
        "precision": "onnx",
        "champion_refresh_s": 3600,
    }
    return Settings(**values | overrides)


def wait_ready(client: TestClient | httpx.Client, timeout_s: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get("/ready")
        if response.status_code == 200:
            return response.json()
        if time.monotonic() > deadline:
            raise AssertionError(f"not ready after {timeout_s}s: {response.json()}")
        time.sleep(0.05)


def truncate_predictions(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        if sa.inspect(connection).has_table("predictions"):
            connection.execute(sa.text("DELETE FROM predictions"))
    engine.dispose()


@contextlib.contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """``app`` on uvicorn in a thread at 127.0.0.1:<free port>; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)
