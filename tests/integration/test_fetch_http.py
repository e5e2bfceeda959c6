"""The fetchers' HTTP client: what is retried, what fails at once, waits and deadlines."""

from __future__ import annotations

import email.utils
import socket
import threading
import time

import pytest
from fake_apis import threaded_server
from werkzeug import Response

from src_clean.acquisition.http import (
    ApiError,
    FetchFailed,
    HttpClient,
    RetryPolicy,
    parse_retry_after,
)

FAST = RetryPolicy(attempts=3, deadline_s=30, initial_wait_s=0.01, max_wait_s=0.05)


def test_a_timeout_is_retried():
    calls = []

    def slow_once(request):
        calls.append(1)
        if len(calls) == 1:
            time.sleep(2.0)
        return Response("{}")

    client = HttpClient("test", policy=FAST, timeout_s=1.0)
    with threaded_server(slow_once) as url:
        assert client.get(f"{url}/x").content == b"{}"
    # The first attempt timed out; on a loaded machine a later one may too, never all.
    assert client.retries >= 1 and client.retries == len(calls) - 1


def test_a_dropped_connection_is_retried_then_gives_up():
    accepted = []
    listener = socket.create_server(("127.0.0.1", 0))

    def drop_every_connection():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            conn.close()

    threading.Thread(target=drop_every_connection, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/x"
    try:
        with pytest.raises(FetchFailed, match="gave up after 3 attempts: ConnectionError"):
            HttpClient("test", policy=FAST).get(url)
    finally:
        listener.close()
    assert len(accepted) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_fail_at_once_with_the_api_message(httpserver, status):
    httpserver.expect_request("/x").respond_with_json(
        {"errorMessage": "Invalid instrument"}, status
    )
    client = HttpClient("OANDA", policy=FAST, fixes={401: "check the token"})

    with pytest.raises(ApiError) as info:
        client.get(httpserver.url_for("/x"))

    assert info.value.status == status and len(httpserver.log) == 1
    assert f"OANDA refused the request (HTTP {status}): Invalid instrument" in str(info.value)
    assert ("check the token" in str(info.value)) == (status == 401)


def test_a_retry_after_past_the_deadline_gives_up_instead_of_sleeping(httpserver):
    httpserver.expect_request("/x").respond_with_response(
        Response("busy", status=503, headers={"Retry-After": "30"})
    )
    client = HttpClient("test", policy=RetryPolicy(attempts=5, deadline_s=2, initial_wait_s=0.01))
    started = time.monotonic()

    with pytest.raises(FetchFailed, match="HTTP 503: 'busy'"):
        client.get(httpserver.url_for("/x"))

    assert time.monotonic() - started < 10 and len(httpserver.log) == 1  # not 30 s


def test_retry_after_as_seconds_or_http_date():
    now = time.time()
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(email.utils.formatdate(now + 20, usegmt=True), now) == pytest.approx(
        20, abs=1
    )
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
