"""OANDA v20 candles into one NDJSON file per UTC day: ``<instrument>_<granularity>_<date>.ndjson``.

``GET {api}/v3/instruments/{instrument}/candles?from=..&to=..&granularity=..&price=..`` with
``Authorization: Bearer <token>`` and ``Accept-Datetime-Format: RFC3339``. A request never
spans more than ``MAX_CANDLES - 1`` candle periods, so it stays under OANDA's 5,000-candle
limit however the end is counted: for M1 one request covers three whole days, for S5 a day
takes four requests. The ``to`` of a request is never in the future on OANDA's clock
(OANDA refuses that with a 400): it is clamped to the server's ``Date`` header.

Each line of a day file is one candle exactly as the API sent it (``complete``, ``volume``,
``time``, ``mid``/``bid``/``ask``), which ``bronze-market`` ingests as it is. A day is
written only when every request covering it succeeded and its candles passed the shape
check; it is final (skipped by later runs unless ``refetch``) when it was requested after
the day closed and every candle in it is ``complete``. A weekend or holiday is a final,
empty file. A failed request fails only the days it covers; the others go on.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator
from itertools import groupby
from pathlib import Path
from typing import Any

from src_clean.acquisition.credentials import OANDA_TOKEN_ENV
from src_clean.acquisition.http import (
    ApiError,
    BadResponse,
    FetchFailed,
    HttpClient,
    RetryPolicy,
    fetch_session,
    parse_json,
)
from src_clean.acquisition.landing import ONE_DAY, Landing, day_start, fetch_days, ndjson
from src_clean.acquisition.progress import Progress
from src_clean.acquisition.report import FetchReport
from src_clean.errors import UserError

API_URLS = {
    "practice": "https://api-fxpractice.oanda.com",
    "live": "https://api-fxtrade.oanda.com",
}
MAX_CANDLES = 5000
GRANULARITY_SECONDS = {
    "S5": 5,
    "S10": 10,
    "S15": 15,
    "S30": 30,
    "M1": 60,
    "M2": 120,
    "M4": 240,
    "M5": 300,
    "M10": 600,
    "M15": 900,
    "M30": 1800,
    "H1": 3600,
    "H2": 7200,
    "H3": 10800,
    "H4": 14400,
    "H6": 21600,
    "H8": 28800,
    "H12": 43200,
    "D": 86400,
}
PRICE_SIDES = {"M": "mid", "B": "bid", "A": "ask"}
OHLC = ("o", "h", "l", "c")
TIME_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z")
FIXES = {
    401: f"check {OANDA_TOKEN_ENV} (or the oanda_default connection) and --environment: "
    "practice tokens only work on the practice host",
    403: "the token's account may not access this instrument or environment",
}


@dataclasses.dataclass(frozen=True)
class Window:
    """One request: ``[start, end)`` and the UTC days it covers."""

    start: dt.datetime
    end: dt.datetime
    days: tuple[dt.date, ...]


def day_file(instrument: str, granularity: str, day: dt.date) -> str:
    return f"{instrument}_{granularity}_{day.isoformat()}.ndjson"


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _consecutive_runs(days: list[dt.date]) -> Iterator[list[dt.date]]:
    for _, run in groupby(enumerate(days), key=lambda item: item[1].toordinal() - item[0]):
        yield [day for _, day in run]


def plan_windows(days: list[dt.date], granularity: str) -> list[Window]:
    """Requests covering ``days`` (sorted), each spanning fewer than ``MAX_CANDLES`` periods."""
    span = dt.timedelta(seconds=(MAX_CANDLES - 1) * GRANULARITY_SECONDS[granularity])
    windows = []
    if span >= ONE_DAY:
        per_window = span // ONE_DAY
        for run in _consecutive_runs(days):
            for i in range(0, len(run), per_window):
                chunk = tuple(run[i : i + per_window])
                windows.append(Window(day_start(chunk[0]), day_start(chunk[-1]) + ONE_DAY, chunk))
        return windows
    for day in days:
        start, end = day_start(day), day_start(day) + ONE_DAY
        while start < end:
            windows.append(Window(start, min(start + span, end), (day,)))
            start += span
    return windows


def _candle_problem(candle: Any, sides: list[str]) -> str | None:
    """Why ``candle`` is not an OANDA candle of the requested price sides (``None`` if it is)."""
    if not isinstance(candle, dict):
        return "a candle is not an object"
    if not isinstance(candle.get("time"), str) or not TIME_PATTERN.fullmatch(candle["time"]):
        return f"candle time {candle.get('time')!r} is not RFC 3339 UTC"
    if not isinstance(candle.get("complete"), bool):
        return f"candle at {candle['time']} has no boolean 'complete'"
    for side in sides:
        prices = candle.get(side)
        if not isinstance(prices, dict) or any(key not in prices for key in OHLC):
            return f"candle at {candle['time']} has no {side} o/h/l/c"
    return None


def check_candles(
    body: Any, content: bytes, window: Window, instrument: str, granularity: str, price: str
) -> list[dict[str, Any]]:
    """The window's candles from a response ``body``, or ``BadResponse`` on any wrong shape.

    Candles outside ``[window.start, window.end)`` (a boundary candle) are left out: the
    neighbouring request brings them.
    """
    what = f"OANDA candles {rfc3339(window.start)}..{rfc3339(window.end)}"
    if not isinstance(body, dict) or not isinstance(body.get("candles"), list):
        raise BadResponse(f"{what}: no 'candles' list", content)
    for key, expected in (("instrument", instrument), ("granularity", granularity)):
        if body.get(key, expected) != expected:
            raise BadResponse(f"{what}: {key} is {body[key]!r}, not {expected!r}", content)
    sides = [PRICE_SIDES[letter] for letter in price]
    for candle in body["candles"]:
        problem = _candle_problem(candle, sides)
        if problem:
            raise BadResponse(f"{what}: {problem}", content)
    start, end = rfc3339(window.start), rfc3339(window.end)
    return [c for c in body["candles"] if start <= c["time"][:19] + "Z" < end]


@dataclasses.dataclass
class _Day:
    """Candles gathered for one day while its windows come in."""

    windows_left: int
    first_request: dt.datetime | None = None
    candles: list[dict[str, Any]] = dataclasses.field(default_factory=list)


class OandaCandles:
    """The candles endpoint of one instrument, granularity and price."""

    def __init__(
        self, client: HttpClient, api_url: str, instrument: str, granularity: str, price: str
    ) -> None:
        if granularity not in GRANULARITY_SECONDS:
            raise UserError(f"unsupported granularity {granularity!r}", "use S5 ... H12 or D")
        if not price or set(price) - set(PRICE_SIDES) or len(set(price)) != len(price):
            raise UserError(f"bad --price {price!r}", "use a combination of M, B and A, e.g. MBA")
        self.client = client
        self.url = f"{api_url.rstrip('/')}/v3/instruments/{instrument}/candles"
        self.instrument, self.granularity, self.price = instrument, granularity, price

    def fetch(self, window: Window, now: dt.datetime) -> list[dict[str, Any]]:
        """The candles of ``window`` (up to ``now`` on OANDA's clock), checked;
        ``FetchFailed`` otherwise.

        A local clock ahead of OANDA's makes a ``to`` OANDA calls "in the future" (400). The
        server's ``Date`` header clamps ``to`` once known; when the first answer is that 400,
        its ``Date`` is now known and the request is sent once more."""
        try:
            return self._fetch(window, now)
        except ApiError as exc:
            clock_known = self.client.server_offset is not None
            if exc.status != 400 or "future" not in str(exc).lower() or not clock_known:
                raise
            return self._fetch(window, now)

    def _fetch(self, window: Window, now: dt.datetime) -> list[dict[str, Any]]:
        end = min(window.end, self.client.server_now(now).replace(microsecond=0))
        if end <= window.start:
            return []
        params = {
            "granularity": self.granularity,
            "price": self.price,
            "from": rfc3339(window.start),
            "to": rfc3339(end),
        }
        response = self.client.get(self.url, params)
        body = parse_json(response, f"OANDA candles {params['from']}..{params['to']}")
        args = (self.instrument, self.granularity, self.price)
        return check_candles(body, response.content, window, *args)


def fetch_market(
    out: str | Path,
    *,
    token: str,
    instrument: str = "SPX500_USD",
    granularity: str = "M1",
    start: dt.date,
    end: dt.date,
    api_url: str = API_URLS["practice"],
    price: str = "M",
    refetch: bool = False,
    policy: RetryPolicy | None = None,
    progress: Progress | None = None,
) -> FetchReport:
    """Fetch ``start..end`` (inclusive UTC days) into ``out``; the per-day report.

    Raises ``UserError`` for bad arguments and for requests OANDA refuses for every
    window (401/403/404); a 400 fails the days of its window only, and the run goes on.
    """
    days = fetch_days(start, end)
    progress = progress or Progress("req", enabled=False)
    landing = Landing(out)
    report = FetchReport(f"fetch-market oanda {instrument} {granularity} {start}..{end}")
    names = {day: day_file(instrument, granularity, day) for day in days}
    todo = []
    for day, name in names.items():
        if refetch or not landing.is_final(name):
            todo.append(day)
        else:
            report.skip(day)
    windows = plan_windows(todo, granularity)
    progress.plan(len(windows))
    headers = {"Authorization": f"Bearer {token}", "Accept-Datetime-Format": "RFC3339"}
    options = {"policy": policy, "fixes": FIXES, "on_retry": progress.retried}
    days = {day: _Day(windows_left=sum(day in w.days for w in windows)) for day in todo}
    with fetch_session(report, "OANDA", headers=headers, **options) as client:
        candles_api = OandaCandles(client, api_url, instrument, granularity, price)
        for window in windows:
            _fetch_window(candles_api, window, days, landing, names, report, progress)
    return report


def _fetch_window(
    api: OandaCandles,
    window: Window,
    days: dict[dt.date, _Day],
    landing: Landing,
    names: dict[dt.date, str],
    report: FetchReport,
    progress: Progress,
) -> None:
    """Fetch one window, then write each of its days whose last window this was."""
    live = [day for day in window.days if day.isoformat() not in report.failed]
    candles: list[dict[str, Any]] = []
    requested = dt.datetime.now(dt.UTC)
    try:
        if live:
            candles = api.fetch(window, requested)
    except (FetchFailed, ApiError) as exc:
        if isinstance(exc, ApiError) and exc.status != 400:
            raise  # a token or instrument problem: every other window would fail the same
        for day in live:  # a 400 refuses this window only (e.g. a clock ahead of OANDA's)
            report.fail(day, str(exc))
            progress.line(f"{day}: FAILED: {exc}")
        live = []
    progress.done(len(candles))
    for day in live:
        state = days[day]
        state.first_request = state.first_request or requested
        state.candles.extend(c for c in candles if c["time"][:10] == day.isoformat())
        state.windows_left -= 1
        if state.windows_left == 0:
            _save_day(landing, names[day], day, state, report, progress)


def _save_day(
    landing: Landing,
    name: str,
    day: dt.date,
    state: _Day,
    report: FetchReport,
    progress: Progress,
) -> None:
    closed = state.first_request is not None and state.first_request >= day_start(day) + ONE_DAY
    incomplete = sum(not c["complete"] for c in state.candles)
    final = closed and not incomplete
    note = "final" if final else ("day not closed" if not closed else f"{incomplete} incomplete")
    landing.save_day(name, ndjson(state.candles), len(state.candles), final, note)
    report.wrote(day, len(state.candles))
    progress.line(f"{day}: {len(state.candles)} candles, {note} -> {landing.uri(name)}")
