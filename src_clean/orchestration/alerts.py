"""Alerts through an Airflow notifier, configured by a connection (off by default): a run's
failure, and the monitor's warnings and failures.

``SP500_ALERT_CONN_ID`` names an Airflow connection: an ``smtp`` connection sends an email
to ``SP500_ALERT_TO`` (comma list) through the SMTP provider's ``SmtpNotifier``; a
``slackwebhook`` connection posts through ``SlackWebhookNotifier`` (needs
apache-airflow-providers-slack). Without ``SP500_ALERT_CONN_ID`` no alert is sent. Both
settings can be Airflow Variables. An alert that cannot be sent is logged, never raised:
it must not hide the failure it reports.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from src_clean.settings import Settings

log = logging.getLogger(__name__)


def alert_text(context: Mapping[str, Any]) -> tuple[str, str]:
    """(subject, body) naming the DAG, the run, the failed task and its error."""
    ti = context.get("task_instance") or context.get("ti")
    dag_id = getattr(ti, "dag_id", None) or context.get("dag_id", "?")
    run_id = context.get("run_id") or getattr(context.get("dag_run"), "run_id", "?")
    task_id = getattr(ti, "task_id", "?")
    error = context.get("exception") or context.get("reason") or "see the task log"
    subject = f"[sp500] {dag_id} failed: {task_id} ({run_id})"
    body = f"DAG {dag_id}, run {run_id}, task {task_id} failed.\n\n{error}\n"
    return subject, body


def notifier(settings: Settings, subject: str, body: str) -> Any | None:
    """The notifier sending ``subject``/``body`` through ``settings.alert_conn_id`` (None
    when alerts are off)."""
    if not settings.alert_conn_id:
        return None
    from airflow.sdk import Connection

    conn = Connection.get(settings.alert_conn_id)
    if conn.conn_type == "smtp":
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        if not settings.alert_to:
            raise ValueError("SP500_ALERT_TO is empty: no recipient for the SMTP alert")
        to = [address.strip() for address in settings.alert_to.split(",") if address.strip()]
        return SmtpNotifier(
            to=to,
            from_email=conn.login or "airflow@localhost",
            subject=subject,
            html_content=f"<pre>{body}</pre>",
            smtp_conn_id=settings.alert_conn_id,
        )
    if conn.conn_type == "slackwebhook":
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

        return SlackWebhookNotifier(
            slack_webhook_conn_id=settings.alert_conn_id, text=f"*{subject}*\n{body}"
        )
    raise ValueError(
        f"alert connection {settings.alert_conn_id!r} has type {conn.conn_type!r}; "
        "expected smtp or slackwebhook"
    )


def send_alert(subject: str, body: str, context: Mapping[str, Any]) -> bool:
    """Send an alert, if configured; log instead of raising. True when one was sent."""
    from src_clean.orchestration.airflow_lookups import runtime_settings

    try:
        send = notifier(runtime_settings(), subject, body)
        if send is None:
            return False
        send.notify(context)
        return True
    except Exception:
        log.exception("could not send the alert %r", subject)
        return False


def notify_failure(context: Mapping[str, Any]) -> None:
    """``on_failure_callback``: the failure alert, if configured; never raises."""
    send_alert(*alert_text(context), context)
