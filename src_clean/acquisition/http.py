"""HTTP for the fetchers: one retry policy (tenacity), ``Retry-After``, a rate limit, clear errors.

* 408, 429, 5xx, timeouts and dropped connections are retried with exponential backoff and
  jitter; a ``Retry-After`` (seconds or an HTTP date) is honoured as the least wait. Retries
  stop after ``RetryPolicy.attempts`` attempts, or before a wait would cross the deadline,
  and then raise ``FetchFailed``.
* Any other 4xx (400, 401, 403, 404, ...) raises ``ApiError`` at once, a ``UserError`` with
  the API's own message: retrying a bad token or an unknown instrument cannot help.
* ``retryable_body`` lets a source retry a 2xx that is really an error page (GDELT answers
  throttled requests with 200 and a text or HTML page).
* ``min_interval_s`` spaces consecutive requests, retries included, from the end of one to
  the start of the next.
* Every answer's ``Date`` header sets ``server_offset``, so a caller can keep a time it
  sends (OANDA's ``to``) on the server's clock when the local one runs ahead.

Credentials travel in headers only: nothing here logs headers or query strings.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests
import tenacity
import urllib3

from src_clean.errors import OperationalError, UserError
from src_clean.redact import redact

if TYPE_CHECKING:
    from src_clean.acquisition.report import FetchReport

log = logging.getLogger(__name__)

SNIPPET_BYTES = 300
RETRY_STATUSES = frozenset({408, 429})
TRANSPORT_ERRORS = (
    requests.Timeout,
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying one request: attempts, overall deadline, backoff bounds."""

    attempts: int = 6
    deadline_s: float = 600.0
    initial_wait_s: float = 2.0
    max_wait_s: float = 120.0


class FetchFailed(OperationalError):
    """A request (or its window or slice) that could not be completed; other days go on."""

    FIX = (
        "check the network and the service's status, then run the same command again: what "
        "was fetched is kept and only the rest is fetched"
    )


class BadResponse(FetchFailed):
    """A 2xx answer that is not valid JSON or not the expected shape."""

    def __init__(self, what: str, content: bytes) -> None:
        super().__init__(f"{what}; the response began with {snippet(content)}")


READ_CHUNK = 1 << 16


def read_bounded(response: requests.Response, max_bytes: int | None, total_s: float | None):
    """Read a streamed ``response``'s body into it (``.content`` works after), raising
    ``TransientError`` past ``max_bytes`` or ``total_s`` (the connection is closed)."""
    import time

    deadline = None if total_s is None else time.monotonic() + total_s
    buffer = bytearray()
    try:
        # read1 returns as soon as any bytes arrive, so a server that drips meets the
        # deadline between two bytes, not after a whole chunk that never fills
        while chunk := response.raw.read1(READ_CHUNK, decode_content=True):
            buffer += chunk
            if max_bytes is not None and len(buffer) > max_bytes:
                raise TransientError(f"body larger than the {max_bytes} bytes expected")
            if deadline is not None and time.monotonic() > deadline:
                raise TransientError(f"body not read within {total_s:.0f} s")
    except TransientError:
        response.close()
        raise
    except (urllib3.exceptions.HTTPError, OSError) as exc:  # raw reads: urllib3's errors
        response.close()
        raise TransientError(f"{type(exc).__name__}: {exc}") from exc
    response._content = bytes(buffer)  # what .content returns from now on
    response._content_consumed = True


class TransientError(Exception):
    """A failure worth retrying, with the server's ``Retry-After`` when it sent one."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ApiError(UserError):
    """The API refused the request (a 4xx other than 408/429): fails at once."""

    def __init__(self, status: int, message: str, fix: str | None = None) -> None:
        super().__init__(message, fix)
        self.status = status


def snippet(content: bytes) -> str:
    """The first ``SNIPPET_BYTES`` bytes, decoded leniently, quoted."""
    text = content[:SNIPPET_BYTES].decode("utf-8", "replace")
    return repr(text) + (" ..." if len(content) > SNIPPET_BYTES else "")


def parse_json(response: requests.Response, what: str) -> Any:
    """The JSON body of ``response``, or ``BadResponse`` showing how it began."""
    try:
        return json.loads(response.content)
    except ValueError:
        raise BadResponse(f"{what}: not valid JSON", response.content) from None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), ``None`` if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def api_message(response: requests.Response) -> str:
    """The error text an API put in its body (OANDA ``errorMessage``), else the body's start."""
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("errorMessage", "message", "error"):
            if isinstance(body.get(key), str):
                return body[key]
    return snippet(response.content)


class RateLimiter:
    """At least ``min_interval_s`` from the end of one request to the start of the next.

    Counting from the end (the answer received) rather than the start means the server
    sees the requests at least that far apart too, however long each one took on the way.
    """

    def __init__(self, min_interval_s: float) -> None:
        self.min_interval_s = min_interval_s
        self._last: float | None = None

    def wait(self) -> None:
        """Sleep until the next request may start."""
        if self._last is not None:
            delay = self._last + self.min_interval_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def done(self) -> None:
        """A request just ended."""
        self._last = time.monotonic()


