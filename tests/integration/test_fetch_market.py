"""fetch-market against a local OANDA v20 stand-in: paging, retries, errors, resumability."""

from __future__ import annotations

import datetime as dt
import json
import time

import local_aws
import pytest
from fake_apis import OANDA_PATH, TOKEN, FakeOanda, minute_candles, threaded_server
from werkzeug import Request, Response

from src_clean import tables
from src_clean.acquisition.http import ApiError, RetryPolicy
from src_clean.acquisition.landing import ONE_DAY, Landing, day_start, utc_days
from src_clean.acquisition.oanda import MAX_CANDLES, day_file, fetch_market, plan_windows
from src_clean.cli import main as cli_main
from src_clean.errors import UserError
from src_clean.lake import Lake

FAST = RetryPolicy(attempts=3, deadline_s=30, initial_wait_s=0.01, max_wait_s=0.05)
MONDAY = dt.date(2024, 1, 1)
SUNDAY = dt.date(2024, 1, 7)


def weekday_candles(days: list[dt.date]) -> list[dict]:
    return [c for day in days if day.weekday() < 5 for c in minute_candles(day)]


def day_lines(out, day: dt.date) -> list[dict]:
    text = (out / day_file("SPX500_USD", "M1", day)).read_text()
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def oanda(httpserver):
    fake = FakeOanda(candles=weekday_candles(utc_days(MONDAY, SUNDAY)))
    httpserver.expect_request(OANDA_PATH).respond_with_handler(fake)
    fake.url = httpserver.url_for("/")
    return fake


def fetch(fake, out, start=MONDAY, end=SUNDAY, **kwargs):
    kwargs.setdefault("policy", FAST)
    return fetch_market(out, token=TOKEN, start=start, end=end, api_url=fake.url, **kwargs)


@pytest.mark.parametrize(("granularity", "days"), [("M1", 7), ("S5", 2), ("H1", 400), ("D", 3)])
def test_windows_stay_under_the_limit_and_cover_each_day_once(granularity, days):
    period = {"M1": 60, "S5": 5, "H1": 3600, "D": 86400}[granularity]
    wanted = utc_days(MONDAY, MONDAY + dt.timedelta(days=days - 1))
    windows = plan_windows(wanted, granularity)
    assert all((w.end - w.start).total_seconds() / period < MAX_CANDLES for w in windows)
    assert all(a.end == b.start for a, b in zip(windows, windows[1:], strict=False))
    assert windows[0].start == day_start(wanted[0])
    assert windows[-1].end == day_start(wanted[-1]) + ONE_DAY
    assert sorted({d for w in windows for d in w.days}) == wanted


def test_a_week_is_paged_into_requests_under_5000_candles(oanda, tmp_path):
    report = fetch(oanda, tmp_path)

    assert report.failed == {} and len(report.written) == 7
    assert len(oanda.log) == 3  # 3 + 3 + 1 days of M1 candles
    for day in utc_days(MONDAY, SUNDAY):
        assert day_lines(tmp_path, day) == weekday_candles([day])  # as the API sent them
    assert day_lines(tmp_path, dt.date(2024, 1, 6)) == []  # a day with no candles
    assert Landing(tmp_path).is_final(day_file("SPX500_USD", "M1", dt.date(2024, 1, 6)))


def test_a_rerun_fetches_nothing_new(oanda, tmp_path):
    fetch(oanda, tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}

    report = fetch(oanda, tmp_path)

    assert len(oanda.log) == 3 and report.requests == 0
    assert len(report.skipped) == 7 and report.written == {}
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before
    assert len(fetch(oanda, tmp_path, refetch=True).written) == 7  # --refetch replaces


def test_429_with_retry_after_is_waited_out_then_succeeds(oanda, httpserver, tmp_path):
    throttled = json.dumps({"errorMessage": "Requests per second exceeded"})
    arrivals = []

    def throttle(request):
        arrivals.append(time.monotonic())
        return Response(throttled, status=429, headers={"Retry-After": "1"})

    httpserver.expect_oneshot_request(OANDA_PATH).respond_with_handler(throttle)

    report = fetch(oanda, tmp_path, start=MONDAY, end=MONDAY)

    assert report.retries == 1 and report.written == {"2024-01-01": 1440}
    assert len(arrivals) == 1 and len(oanda.log) == 1
    assert oanda.log[0].at - arrivals[0] >= 1.0  # Retry-After honoured, measured server-side


def test_401_fails_at_once_with_the_api_message(oanda, tmp_path):
    with pytest.raises(ApiError, match="Insufficient authorization") as info:
        fetch_market(
            tmp_path, token="wrong", start=MONDAY, end=SUNDAY, api_url=oanda.url, policy=FAST
        )
    assert info.value.status == 401 and len(oanda.log) == 1
    assert not list(tmp_path.glob("*.ndjson"))


