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
import email.utils
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from werkzeug import Request, Response
from werkzeug.serving import WSGIRequestHandler, make_server

OANDA_PATH = "/v3/instruments/SPX500_USD/candles"
GDELT_PATH = "/api/v2/doc/doc"
TOKEN = "test-token-7f3a9c"


def minute_candles(
    day: dt.date, minutes: range = range(1440), price: str = "M"
) -> list[dict[str, Any]]:
    """Complete OANDA candles for ``minutes`` of ``day`` with the ``price`` sides (M, B, A),
    as the API spells them: bid and ask a quarter point either side of mid."""
    out = []
    for minute in minutes:
        moment = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) + dt.timedelta(minutes=minute)
        base = 4700 + minute / 10
        candle: dict[str, Any] = {
            "complete": True,
            "volume": 10 + minute % 7,
            "time": moment.strftime("%Y-%m-%dT%H:%M:%S.000000000Z"),
        }
        for letter, side, shift in (("M", "mid", 0.0), ("B", "bid", -0.25), ("A", "ask", 0.25)):
            if letter in price:
                mid = (base, base + 0.5, base - 0.5, base + 0.2)
                candle[side] = dict(zip("ohlc", (f"{v + shift:.2f}" for v in mid), strict=True))
        out.append(candle)
    return out


def recent_friday(min_age_days: int = 8) -> dt.date:
    """A recent Friday with a full NYSE session (no holiday, no early close), at least
    ``min_age_days`` old: inside GDELT DOC's 3-month window, and settled."""
    import exchange_calendars
    import pandas as pd

    nyse = exchange_calendars.get_calendar("XNYS")
    day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=min_age_days)
    day -= dt.timedelta(days=(day.weekday() - 4) % 7)
    while not nyse.is_session(pd.Timestamp(day)) or pd.Timestamp(day) in nyse.early_closes:
        day -= dt.timedelta(days=7)
    return day


def _parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclasses.dataclass
class Logged:
    at: float
    args: dict[str, str]


# OANDA v20 ``GET /v3/instruments/{instrument}/candles``, as its documentation describes:
# * ``price``: any combination of M, B and A; only those sides come back;
# * ``Accept-Datetime-Format: RFC3339`` (the default) or ``UNIX`` (seconds as a decimal
#   string, "1704204000.000000000");
# * a ``to`` later than the server's clock is refused with 400 "Invalid value specified
#   for 'to'. Time is in the future" (oandapyV20 and v20-python issues);
# * more than 5,000 candles in a range is 400 "Maximum value for 'count' exceeded";
# * every answer carries an HTTP ``Date`` header.
OANDA_FUTURE_TO = "Invalid value specified for 'to'. Time is in the future"


@dataclasses.dataclass
class FakeOanda:
    """Candles by time; refuses bad tokens (401), ranges over 5,000 candles and a ``to``
    after its clock (400). ``clock_offset_s``: how far its clock is from this machine's
    (serve it with ``threaded_server(fake, fake.clock_offset_s)`` for a matching ``Date``);
    a candle not yet closed on that clock is sent ``complete: false``, later ones not at
    all."""

    candles: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    granularity_s: int = 60
    log: list[Logged] = dataclasses.field(default_factory=list)
    clock_offset_s: float = 0.0

    def __call__(self, request: Request) -> Response:
        self.log.append(Logged(time.monotonic(), dict(request.args)))
        now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.clock_offset_s)
        headers: dict[str, str] = {}  # ``Date`` comes from the server (``threaded_server``)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            body = {"errorMessage": "Insufficient authorization to perform request."}
            return _json(body, 401, headers)
        start, end = _parse_time(request.args["from"]), _parse_time(request.args["to"])
        if end > now:
            return _json({"errorMessage": OANDA_FUTURE_TO}, 400, headers)
        if (end - start).total_seconds() / self.granularity_s > 5000:
            return _json({"errorMessage": "Maximum value for 'count' exceeded"}, 400, headers)
        sides = [
            s
            for letter, s in (("M", "mid"), ("B", "bid"), ("A", "ask"))
            if letter in request.args.get("price", "M")
        ]
        unix = request.headers.get("Accept-Datetime-Format", "RFC3339").upper() == "UNIX"
        chosen = []
        # Inclusive of ``to``, so the client has to drop the boundary candle itself.
        for candle in self.candles:
            opened = _parse_time(candle["time"][:19] + "Z")
            if not start <= opened <= end or opened > now:
                continue
            closed = opened + dt.timedelta(seconds=self.granularity_s) <= now
            sent = {k: candle[k] for k in ("volume", "time") + tuple(sides) if k in candle}
            sent["complete"] = candle["complete"] and closed
            if unix:
                sent["time"] = f"{opened.timestamp():.9f}"
            chosen.append(sent)
        body = {"instrument": "SPX500_USD", "granularity": request.args["granularity"]}
        return _json(body | {"candles": chosen}, 200, headers)