class _WaitRetryAfter(tenacity.wait.wait_base):
    """Exponential backoff with jitter, but never less than the server's ``Retry-After``."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.backoff = tenacity.wait_exponential_jitter(
            initial=policy.initial_wait_s, max=policy.max_wait_s, jitter=policy.initial_wait_s
        )

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        wait = self.backoff(retry_state)
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(error, TransientError) and error.retry_after_s is not None:
            wait = max(wait, error.retry_after_s)
        return wait


class HttpClient:
    """GETs for one API: shared session and headers, retry policy, rate limit, counters."""

    def __init__(
        self,
        name: str,
        *,
        headers: Mapping[str, str] | None = None,
        policy: RetryPolicy | None = None,
        timeout_s: float = 60.0,
        min_interval_s: float = 0.0,
        fixes: Mapping[int, str] | None = None,
        on_retry: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.policy = policy or RetryPolicy()
        self.timeout_s = timeout_s
        self.limiter = RateLimiter(min_interval_s)
        self.fixes = dict(fixes or {})
        self.on_retry = on_retry
        self.session = requests.Session()
        self.session.headers.update(headers or {})
        self.requests = 0
        self.retries = 0
        self.server_offset: dt.timedelta | None = None

    def server_now(self, now: dt.datetime) -> dt.datetime:
        """``now`` on the server's clock, as its last ``Date`` header told (``now`` itself
        before any answer). ``Date`` is whole seconds, rounded down, so this never runs
        ahead of the server."""
        return now + self.server_offset if self.server_offset is not None else now

    def close(self) -> None:
        self.session.close()

    def get(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        *,
        retryable_body: Callable[[requests.Response], str | None] | None = None,
        max_bytes: int | None = None,
        total_s: float | None = None,
    ) -> requests.Response:
        """The 2xx response to ``GET url``, after retries; ``ApiError`` or ``FetchFailed``.

        ``max_bytes`` and ``total_s`` bound one attempt whatever the server does: its body
        is read in chunks and the attempt fails (and is retried) past ``max_bytes`` or past
        ``total_s`` seconds in all. The socket timeout alone restarts with every byte, so a
        server that drips one byte every 20 s would hold the fetch forever."""
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.policy.attempts)
            | tenacity.stop_before_delay(self.policy.deadline_s),
            wait=_WaitRetryAfter(self.policy),
            retry=tenacity.retry_if_exception_type(TransientError),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            return retrying(self._attempt, url, params, retryable_body, max_bytes, total_s)
        except TransientError as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            message = f"{self.name}: gave up after {attempts} attempts: {exc}"
            raise FetchFailed(redact(message)) from exc

    def _attempt(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        retryable_body: Callable[[requests.Response], str | None] | None,
        max_bytes: int | None = None,
        total_s: float | None = None,
    ) -> requests.Response:
        self.limiter.wait()
        self.requests += 1
        bounded = max_bytes is not None or total_s is not None
        try:
            response = self.session.get(url, params=params, timeout=self.timeout_s, stream=bounded)
            if bounded:
                read_bounded(response, max_bytes, total_s)
        except TRANSPORT_ERRORS as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            self.limiter.done()
        self._read_server_clock(response)
        status = response.status_code
        if status in RETRY_STATUSES or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise TransientError(f"HTTP {status}: {api_message(response)}", retry_after)
        if status >= 400:
            raise ApiError(
                status,
                f"{self.name} refused the request (HTTP {status}): {api_message(response)}",
                self.fixes.get(status),
            )
        reason = retryable_body(response) if retryable_body else None
        if reason:
            raise TransientError(reason)
        return response

    def _read_server_clock(self, response: requests.Response) -> None:
        try:
            server = email.utils.parsedate_to_datetime(response.headers.get("Date", ""))
        except (TypeError, ValueError):
            return
        if server.tzinfo is not None:
            self.server_offset = server - dt.datetime.now(dt.UTC)

    def _before_sleep(self, retry_state: tenacity.RetryCallState) -> None:
        self.retries += 1
        if self.on_retry:
            self.on_retry()
        error = retry_state.outcome.exception() if retry_state.outcome else None
        wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
        log.warning(
            "%s: %s; retry %d in %.1fs",
            self.name,
            redact(str(error)),
            retry_state.attempt_number,
            wait,
        )


@contextlib.contextmanager
def fetch_session(report: FetchReport, name: str, **options: Any) -> Iterator[HttpClient]:
    """An ``HttpClient`` for one fetch run; on the way out, however the run ends, it is
    closed and its request and retry counts go into ``report``."""
    client = HttpClient(name, **options)
    try:
        yield client
    finally:
        client.close()
        report.requests, report.retries = client.requests, client.retries