def test_truncated_json_fails_only_its_days_and_shows_the_body(oanda, httpserver, tmp_path):
    body = json.dumps({"instrument": "SPX500_USD", "candles": minute_candles(MONDAY)})
    httpserver.expect_oneshot_request(OANDA_PATH).respond_with_data(
        body[:5000], content_type="application/json"
    )

    report = fetch(oanda, tmp_path)

    failed = ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert sorted(report.failed) == failed and report.exit_code == 1
    assert "not valid JSON" in report.failed[failed[0]]
    assert '{"instrument": "SPX500_USD", "candles": [{"complete"' in report.failed[failed[0]]
    assert sorted(p.name[-17:-7] for p in tmp_path.glob("*.ndjson")) == [
        f"2024-01-0{n}" for n in range(4, 8)
    ]
    assert sorted(fetch(oanda, tmp_path).written) == failed  # the rerun resumes


def test_wrong_shape_fails_the_window(oanda, httpserver, tmp_path):
    bad = minute_candles(MONDAY, range(3))
    del bad[1]["mid"]
    httpserver.expect_oneshot_request(OANDA_PATH).respond_with_json({"candles": bad})

    report = fetch(oanda, tmp_path, start=MONDAY, end=MONDAY)

    assert "has no mid o/h/l/c" in report.failed["2024-01-01"]
    assert not list(tmp_path.glob("*.ndjson"))


def test_incomplete_last_candle_is_refetched_until_final(oanda, tmp_path):
    last = next(c for c in oanda.candles if c["time"].startswith("2024-01-05T23:59"))
    last["complete"] = False
    friday = dt.date(2024, 1, 5)
    name = day_file("SPX500_USD", "M1", friday)

    fetch(oanda, tmp_path)
    assert day_lines(tmp_path, friday)[-1]["complete"] is False
    assert not Landing(tmp_path).is_final(name)

    requests = len(oanda.log)
    last["complete"] = True
    report = fetch(oanda, tmp_path)
    assert list(report.written) == ["2024-01-05"] and len(oanda.log) == requests + 1
    assert day_lines(tmp_path, friday)[-1]["complete"] is True
    assert Landing(tmp_path).is_final(name)


