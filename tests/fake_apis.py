"""Local stand-ins for the OANDA v20 candles endpoint and the GDELT DOC 2.0 API.

Both answer in the real formats (OANDA: ``{"instrument", "granularity", "candles": [...]}``
with RFC 3339 nanosecond times and string prices, errors as ``{"errorMessage": ...}``;
GDELT: ``{"articles": [...]}`` or ``{}``, at most ``maxrecords`` (250) per answer, sorted by
date). Each keeps a server-side log of the requests it answered (arrival time and query).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from werkzeug import Request, Response
from werkzeug.serving import make_server

OANDA_PATH = "/v3/instruments/SPX500_USD/candles"
GDELT_PATH = "/api/v2/doc/doc"
TOKEN = "test-token-7f3a9c"


def minute_candles(day: dt.date, minutes: range = range(1440)) -> list[dict[str, Any]]:
    """Complete OANDA mid candles for ``minutes`` of ``day`` (as the API spells them)."""
    out = []
    for minute in minutes:
        moment = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) + dt.timedelta(minutes=minute)
        base = 4700 + minute / 10
        out.append(
            {
                "complete": True,
                "volume": 10 + minute % 7,
                "time": moment.strftime("%Y-%m-%dT%H:%M:%S.000000000Z"),
                "mid": {
                    "o": f"{base:.1f}",
                    "h": f"{base + 0.5:.1f}",
                    "l": f"{base - 0.5:.1f}",
                    "c": f"{base + 0.2:.1f}",
                },
            }
        )
    return out


def _parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclasses.dataclass
class Logged:
    at: float
    args: dict[str, str]


@dataclasses.dataclass
class FakeOanda:
    """Candles by time; refuses bad tokens (401) and ranges over 5,000 candles (400)."""

    candles: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    granularity_s: int = 60
    log: list[Logged] = dataclasses.field(default_factory=list)

    def __call__(self, request: Request) -> Response:
        self.log.append(Logged(time.monotonic(), dict(request.args)))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _json({"errorMessage": "Insufficient authorization to perform request."}, 401)
        start, end = _parse_time(request.args["from"]), _parse_time(request.args["to"])
        if (end - start).total_seconds() / self.granularity_s > 5000:
            return _json({"errorMessage": "Maximum value for 'count' exceeded"}, 400)
        # Inclusive of ``to``, so the client has to drop the boundary candle itself.
        chosen = [c for c in self.candles if start <= _parse_time(c["time"][:19] + "Z") <= end]
        body = {"instrument": "SPX500_USD", "granularity": request.args["granularity"]}
        return _json(body | {"candles": chosen})


@dataclasses.dataclass
class FakeGdelt:
    """Articles with ``seendate``; answers a time range with its first ``maxrecords``."""

    articles: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    log: list[Logged] = dataclasses.field(default_factory=list)

    def __call__(self, request: Request) -> Response:
        self.log.append(Logged(time.monotonic(), dict(request.args)))
        start = request.args["startdatetime"]
        end = request.args["enddatetime"]
        chosen = sorted(
            (a for a in self.articles if start <= a["seendate"].replace("T", "")[:14] <= end),
            key=lambda a: a["seendate"],
        )[: int(request.args["maxrecords"])]
        return _json({"articles": chosen} if chosen else {})


def gdelt_article(moment: dt.datetime, n: int) -> dict[str, Any]:
    """One GDELT ArtList entry (the real field names and spellings)."""
    return {
        "url": f"https://news{n % 7}.example.com/markets/story-{n}.html",
        "url_mobile": "",
        "title": f"Stocks move on story {n}",
        "seendate": moment.strftime("%Y%m%dT%H%M%SZ"),
        "socialimage": "",
        "domain": f"news{n % 7}.example.com",
        "language": "English",
        "sourcecountry": "United States",
    }


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


@contextlib.contextmanager
def threaded_server(handler: Callable[[Request], Response]) -> Iterator[str]:
    """A server of its own for slow answers (the shared one answers one request at a time)."""
    server = make_server("127.0.0.1", 0, Request.application(handler), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
