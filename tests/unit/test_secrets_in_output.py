"""A URI with a password never reaches logs or stdout/stderr: CLI errors, tracebacks,
logged stage commands, the worker's JSON log and the pipeline's closing summary.

(MLflow run parameters are the training side's; see tests/integration/test_training_mlflow.py.)
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from src_clean import cli
from src_clean.logging_setup import RedactFilter
from src_clean.orchestration.runner import StageFailed, run_stage
from src_clean.run_full_pipeline import PipelineConfig, StageLog, _finish
from src_clean.worker.logs import JsonLog

PASSWORD = "hunter2-Secret"
DB_URI = f"postgresql://mlflow:{PASSWORD}@127.0.0.1:9/mlflow"
REPO = Path(__file__).resolve().parents[2]


def test_a_failing_command_prints_its_traceback_without_the_password(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "src_clean", "bronze-market"]
        + ["--input", str(tmp_path), "--lake", DB_URI],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "mlflow:***@127.0.0.1" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr


def test_an_input_uri_with_credentials_is_refused_without_echoing_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = f"s3://reader:{PASSWORD}@bucket/raw"
    code = cli.main(["bronze-news", "--input", uri, "--lake", str(tmp_path / "lake")])
    captured = capsys.readouterr()
    assert code == 2
    assert "s3://reader:***@bucket/raw" in captured.err
    assert PASSWORD not in captured.out + captured.err


def test_a_logged_stage_command_hides_the_tracking_uri_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    argv = ["bronze-market", "--no-such-flag", "--mlflow-tracking-uri", DB_URI]
    with caplog.at_level(logging.INFO), pytest.raises(StageFailed) as failed:
        run_stage(argv)
    assert PASSWORD not in caplog.text + str(failed.value)
    assert "mlflow:***@" in caplog.text


def test_logged_messages_and_tracebacks_are_redacted() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactFilter())
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    try:
        logger.warning("connecting to %s", DB_URI)
        try:
            raise ConnectionError(f"cannot reach {DB_URI}")
        except ConnectionError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert PASSWORD not in stream.getvalue()
    assert stream.getvalue().count("mlflow:***@") == 2  # the message and the exception


def test_worker_json_log_is_redacted() -> None:
    stream = io.StringIO()
    JsonLog(stream, worker_id="w1").error("record_failed", error=f"S3 at {DB_URI} refused")
    [line] = stream.getvalue().splitlines()
    assert PASSWORD not in line and "mlflow:***@" in json.loads(line)["error"]


def test_pipeline_summary_prints_the_tracking_uri_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = {"verdict": "news adds nothing", "n_train": 1, "n_val": 1, "n_test": 1}
    _finish(PipelineConfig(lake=tmp_path), StageLog(), summary, DB_URI)
    out = capsys.readouterr().out
    assert PASSWORD not in out and "MLflow:       postgresql://mlflow:***@" in out
