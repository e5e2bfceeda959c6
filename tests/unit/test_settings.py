"""The one settings model: one default per setting, read by the pipeline and the service,
and ``python -m src_clean settings`` showing where each value came from."""

from __future__ import annotations

import json

import pytest

from src_clean import cli
from src_clean.defaults import DEFAULT_LAKE_ROOT, DEFAULT_SENTIMENT_MODEL, tracking_uri
from src_clean.errors import UserError
from src_clean.settings import Settings


def test_the_pipeline_and_the_service_share_one_default_per_setting(monkeypatch) -> None:
    for name in ("SP500_SENTIMENT_MODEL", "SP500_LAKE_ROOT", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.sentiment_model == DEFAULT_SENTIMENT_MODEL == "ProsusAI/finbert"
    assert settings.lake_root == DEFAULT_LAKE_ROOT
    assert settings.tracking_uri() == tracking_uri(DEFAULT_LAKE_ROOT)
    assert settings.tracking_uri().endswith(f"/{DEFAULT_LAKE_ROOT}/mlflow.db")


def test_an_s3_lake_needs_a_tracking_uri_everywhere(monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(UserError, match="MLFLOW_TRACKING_URI"):
        Settings(lake_root="s3://bucket/lake").tracking_uri()
    assert tracking_uri("s3://bucket/lake", "http://mlflow:5000") == "http://mlflow:5000"
    monkeypatch.setenv("SP500_MLFLOW_TRACKING_URI", "http://other:5000")
    assert Settings(lake_root="s3://bucket/lake").tracking_uri() == "http://other:5000"


def test_settings_command_shows_sources_and_hides_secrets(monkeypatch, capsys) -> None:
    monkeypatch.setenv("SP500_API_KEYS", "key-one,key-two")
    monkeypatch.setenv("SP500_DATABASE_URL", "postgresql+psycopg://u:hunter2@db/p")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://bob:s3cr3t@mlflow:5000")
    monkeypatch.setenv("SP500_PORT", "9000")
    monkeypatch.delenv("SP500_HOST", raising=False)
    assert cli.main(["settings", "--json"]) == 0
    out = capsys.readouterr().out
    rows = {row["setting"]: row for row in map(json.loads, out.splitlines())}
    assert rows["port"] == {
        "setting": "port",
        "variable": "SP500_PORT",
        "value": 9000,
        "source": "environment SP500_PORT",
        "runtime": False,
    }
    assert rows["host"]["source"] == "default" and rows["host"]["value"] == "127.0.0.1"
    assert rows["api_keys"]["value"] == ["**********", "**********"]
    assert rows["database_url"]["value"] == "**********"
    assert rows["mlflow_tracking_uri"]["value"] == "http://bob:***@mlflow:5000"
    assert rows["lake_root"]["runtime"] is True
    for secret in ("key-one", "hunter2", "s3cr3t"):
        assert secret not in out
