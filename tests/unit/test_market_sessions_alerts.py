"""The market-session check behind ``market_data`` and the failure alert (#13)."""

from __future__ import annotations

import datetime as dt
import email
import json
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from src_clean.errors import UserError
from src_clean.market_sessions import check_market_data, expected_sessions
from src_clean.orchestration.alerts import alert_text, notifier, notify_failure
from src_clean.settings import Settings

NY = ZoneInfo("America/New_York")


def _session_window(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The scheduled run's data interval ending 17:30 New York on ``day`` (Mon: from Fri)."""
    before = day - dt.timedelta(days=3 if day.weekday() == 0 else 1)
    return (
        dt.datetime.combine(before, dt.time(17, 30), NY),
        dt.datetime.combine(day, dt.time(17, 30), NY),
    )


@pytest.mark.parametrize(
    ("day", "sessions"),
    [
        (dt.date(2024, 3, 6), [dt.date(2024, 3, 6)]),  # an ordinary Wednesday
        (dt.date(2024, 1, 8), [dt.date(2024, 1, 8)]),  # a Monday: the weekend is closed
        (dt.date(2024, 1, 1), []),  # New Year's Day
        (dt.date(2024, 3, 29), []),  # Good Friday
        (dt.date(2024, 1, 15), [dt.date(2024, 1, 15)]),  # MLK day: an early close, still open
    ],
)
def test_each_scheduled_interval_sees_its_one_session(day: dt.date, sessions: list) -> None:
    found = expected_sessions("CMES", *_session_window(day))
    assert [session.label for session in found] == sessions


def test_a_closed_market_is_a_note_not_a_failure(tmp_path: Path) -> None:
    check = check_market_data(
        str(tmp_path), "/landing/market", "CMES", *_session_window(dt.date(2024, 1, 1))
    )
    assert check.open is False
    assert check.note.startswith("market closed: no CMES session")


def test_a_session_without_candles_names_the_session_and_the_landing_folder(
    tmp_path: Path,
) -> None:
    with pytest.raises(UserError) as error:
        check_market_data(
            str(tmp_path), "/data/landing/market", "CMES", *_session_window(dt.date(2024, 3, 6))
        )
    message = str(error.value)
    assert "CMES session(s) 2024-03-06 (2024-03-05 23:00-2024-03-06 22:30 UTC" in message
    assert "landing folder /data/landing/market" in message
    assert "Fix: " in message


def test_a_session_with_candles_is_open(tmp_path: Path) -> None:
    from src_clean.data_pipelines.bronze.market import ingest_market
    from src_clean.lake import Lake
    from src_clean.sample_data import generate_sample_data

    sample = generate_sample_data(tmp_path / "raw", dt.date(2024, 3, 5), 2, seed=1)
    ingest_market(sample.market_dir, Lake(tmp_path / "lake"))
    check = check_market_data(
        str(tmp_path / "lake"), "x", "CMES", *_session_window(dt.date(2024, 3, 6))
    )
    assert check.open is True and "2024-03-06" in check.note


# -- alerts ------------------------------------------------------------------------------


@pytest.fixture
def smtp_sink():
    """A real SMTP server on 127.0.0.1 that keeps the messages it receives."""
    import asyncore
    import smtpd

    received: list[tuple[str, list[str], bytes]] = []

    class Sink(smtpd.SMTPServer):
        def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
            received.append((mailfrom, rcpttos, data))

    server = Sink(("127.0.0.1", 0), None)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            asyncore.loop(timeout=0.05, count=1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.socket.getsockname()[1], received
    stop.set()
    thread.join()
    server.close()


CONTEXT = {
    "run_id": "scheduled__2024-03-06",
    "task_instance": type("TI", (), {"dag_id": "sp500_news_pipeline", "task_id": "market_data"})(),
    "exception": ValueError("no candles for the CMES session 2024-03-06"),
}


def test_a_failure_sends_an_email_through_the_smtp_connection(
    smtp_sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, received = smtp_sink
    connection = {"conn_type": "smtp", "host": "127.0.0.1", "port": port}
    connection["extra"] = {"disable_tls": True, "disable_ssl": True}
    monkeypatch.setenv("AIRFLOW_CONN_SP500_ALERTS", json.dumps(connection))
    monkeypatch.setenv("SP500_ALERT_CONN_ID", "sp500_alerts")
    monkeypatch.setenv("SP500_ALERT_TO", "oncall@example.com, quant@example.com")
    notify_failure(CONTEXT)
    ((sender, recipients, data),) = received
    assert recipients == ["oncall@example.com", "quant@example.com"]
    assert b"Subject: [sp500] sp500_news_pipeline failed: market_data (scheduled__2024-03-06)" in (
        data
    )


def test_alerts_are_off_without_a_connection() -> None:
    assert notifier(Settings.defaults(), *alert_text(CONTEXT)) is None
    subject, body = alert_text(CONTEXT)
    assert "market_data" in subject and "CMES session 2024-03-06" in body


def test_an_alert_that_cannot_be_sent_does_not_raise(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SP500_ALERTS", json.dumps({"conn_type": "http"}))
    monkeypatch.setenv("SP500_ALERT_CONN_ID", "sp500_alerts")
    notify_failure(CONTEXT)
    assert "could not send the alert" in caplog.text


def test_a_monitoring_warning_is_mailed_with_its_checks_and_report(
    smtp_sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    from src_clean.monitoring.summary import alert_message
    from src_clean.orchestration.alerts import send_alert

    port, received = smtp_sink
    connection = {"conn_type": "smtp", "host": "127.0.0.1", "port": port}
    connection["extra"] = {"disable_tls": True, "disable_ssl": True}
    monkeypatch.setenv("AIRFLOW_CONN_SP500_ALERTS", json.dumps(connection))
    monkeypatch.setenv("SP500_ALERT_CONN_ID", "sp500_alerts")
    monkeypatch.setenv("SP500_ALERT_TO", "quant@example.com")
    summary = {
        "day": "2024-03-06",
        "status": "warn",
        "counts": {"ok": 280, "warn": 1, "fail": 0},
        "flagged": ["warn drift: drift volume_z_60 (psi 1.410 (> 0.250))"],
        "report": "s3://lake/reports/monitoring/2024-03-06.html",
    }
    assert send_alert(*alert_message(summary), CONTEXT)
    ((_, recipients, data),) = received
    assert recipients == ["quant@example.com"]
    assert b"Subject: [sp500] monitoring 2024-03-06: warn (0 fail, 1 warn)" in data
    message = email.message_from_bytes(data)
    body = "".join(
        part.get_payload(decode=True).decode()
        for part in message.walk()
        if part.get_content_type() == "text/html"
    )
    assert "volume_z_60" in body and "reports/monitoring/2024-03-06.html" in body