def test_cli_without_token_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("OANDA_API_TOKEN", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_OANDA_DEFAULT", raising=False)
    argv = ["fetch-market", "--start", "2024-01-01", "--end", "2024-01-01", "--out", str(tmp_path)]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no OANDA API token") and err.count("\n") == 1


@pytest.mark.parametrize("via", ["env", "airflow_connection"])
def test_cli_token_never_printed(oanda, tmp_path, monkeypatch, capsys, via):
    monkeypatch.delenv("OANDA_API_TOKEN", raising=False)
    if via == "env":
        monkeypatch.setenv("OANDA_API_TOKEN", TOKEN)
    else:
        monkeypatch.setenv("AIRFLOW_CONN_OANDA_DEFAULT", json.dumps({"password": TOKEN}))
    argv = ["-v", "fetch-market", "--start", "2024-01-05", "--end", "2024-01-06"]
    argv += ["--out", str(tmp_path), "--api-url", oanda.url, "--no-progress"]

    assert cli_main(argv) == 0

    out = capsys.readouterr()
    assert "2 days written (1440 records)" in out.out
    assert TOKEN not in out.out + out.err
    assert day_lines(tmp_path, dt.date(2024, 1, 5)) == minute_candles(dt.date(2024, 1, 5))


def test_an_end_in_the_future_is_a_user_error(oanda, tmp_path):
    tomorrow = dt.datetime.now(dt.UTC).date() + ONE_DAY
    with pytest.raises(UserError, match="is in the future"):
        fetch(oanda, tmp_path, start=MONDAY, end=tomorrow)
    assert oanda.log == []


def test_an_s3_landing_folder_gets_the_same_files(oanda, monkeypatch):
    aws = local_aws.activate(monkeypatch)
    bucket = aws.new_bucket()
    out = f"s3://{bucket}/landing/market"

    fetch(oanda, out, start=MONDAY, end=dt.date(2024, 1, 2))
    again = fetch(oanda, out, start=MONDAY, end=dt.date(2024, 1, 2))

    keys = [o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(k for k in keys if k.endswith(".ndjson") and "/." not in k) == [
        "landing/market/SPX500_USD_M1_2024-01-01.ndjson",
        "landing/market/SPX500_USD_M1_2024-01-02.ndjson",
    ]
    body = Landing(out).read(day_file("SPX500_USD", "M1", MONDAY))
    assert [json.loads(line) for line in body.splitlines()] == minute_candles(MONDAY)
    assert again.requests == 0 and len(again.skipped) == 2


def test_a_400_fails_only_its_window_and_the_run_goes_on(oanda, httpserver, tmp_path, capsys):
    refused = {"errorMessage": "Maximum value for 'count' exceeded"}  # one window refused
    httpserver.expect_oneshot_request(OANDA_PATH).respond_with_json(refused, status=400)
    argv = ["fetch-market", "--start", str(MONDAY), "--end", str(SUNDAY)]
    argv += ["--out", str(tmp_path), "--api-url", oanda.url, "--no-progress"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OANDA_API_TOKEN", TOKEN)
        assert cli_main(argv) == 1
    out = capsys.readouterr().out
    failed = ["2024-01-01", "2024-01-02", "2024-01-03"]  # the first window's days
    report = json.loads(out.strip().splitlines()[-1])
    assert sorted(report["failed"]) == failed and "'count' exceeded" in out
    assert sorted(report["written"]) == [f"2024-01-0{n}" for n in range(4, 8)]
    assert sorted(fetch(oanda, tmp_path).written) == failed  # the rerun resumes


def test_to_is_clamped_to_the_servers_clock_when_the_local_one_runs_ahead(httpserver, tmp_path):
    """This machine's clock 10 minutes ahead of OANDA's: today's ``to`` would be "in the
    future" (400). The first answer's ``Date`` header sets OANDA's clock, the request is
    sent again, and every later ``to`` stays on the server's clock."""
    today = dt.datetime.now(dt.UTC).date()
    yesterday = today - ONE_DAY
    fake = FakeOanda(candles=minute_candles(yesterday) + minute_candles(today))
    fake.clock_offset_s = -600

    with threaded_server(fake, fake.clock_offset_s) as url:
        report = fetch_market(
            tmp_path, token=TOKEN, start=yesterday, end=today, api_url=url, policy=FAST
        )

    assert report.failed == {} and sorted(report.written) == [str(yesterday), str(today)]
    server_now = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=600)
    sent_to = [dt.datetime.fromisoformat(e.args["to"]) for e in fake.log]
    assert len(sent_to) == 2 and sent_to[-1] <= server_now  # refused once, then clamped
    landed = day_lines(tmp_path, yesterday) + day_lines(tmp_path, today)
    assert landed and landed == [
        c
        for c in minute_candles(yesterday) + minute_candles(today)
        if c["time"] < landed[-1]["time"]
    ] + [landed[-1]]


@pytest.mark.parametrize("price", ["M", "BA", "MBA", "B"])
def test_the_price_sides_asked_are_the_ones_landed_and_ingested(price, httpserver, tmp_path):
    friday = dt.date(2024, 1, 5)
    fake = FakeOanda(candles=minute_candles(friday, range(600, 660), price="MBA"))
    httpserver.expect_request(OANDA_PATH).respond_with_handler(fake)
    url = httpserver.url_for("/")

    fetch_market(
        tmp_path / "landing",
        token=TOKEN,
        start=friday,
        end=friday,
        api_url=url,
        price=price,
        policy=FAST,
    )

    text = (tmp_path / "landing" / day_file("SPX500_USD", "M1", friday)).read_text()
    landed = [json.loads(line) for line in text.splitlines()]
    sides = {"M": "mid", "B": "bid", "A": "ask"}
    assert {k for c in landed for k in c} == {"complete", "volume", "time"} | {
        sides[p] for p in price
    }
    assert fake.log[0].args["price"] == price
    lake = tmp_path / "lake"
    assert (
        cli_main(["bronze-market", "--input", str(tmp_path / "landing"), "--lake", str(lake)]) == 0
    )
    close = Lake(str(lake)).read(tables.BRONZE_CANDLES).sort_values("time")["close"].tolist()
    if "M" in price:
        expected = [float(c["mid"]["c"]) for c in landed]
    elif price == "BA":
        expected = [(float(c["bid"]["c"]) + float(c["ask"]["c"])) / 2 for c in landed]
    else:
        expected = []  # one side alone is no mid price: quarantined, never guessed
    assert close == pytest.approx(expected)


def test_an_answer_in_unix_time_is_refused_not_landed(httpserver, tmp_path):
    """The client asks for RFC 3339; a server (or proxy) that answers in UNIX seconds fails
    the window with the reason instead of landing times bronze would misread."""
    friday = dt.date(2024, 1, 5)
    fake = FakeOanda(candles=minute_candles(friday, range(600, 610)))

    def unix_always(request):
        environ = dict(request.environ, HTTP_ACCEPT_DATETIME_FORMAT="UNIX")
        return fake(Request(environ))

    httpserver.expect_request(OANDA_PATH).respond_with_handler(unix_always)
    report = fetch_market(
        tmp_path,
        token=TOKEN,
        start=friday,
        end=friday,
        api_url=httpserver.url_for("/"),
        policy=FAST,
    )
    assert "is not RFC 3339 UTC" in report.failed[str(friday)]
    assert not list(tmp_path.glob("*.ndjson"))