# GDELT DOC 2.0, as its documentation and public clients describe it:
# * a rolling window of about the last 3 months (DOC 2.0 announcement, 2017: "searches the
#   last 3 months"); older ranges answer ``{}``;
# * articles are indexed in 15-minute batches, so every ``seendate`` is a batch time
#   (``20240102T151500Z``);
# * a bad query is answered 200 ``text/html`` with a plain message ("The specified phrase
#   is too short.", "Queries containing OR'd terms must be surrounded by ()."; gdeltdoc
#   raises "The query was not valid" on any HTML answer);
# * more than one request every 5 seconds is answered 200 with "Please limit requests to
#   one every 5 seconds ..." or 429 (gdeltdoc and gdelt-doc-api issues);
# * a 200 with a blank body happens under load (gdeltdoc retries it);
# * titles may come with backslash-escaped apostrophes (``\'``), which JSON does not allow
#   (gdeltdoc's ``load_json`` drops the offending character).
GDELT_WINDOW = dt.timedelta(days=90)
GDELT_THROTTLE = (
    "Please limit requests to one every 5 seconds or contact kalev.leetaru5@gmail.com "
    "for larger queries."
)
GDELT_BATCH = dt.timedelta(minutes=15)


def gdelt_query_problem(query: str) -> str | None:
    """GDELT's message for a query it refuses (the two commonest rules), else None."""
    bare = re.sub(r"\([^)]*\)", "", query)
    if re.search(r"\bOR\b", bare):
        return "Queries containing OR'd terms must be surrounded by ()."
    terms = re.findall(r'"([^"]*)"|([^\s()]+)', query)
    words = [(a or b).strip() for a, b in terms if (a or b) not in ("OR", "AND")]
    if any(len(word) < 3 for word in words if ":" not in word):
        return "The specified phrase is too short."
    return None


@dataclasses.dataclass
class FakeGdelt:
    """ArtList and TimelineVolRaw over ``articles`` (``seendate`` per article).

    ``now``: the server's clock (for its 3-month window); ``min_interval_s``: answer faster
    requests with the throttle text; ``answers``: canned responses served first, in order
    (a blank body, a 429, ...); ``escape_apostrophes``: send ``\'`` in titles."""

    articles: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    log: list[Logged] = dataclasses.field(default_factory=list)
    now: dt.datetime = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.UTC))
    min_interval_s: float = 0.0
    answers: list[Response] = dataclasses.field(default_factory=list)
    escape_apostrophes: bool = False

    def __call__(self, request: Request) -> Response:
        last = self.log[-1].at if self.log else None
        self.log.append(Logged(time.monotonic(), dict(request.args)))
        if self.answers:
            return self.answers.pop(0)
        if last is not None and self.log[-1].at - last < self.min_interval_s:
            return Response(GDELT_THROTTLE, content_type="text/plain")
        problem = gdelt_query_problem(request.args.get("query", ""))
        if problem:
            return Response(problem, content_type="text/html; charset=utf-8")
        oldest = (self.now - GDELT_WINDOW).strftime("%Y%m%d%H%M%S")
        start = max(request.args["startdatetime"], oldest)
        end = request.args["enddatetime"]
        chosen = sorted(
            (a for a in self.articles if start <= a["seendate"].replace("T", "")[:14] <= end),
            key=lambda a: a["seendate"],
        )
        if request.args["mode"].lower() == "timelinevolraw":
            return _json(_timeline(chosen))
        chosen = chosen[: int(request.args["maxrecords"])]
        text = json.dumps({"articles": chosen} if chosen else {})
        if self.escape_apostrophes:
            text = text.replace("'", "\\'")
        return Response(text, content_type="application/json")


def _timeline(articles: list[dict[str, Any]]) -> dict[str, Any]:
    """TimelineVolRaw's shape: per-batch ``value`` (matching articles) and ``norm``."""
    counts: dict[str, int] = {}
    for article in articles:
        counts[article["seendate"]] = counts.get(article["seendate"], 0) + 1
    data = [{"date": d, "value": n, "norm": 1000 * n} for d, n in sorted(counts.items())]
    return {
        "query_details": {"title": "", "date_resolution": "15m"},
        "timeline": [{"series": "Article Count", "data": data}],
    }


def gdelt_article(moment: dt.datetime, n: int) -> dict[str, Any]:
    """One GDELT ArtList entry (the real field names and spellings), seen in the 15-minute
    batch ``moment`` falls in."""
    batch = moment - (moment - moment.replace(minute=0, second=0, microsecond=0)) % GDELT_BATCH
    return {
        "url": f"https://news{n % 7}.example.com/markets/story-{n}.html",
        "url_mobile": "",
        "title": f"Stocks move on story {n}",
        "seendate": batch.strftime("%Y%m%dT%H%M%SZ"),
        "socialimage": "",
        "domain": f"news{n % 7}.example.com",
        "language": "English",
        "sourcecountry": "United States",
    }


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status=status, content_type="application/json", headers=headers
    )


@contextlib.contextmanager
def threaded_server(
    handler: Callable[[Request], Response], clock_offset_s: float = 0.0
) -> Iterator[str]:
    """A server of its own for slow answers (the shared one answers one request at a time),
    whose ``Date`` header runs ``clock_offset_s`` from this machine's clock."""

    class ShiftedClock(WSGIRequestHandler):
        def date_time_string(self, timestamp: float | None = None) -> str:
            moment = (time.time() if timestamp is None else timestamp) + clock_offset_s
            return email.utils.formatdate(moment, usegmt=True)

    app = Request.application(handler)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=ShiftedClock)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


