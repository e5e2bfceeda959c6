"""Credential redaction and the one-line user-error contract of the CLI."""

from __future__ import annotations

import pytest

from src_clean import cli
from src_clean.errors import UserError
from src_clean.redact import redact


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://alice:s3cr3t@mlflow:5000", "http://alice:***@mlflow:5000"),
        ("postgresql+psycopg://u:p%40ss@db/x", "postgresql+psycopg://u:***@db/x"),
        ("https://host/path?x=1&token=abc123&y=2", "https://host/path?x=1&token=***&y=2"),
        ("s3://bucket/key?AWS_SECRET_ACCESS_KEY=zzz", "s3://bucket/key?AWS_SECRET_ACCESS_KEY=***"),
        ("sqlite:///data_clean/mlflow.db", "sqlite:///data_clean/mlflow.db"),
        ("http://user@host", "http://user@host"),
        ("", ""),
        (None, None),
    ],
)
def test_redact(raw: str | None, expected: str | None) -> None:
    assert redact(raw) == expected


def test_redact_inside_text() -> None:
    line = "tracking at http://a:b@h:1 and dsn host=db password=hunter2 user=x"
    out = redact(line)
    assert "hunter2" not in out and ":b@" not in out
    assert "password=***" in out and "http://a:***@h:1" in out


def test_user_error_is_one_line_exit_2(monkeypatch, capsys) -> None:
    def boom(_args):
        raise UserError("lake /typo has no table bronze/market/candles", "run bronze-market first")

    monkeypatch.setattr(cli, "COMMANDS", {"x": ("src_clean.errors", "test")})
    import src_clean.errors as mod

    monkeypatch.setattr(mod, "add_arguments", lambda p: None, raising=False)
    monkeypatch.setattr(mod, "main", boom, raising=False)
    assert cli.main(["x"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "error: lake /typo has no table bronze/market/candles. Fix: run bronze-market first"
    ]
    with pytest.raises(UserError):
        cli.main(["--debug", "x"])
