"""Connections reach stages through ``src_clean.connections``: Airflow's only when
orchestration installed its lookup, so nothing below orchestration imports Airflow."""

from __future__ import annotations

import json

import airflow_env  # noqa: F401  (a throw-away AIRFLOW_HOME before airflow loads)
import pytest

from src_clean import connections
from src_clean.acquisition.credentials import OANDA_TOKEN_ENV, oanda_token
from src_clean.errors import UserError
from src_clean.orchestration import airflow_lookups


@pytest.fixture
def no_token(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(OANDA_TOKEN_ENV, raising=False)
    monkeypatch.setenv(
        "AIRFLOW_CONN_OANDA_DEFAULT", json.dumps({"conn_type": "http", "password": "tok-123"})
    )
    yield monkeypatch
    airflow_lookups.install()  # as importing orchestration leaves it


def test_without_a_lookup_no_connection_is_seen(no_token) -> None:
    connections.install(None)
    assert connections.password("oanda_default") is None
    assert connections.aws("s3", "aws_default") is None
    with pytest.raises(UserError, match="no OANDA API token"):
        oanda_token()


def test_the_airflow_lookup_answers_the_oanda_token(no_token) -> None:
    airflow_lookups.install()
    assert oanda_token() == "tok-123"
    no_token.setenv(OANDA_TOKEN_ENV, "from-env")  # the environment comes first
    assert oanda_token() == "from-env"
