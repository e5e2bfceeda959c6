"""ASGI middleware: per-request id, metrics, one JSON access-log line, JSON 500s, and a cap
on request bodies.

A plain ASGI class rather than ``BaseHTTPMiddleware``: it adds no task or stream copy per
request, which the micro-batched ``/predict`` path would pay at every call.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src_clean.serving.logs import access_logger
from src_clean.serving.metrics import ServiceMetrics

REQUEST_ID_HEADER = b"x-request-id"
LOG_FIELDS = "log_fields"  # request.state key where endpoints add batch_size, label, ...
UNMATCHED = "unmatched"  # route label of 404s: raw paths would explode the metric's cardinality
MAX_REQUEST_ID = 128
# 64 texts x 2000 characters, each JSON-escaped to at most 12 bytes, plus the envelope
MAX_BODY_BYTES = 2 * 1024 * 1024
TOO_LARGE = {"detail": "Request body too large"}

log = logging.getLogger(__name__)


class AccessMiddleware:
    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self.logger = access_logger()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = incoming_request_id(scope) or uuid.uuid4().hex
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error on %s", scope.get("path"))
            if started:
                raise
            status = 500
            await send_json(send, 500, {"detail": "Internal server error"}, request_id)
        finally:
            self.record(scope, status, time.perf_counter() - start, request_id)

    def record(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or UNMATCHED
        self.metrics.requests.labels(template, scope["method"], str(status)).inc()
        self.metrics.latency.labels(template).observe(seconds)
        fields: dict[str, Any] = {"request_id": request_id}
        fields |= (scope.get("state") or {}).get(LOG_FIELDS, {})
        self.logger.info(
            "request",
            method=scope["method"],
            route=template,
            status=status,
            latency_ms=round(seconds * 1000, 3),
            **fields,
        )


def incoming_request_id(scope: Scope) -> str | None:
    """A load balancer's ``X-Request-ID``, if it is a sane token (else we make one)."""
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER:
            text = value.decode("latin-1")
            if 0 < len(text) <= MAX_REQUEST_ID and text.replace("-", "").isalnum():
                return text
    return None


async def send_json(send: Send, status: int, body: dict, request_id: str) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (REQUEST_ID_HEADER, request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes``: by ``Content-Length`` before reading; for chunked
    uploads by counting, ending the body there and answering 413 whatever the app says."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await send_json(send, 413, TOO_LARGE, uuid.uuid4().hex)
            return
        seen = 0
        too_large = False

        async def counting_receive() -> Message:
            nonlocal seen, too_large
            if too_large:
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    too_large = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def replacing_send(message: Message) -> None:
            if not too_large:
                await send(message)
            elif message["type"] == "http.response.start":
                await send_json(send, 413, TOO_LARGE, uuid.uuid4().hex)

        await self.app(scope, counting_receive, replacing_send)
