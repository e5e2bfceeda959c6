"""A real S3 and DynamoDB API on 127.0.0.1: moto's server app, one per test process.

Clients talk HTTP to it exactly as to AWS (nothing is patched). ``activate(monkeypatch)``
points the standard AWS environment (``AWS_ENDPOINT_URL`` and dummy keys) at the server
for one test and returns a ``LocalAws`` that makes clients and fresh, uniquely named
buckets and tables, so tests sharing the server never see each other's data.
"""

from __future__ import annotations

import atexit
import functools
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

REGION = "us-east-1"
STRAY_SETTINGS = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_DYNAMODB",
)


class OneRequestAtATime:
    """WSGI wrapper that serves requests one at a time.

    moto checks a DynamoDB condition and applies the update in two steps; real DynamoDB
    does both atomically per item. Serializing requests restores that guarantee, which
    the claim tests rely on, while clients still connect concurrently.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with self.lock:
            return list(self.app(environ, start_response))


@functools.cache
def server_endpoint() -> str:
    """Start the moto server on a free port (once per process); its URL."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, name="moto-server", daemon=True).start()
    atexit.register(server.shutdown)
    return f"http://127.0.0.1:{server.server_port}"


@dataclass(frozen=True)
class LocalAws:
    """The local endpoint and the environment that points AWS SDKs at it."""

    endpoint_url: str

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def new_bucket(self) -> str:
        name = f"test-{uuid.uuid4().hex[:12]}"
        self.client("s3").create_bucket(Bucket=name)
        return name

    def new_table(self) -> str:
        from src_clean.worker.jobs import create_jobs_table

        name = f"jobs-{uuid.uuid4().hex[:12]}"
        create_jobs_table(self.client("dynamodb"), name)
        return name


def activate(monkeypatch: pytest.MonkeyPatch) -> LocalAws:
    """Point the AWS environment at the local server for one test."""
    local = LocalAws(server_endpoint())
    for name in (*STRAY_SETTINGS, "AIRFLOW_CTX_DAG_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in local.env.items():
        monkeypatch.setenv(name, value)
    return local