# -- GDELT 2.0 GKG files ----------------------------------------------------------------

GKG_ROOT = "/gdeltv2"


def gkg_row(batch: dt.datetime, n: int, *, kept: bool, web: bool = True, **extra: str) -> str:
    """One tab-separated GKG 2.1 row, 27 columns, as GDELT writes them (codebook V2.1):
    ``kept`` rows carry the ECON_STOCKMARKET theme, the others an unrelated one."""
    stamp = batch.strftime("%Y%m%d%H%M%S")
    title = extra.get("title", f"Stocks &amp; bonds move on story {n}")
    precise = extra.get("precise", (batch - dt.timedelta(minutes=7)).strftime("%Y%m%d%H%M%S"))
    xml = f"<PAGE_TITLE>{title}</PAGE_TITLE>"
    if precise:
        xml += f"<PAGE_PRECISEPUBTIMESTAMP>{precise}</PAGE_PRECISEPUBTIMESTAMP>"
    cells = [""] * 27
    cells[0] = f"{stamp}-{n}"
    cells[1] = stamp
    cells[2] = "1" if web else "2"
    cells[3] = f"news{n % 5}.example.com"
    cells[4] = extra.get("url", f"https://news{n % 5}.example.com/markets/{n}.html")
    cells[7] = "ECON_STOCKMARKET;TAX_FNCACT" if kept else "SPORTS;TAX_FNCACT"
    cells[8] = "ECON_STOCKMARKET,120;TAX_FNCACT,15" if kept else "SPORTS,10"
    cells[13] = "goldman sachs" if kept else ""
    cells[15] = f"{-1.5 + n % 4:.6f},2.1,3.6,5.7,21.4,0,512"
    cells[17] = "wc:512,c1.2:3"
    cells[26] = xml
    return "\t".join(cells)


def gkg_zip(batch: dt.datetime, rows: list[str]) -> bytes:
    """A GKG file as GDELT serves it: one CSV inside a zip, named like the file."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{batch:%Y%m%d%H%M%S}.gkg.csv", "\n".join(rows) + "\n")
    return buffer.getvalue()


@dataclasses.dataclass
class FakeGkg:
    """``masterfilelist.txt`` (``<size> <md5> <url>`` lines, other GDELT files beside the
    GKG ones, as the real list has) and the zipped GKG files it names.

    ``files``: batch -> served bytes; ``listed``: batch -> bytes the list's size and MD5
    describe (differ to serve a mismatch); ``bad_answers``: batch -> how many wrong
    answers to give before the right one."""

    base: str = ""
    files: dict[dt.datetime, bytes] = dataclasses.field(default_factory=dict)
    listed: dict[dt.datetime, bytes] = dataclasses.field(default_factory=dict)
    bad_answers: dict[dt.datetime, int] = dataclasses.field(default_factory=dict)
    log: list[str] = dataclasses.field(default_factory=list)
    delay_s: float = 0.0  # before each file (a slow link: time to kill a backfill)
    extra_lines: list[str] = dataclasses.field(default_factory=list)  # hostile list lines
    drip_s: dict[dt.datetime, float] = dataclasses.field(default_factory=dict)  # s per byte

    def add(self, batch: dt.datetime, rows: list[str]) -> None:
        self.files[batch] = self.listed[batch] = gkg_zip(batch, rows)

    def master_list(self) -> str:
        import hashlib

        lines = []
        for batch, data in sorted(self.listed.items()):
            stamp = batch.strftime("%Y%m%d%H%M%S")
            digest = hashlib.md5(data).hexdigest()
            lines.append(f"{len(data)} {digest} {self.base}{GKG_ROOT}/{stamp}.export.CSV.zip")
            lines.append(f"{len(data)} {digest} {self.base}{GKG_ROOT}/{stamp}.gkg.csv.zip")
        lines.append("malformed line")
        lines += self.extra_lines
        return "\n".join(lines) + "\n"

    def __call__(self, request: Request) -> Response:
        self.log.append(request.path)
        if request.path.endswith("masterfilelist.txt"):
            return Response(self.master_list(), content_type="text/plain")
        stamp = request.path.rsplit("/", 1)[1][:14]
        batch = dt.datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
        if batch not in self.files:
            return Response("Not Found", status=404)
        time.sleep(self.delay_s)
        if self.bad_answers.get(batch, 0) > 0:
            self.bad_answers[batch] -= 1
            damaged = self.files[batch][:-10] + bytes(10)  # same size, other bytes
            return Response(damaged, content_type="application/zip")
        if batch in self.drip_s:  # a hostile server: one byte at a time, forever slow
            data, pause = self.files[batch], self.drip_s[batch]

            def drip():
                for i in range(len(data)):
                    time.sleep(pause)
                    yield data[i : i + 1]

            return Response(drip(), content_type="application/zip", direct_passthrough=True)
        return Response(self.files[batch], content_type="application/zip")
