"""Airflow's Variables and Connections, the one place below the DAGs that reads them.

``runtime_settings`` resolves the settings of a running task (the environment, then
same-named Variables) once; the task passes them down. ``install`` plugs Airflow's
connections into ``src_clean.connections`` for stages that run in the worker's process
(``aws_default`` for the S3 lake and DynamoDB, ``oanda_default`` for the OANDA token).
Airflow is imported inside functions only: importing this module stays cheap.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

from src_clean import connections
from src_clean.settings import Settings

log = logging.getLogger(__name__)


def runtime_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings inside a running task: the environment, then same-named Airflow Variables."""
    from airflow.sdk import Variable

    settings = Settings.from_env(env).with_overrides(lambda name: Variable.get(name, None))
    settings.validate()
    return settings


def connection_password(conn_id: str) -> str | None:
    """The password of Airflow connection ``conn_id``; ``None`` without Airflow or connection.

    Airflow's INFO lines from loading its configuration are held back while it looks.
    """
    airflow_log = logging.getLogger("airflow")
    level = airflow_log.level
    airflow_log.setLevel(max(logging.WARNING, level))
    try:
        from airflow.sdk import BaseHook

        return BaseHook.get_connection(conn_id).password or None
    except ImportError:
        return None
    except Exception as exc:  # not defined, or no metadata database outside Airflow
        log.debug("no Airflow connection %s: %s", conn_id, type(exc).__name__)
        return None
    finally:
        airflow_log.setLevel(level)


@functools.cache
def aws_connection(service: str, conn_id: str) -> Mapping[str, Any] | None:
    """``aws.AwsSettings`` fields from the Airflow connection ``conn_id``; ``None`` without
    the Amazon provider or the connection. Cached for the process (a task), so reading
    many files looks the connection up once."""
    try:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    except ImportError:
        return None
    hook = AwsBaseHook(aws_conn_id=conn_id, client_type=service)
    config = hook.conn_config
    if config.conn_type is None:  # the hook found no such connection
        return None
    credentials = hook.get_credentials()
    return {
        "access_key": credentials.access_key,
        "secret_key": credentials.secret_key,
        "session_token": credentials.token,
        "region": config.region_name,
        "endpoint_url": config.get_service_endpoint_url(service),
    }


def install() -> None:
    """Answer ``src_clean.connections`` from Airflow in this process."""
    connections.install(connections.Lookups(password=connection_password, aws=aws_connection))
