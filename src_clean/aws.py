"""AWS settings in one place: credentials, region and endpoint for S3 and DynamoDB.

Resolution order:

1. Inside an Airflow task (``AIRFLOW_CTX_DAG_ID`` is set) and when the Amazon provider is
   installed and the connection exists: the Airflow connection ``aws_default`` (keys,
   ``region_name`` and ``endpoint_url`` / ``service_config`` from its extra), looked up
   through ``src_clean.connections`` (orchestration installs Airflow's; cached per task).
2. Otherwise the standard AWS environment: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
   ``AWS_SESSION_TOKEN``, ``AWS_REGION`` or ``AWS_DEFAULT_REGION``, and a custom endpoint
   (moto, MinIO, LocalStack) from ``AWS_ENDPOINT_URL_<SERVICE>`` or ``AWS_ENDPOINT_URL``,
   the same variables boto3 reads. Values left unset fall through to the SDK's default
   chain (shared config files, instance profile), so IAM roles work unchanged.

``s3_filesystem`` builds the ``pyarrow.fs.S3FileSystem`` that the lake and the raw-file
readers share (``pafs.FileSystem.from_uri`` ignores ``AWS_ENDPOINT_URL``); ``client``
builds a boto3 client with the same settings. boto3 is imported inside functions only.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from src_clean import connections

AIRFLOW_CONN_ID = "aws_default"
AIRFLOW_TASK_MARKER = "AIRFLOW_CTX_DAG_ID"  # exported by Airflow while a task runs
S3_SCHEME = "s3://"


@dataclass(frozen=True)
class AwsSettings:
    """Credentials, region and endpoint for one AWS service; ``None`` means SDK default."""

    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    region: str | None = None
    endpoint_url: str | None = None

    def boto3_kwargs(self) -> dict[str, str]:
        """Keyword arguments for ``boto3.client`` (only the values that are set)."""
        values = {
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "aws_session_token": self.session_token,
            "region_name": self.region,
            "endpoint_url": self.endpoint_url,
        }
        return {name: value for name, value in values.items() if value}


def env_settings(service: str = "s3") -> AwsSettings:
    """Settings from the standard AWS environment variables."""
    env = os.environ
    return AwsSettings(
        access_key=env.get("AWS_ACCESS_KEY_ID") or None,
        secret_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        session_token=env.get("AWS_SESSION_TOKEN") or None,
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        endpoint_url=env.get(f"AWS_ENDPOINT_URL_{service.upper()}")
        or env.get("AWS_ENDPOINT_URL")
        or None,
    )


def airflow_settings(service: str = "s3", conn_id: str = AIRFLOW_CONN_ID) -> AwsSettings | None:
    """Settings from the orchestrator's connection ``conn_id`` (``src_clean.connections``:
    Airflow's inside a task); ``None`` without one."""
    fields = connections.aws(service, conn_id)
    return AwsSettings(**fields) if fields is not None else None


def resolve_settings(service: str = "s3") -> AwsSettings:
    """The Airflow connection inside an Airflow task when there is one, else the environment."""
    if os.environ.get(AIRFLOW_TASK_MARKER):
        settings = airflow_settings(service)
        if settings is not None:
            return settings
    return env_settings(service)


def s3_filesystem(settings: AwsSettings | None = None) -> pafs.S3FileSystem:
    """A pyarrow S3 filesystem for ``settings`` (default: ``resolve_settings("s3")``)."""
    return _s3_filesystem(settings or resolve_settings("s3"))


@functools.lru_cache(maxsize=8)
def _s3_filesystem(settings: AwsSettings) -> pafs.S3FileSystem:
    """One filesystem (and connection pool) per distinct settings."""
    kwargs: dict[str, Any] = {
        "access_key": settings.access_key,
        "secret_key": settings.secret_key,
        "session_token": settings.session_token,
        "region": settings.region,
    }
    if settings.endpoint_url:  # a full URL, as AWS_ENDPOINT_URL requires
        endpoint = urlsplit(settings.endpoint_url)
        kwargs["endpoint_override"] = endpoint.netloc.rpartition("@")[2]  # no userinfo
        kwargs["scheme"] = endpoint.scheme
    return pafs.S3FileSystem(**{name: value for name, value in kwargs.items() if value})


def filesystem_for(uri: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path inside it) for an ``s3://bucket/key`` or any other pyarrow URI."""
    if uri.startswith(S3_SCHEME):
        return s3_filesystem(), uri.removeprefix(S3_SCHEME).rstrip("/")
    return pafs.FileSystem.from_uri(uri)


def client(service: str, settings: AwsSettings | None = None) -> Any:
    """A boto3 client for ``service`` (default settings: ``resolve_settings(service)``)."""
    import boto3

    settings = settings or resolve_settings(service)
    return boto3.client(service, **settings.boto3_kwargs())


def delta_storage_options(settings: AwsSettings | None = None) -> dict[str, str]:
    """delta-rs storage options for an ``s3://`` lake (default: ``resolve_settings("s3")``).

    Commits are conditional puts (``If-None-Match: *``, which AWS S3, MinIO and moto
    honour), so concurrent writers never overwrite each other's log entry and no
    locking table is needed.
    """
    settings = settings or resolve_settings("s3")
    values = {
        "AWS_ACCESS_KEY_ID": settings.access_key,
        "AWS_SECRET_ACCESS_KEY": settings.secret_key,
        "AWS_SESSION_TOKEN": settings.session_token,
        "AWS_REGION": settings.region,
        "AWS_ENDPOINT_URL": settings.endpoint_url,
        "AWS_CONDITIONAL_PUT": "etag",
    }
    if settings.endpoint_url and settings.endpoint_url.startswith("http://"):
        values["AWS_ALLOW_HTTP"] = "true"
    return {name: value for name, value in values.items() if value}
