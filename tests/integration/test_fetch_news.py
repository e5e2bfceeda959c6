"""fetch-news against local GDELT DOC 2.0 and RSS stand-ins: slicing, throttling, errors, bodies."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time

import pytest
from fake_apis import GDELT_PATH, GDELT_THROTTLE, FakeGdelt, gdelt_article, threaded_server
from werkzeug import Response

from src_clean.acquisition import gdelt, rss
from src_clean.acquisition.bodies import BodyFetcher, BodyLimits
from src_clean.acquisition.http import RetryPolicy
from src_clean.acquisition.landing import Landing, read_jsonl_gz
from src_clean.cli import main as cli_main
from src_clean.errors import UserError

FAST = RetryPolicy(attempts=4, deadline_s=30, initial_wait_s=0.01, max_wait_s=0.05)
DAY = dt.date(2024, 1, 2)
MIDNIGHT = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
NOW = MIDNIGHT + dt.timedelta(days=14)  # the clock of the client and the server


def day_articles(out, day=DAY, prefix="gdelt") -> list[dict]:
    return read_jsonl_gz((out / f"{prefix}_{day}.jsonl.gz").read_bytes())


def held(fake: FakeGdelt, day=DAY) -> list[dict]:
    """What the server holds for ``day``, in the landing file's fields."""
    stamp = day.strftime("%Y%m%d")
    return [
        {k: a[k] for k in gdelt.FIELDS} for a in fake.articles if a["seendate"].startswith(stamp)
    ]


@pytest.fixture
def fake(httpserver):
    fake = FakeGdelt(now=NOW)
    httpserver.expect_request(GDELT_PATH).respond_with_handler(fake)
    fake.url = httpserver.url_for(GDELT_PATH)
    return fake


def fetch(fake, out, start=DAY, end=DAY, **kwargs):
    kwargs.setdefault("policy", FAST)
    kwargs.setdefault("min_interval_s", 0)
    kwargs.setdefault("now", NOW)
    return gdelt.fetch_gdelt(out, start=start, end=end, api_url=fake.url, **kwargs)


def stamp_of(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)


def slices(fake: FakeGdelt, mode: str = "ArtList") -> list[tuple[dt.datetime, dt.datetime]]:
    """``[start, end)`` of each request of ``mode`` the server answered."""
    return [
        (stamp_of(e.args["startdatetime"]), stamp_of(e.args["enddatetime"]) + ONE_SECOND)
        for e in fake.log
        if e.args["mode"] == mode
    ]


ONE_SECOND = dt.timedelta(seconds=1)


def on_batch_boundaries(spans: list[tuple[dt.datetime, dt.datetime]]) -> bool:
    return all(t.minute % 15 == 0 and t.second == 0 for span in spans for t in span)


def test_full_slices_are_split_at_batch_boundaries_until_everything_is_fetched(fake, tmp_path):
    # 1,000 articles: 600 in the US open hour (150 a batch), 400 spread over the day.
    burst = [MIDNIGHT + dt.timedelta(hours=14, seconds=6 * n) for n in range(600)]
    spread = [MIDNIGHT + dt.timedelta(seconds=216 * n) for n in range(400)]
    fake.articles = [gdelt_article(t, n) for n, t in enumerate(burst + spread)]

    report = fetch(fake, tmp_path)

    assert report.written == {"2024-01-02": 1000} and report.counts == {}
    assert sorted(day_articles(tmp_path), key=json.dumps) == sorted(held(fake), key=json.dumps)
    asked = slices(fake)
    assert len(asked) > 4 and on_batch_boundaries(asked)  # the day was full, then split
    assert Landing(tmp_path).is_final("gdelt_2024-01-02.jsonl.gz")


def test_a_full_batch_is_reported_truncated_with_its_true_size(fake, tmp_path, capsys):
    """One 15-minute batch of 300: no split below a batch can help, so the client stops
    there (the old 1-minute floor spent ~23 requests) and asks the batch's real size."""
    moment = MIDNIGHT + dt.timedelta(hours=15)
    fake.articles = [gdelt_article(moment, n) for n in range(300)]

    report = fetch(fake, tmp_path)

    assert len(day_articles(tmp_path)) == 250
    asked = slices(fake)
    assert on_batch_boundaries(asked) and len(asked) <= 2 * 7 + 1  # 96 batches: depth 7
    assert (moment, moment + dt.timedelta(minutes=15)) in asked
    assert slices(fake, "TimelineVolRaw") == [(moment, moment + dt.timedelta(minutes=15))]
    line = "1 15-minute batch(es) truncated at 250: 15:00 (250 of 300)"
    assert line in capsys.readouterr().out
    assert line in Landing(tmp_path).state("gdelt_2024-01-02.jsonl.gz").note
    assert report.counts == {"15-minute batches truncated": 1}


def test_an_empty_old_day_is_kept_but_never_final(fake, tmp_path):
    first = gdelt_article(MIDNIGHT + dt.timedelta(hours=1), 1)
    again = first | {"seendate": (MIDNIGHT + dt.timedelta(hours=2)).strftime("%Y%m%dT%H%M%SZ")}
    fake.articles = [first, again]
    next_day = DAY + dt.timedelta(days=1)

    report = fetch(fake, tmp_path, end=next_day)

    assert report.written == {"2024-01-02": 1, "2024-01-03": 0}
    assert day_articles(tmp_path) == held(fake)[:1]  # the URL's second sighting dropped
    assert day_articles(tmp_path, next_day) == []
    landing = Landing(tmp_path)
    assert landing.is_final(gdelt.day_file(DAY)) and not landing.is_final(gdelt.day_file(next_day))
    assert "no articles for a day this old" in landing.state(gdelt.day_file(next_day)).note
    assert report.counts == {"empty days not final": 1}

    fake.log.clear()
    later = fetch(fake, tmp_path, end=next_day)  # a rerun asks for the empty day again
    assert later.skipped == ["2024-01-02"] and list(later.written) == ["2024-01-03"]
    assert {e.args["startdatetime"][:8] for e in fake.log} == {"20240103"}


def test_an_empty_day_just_closed_is_final(fake, tmp_path):
    report = fetch(fake, tmp_path, now=MIDNIGHT + dt.timedelta(days=1, hours=2))
    assert report.counts == {} and Landing(tmp_path).is_final(gdelt.day_file(DAY))


def test_days_older_than_the_doc_window_are_refused_with_a_pointer_to_gkg(fake, tmp_path):
    with pytest.raises(UserError) as refused:
        fetch(fake, tmp_path, start=DAY - dt.timedelta(days=80), now=NOW)
    assert "only searches about the last 3 months (from 2023-10-18)" in str(refused.value)
    assert "2023-10-14..2023-10-17 is older" in str(refused.value)
    assert "--source gdelt-gkg" in refused.value.fix
    assert fake.log == []  # refused before any request


def test_throttle_pages_blank_bodies_gateway_pages_and_429_are_retried(fake, tmp_path):
    fake.articles = [gdelt_article(MIDNIGHT + dt.timedelta(hours=3), 1)]
    gateway = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    fake.answers = [
        Response(gateway, content_type="text/html"),
        Response(GDELT_THROTTLE, content_type="text/plain"),
        Response("", 429),
        Response("", content_type="application/json"),  # a blank 200
        Response(" \n", content_type="text/html"),
    ]

    report = fetch(fake, tmp_path, policy=dataclasses.replace(FAST, attempts=6))

    assert report.retries == 5 and report.failed == {}
    assert day_articles(tmp_path) == held(fake)


def test_a_query_gdelt_rejects_is_a_user_error_naming_query_asked_once(fake, tmp_path):
    """GDELT refuses with 200 text/html and a plain message: retrying cannot help."""
    with pytest.raises(UserError) as rejected:
        fetch(fake, tmp_path, query='"S&P 500" OR stocks sourcelang:english')
    assert "Queries containing OR'd terms must be surrounded by ()" in str(rejected.value)
    assert "--query" in rejected.value.fix
    assert len(fake.log) == 1


def test_invalid_backslash_escapes_are_repaired_and_counted(fake, tmp_path, capsys):
    fake.articles = [gdelt_article(MIDNIGHT + dt.timedelta(hours=n), n) for n in range(4)]
    fake.articles[1]["title"] = "Investors' mood: S&P 500 hits a record"
    fake.articles[3]["title"] = "Fed's Powell: 'no rush' to cut"
    fake.escape_apostrophes = True

    report = fetch(fake, tmp_path)

    assert day_articles(tmp_path) == held(fake)  # the titles exactly as GDELT meant them
    assert report.counts == {"invalid JSON escapes repaired": 4}
    assert "4 invalid JSON escapes repaired" in capsys.readouterr().out


def test_requests_are_spaced_so_gdelt_never_throttles(fake, tmp_path):
    fake.min_interval_s = 0.3  # the server throttles anything faster

    report = fetch(fake, tmp_path, end=DAY + dt.timedelta(days=3), min_interval_s=0.3)

    arrivals = [entry.at for entry in fake.log]
    assert len(arrivals) == 4 and report.retries == 0
    assert min(b - a for a, b in zip(arrivals, arrivals[1:], strict=False)) >= 0.3


def test_a_rerun_skips_final_days(fake, tmp_path):
    fake.articles = [gdelt_article(MIDNIGHT + dt.timedelta(days=n), n) for n in range(3)]
    fetch(fake, tmp_path, end=DAY + dt.timedelta(days=2))
    report = fetch(fake, tmp_path, end=DAY + dt.timedelta(days=2))
    assert report.requests == 0 and len(report.skipped) == 3 and len(fake.log) == 3


def test_a_server_error_that_persists_fails_the_day_and_exit_1(httpserver, tmp_path, capsys):
    httpserver.expect_request(GDELT_PATH).respond_with_data("oops", status=503)
    day = str(dt.datetime.now(dt.UTC).date() - dt.timedelta(days=5))
    argv = ["fetch-news", "--start", day, "--end", day, "--out", str(tmp_path)]
    argv += ["--api-url", httpserver.url_for(GDELT_PATH), "--min-interval", "0"]
    argv += ["--max-attempts", "2", "--retry-wait", "0.01", "--no-progress"]
    assert cli_main(argv) == 1
    assert "gave up after 2 attempts: HTTP 503" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.gz"))


# -- RSS --------------------------------------------------------------------------------

FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>Markets</title>
<language>en-us</language>{items}</channel></rss>"""
ITEM = """<item><title>{title}</title><link>https://markets.example.com/{n}</link>
<description>&lt;p&gt;Stocks &lt;b&gt;rose&lt;/b&gt;&lt;/p&gt;</description>
<pubDate>{date}</pubDate></item>"""


def feed_xml(items: list[tuple[int, str]]) -> str:
    body = "".join(ITEM.format(n=n, title=f"Story {n}", date=d) for n, d in items)
    return FEED.format(items=body + "<item><title>undated</title></item>")


def test_rss_entries_are_filed_by_day_and_merged_on_rerun(httpserver, tmp_path):
    first = [(1, "Tue, 02 Jan 2024 14:30:00 -0500"), (2, "Wed, 03 Jan 2024 09:00:00 GMT")]
    httpserver.expect_oneshot_request("/feed.xml").respond_with_data(feed_xml(first))
    later = [(2, "Wed, 03 Jan 2024 09:00:00 GMT"), (3, "Wed, 03 Jan 2024 10:00:00 GMT")]
    httpserver.expect_oneshot_request("/feed.xml").respond_with_data(feed_xml(later))
    feeds = [httpserver.url_for("/feed.xml")]

    rss.fetch_rss(tmp_path, feeds=feeds, start=DAY, end=DAY + dt.timedelta(days=1))
    report = rss.fetch_rss(tmp_path, feeds=feeds, start=DAY, end=DAY + dt.timedelta(days=1))

    assert day_articles(tmp_path, DAY, "rss") == [
        {
            "title": "Story 1",
            "url": "https://markets.example.com/1",
            "published": "2024-01-02T19:30:00Z",
            "domain": "markets.example.com",
            "language": "en",
            "summary": "Stocks rose",
            "feed": feeds[0],
        }
    ]
    next_day = day_articles(tmp_path, DAY + dt.timedelta(days=1), "rss")
    assert [a["url"][-1] for a in next_day] == ["2", "3"]  # the old entry kept, the new added
    assert report.written == {"2024-01-03": 2}


def test_a_failing_feed_is_reported_and_the_others_go_on(httpserver, tmp_path, capsys):
    good = [(1, "Tue, 02 Jan 2024 14:30:00 GMT")]
    httpserver.expect_request("/good.xml").respond_with_data(feed_xml(good))
    httpserver.expect_request("/gone.xml").respond_with_data("not here", status=404)
    httpserver.expect_request("/html").respond_with_data("<html><body>hi</body></html>")
    feeds = tmp_path / "feeds.txt"
    urls = [httpserver.url_for(p) for p in ("/gone.xml", "/html", "/good.xml")]
    feeds.write_text("# markets\n" + "\n".join(urls) + "\n\n")
    argv = ["fetch-news", "--source", "rss", "--feeds", str(feeds), "--start", str(DAY)]
    argv += ["--end", str(DAY), "--out", str(tmp_path / "news"), "--no-progress"]

    assert cli_main(argv) == 1

    out = capsys.readouterr().out
    assert "HTTP 404" in out and "not an RSS/Atom feed" in out
    assert [a["title"] for a in day_articles(tmp_path / "news", DAY, "rss")] == ["Story 1"]


# -- bodies -----------------------------------------------------------------------------

ARTICLE_HTML = (
    "<html><head><title>t</title></head><body><nav>menu</nav><article><h1>Stocks rally</h1>"
    + "<p>The S&amp;P 500 rose sharply on Tuesday as investors cheered cooling inflation "
    "data and a dovish tone from the Federal Reserve, lifting technology shares. </p>"
    * 4
    + "</article><footer>footer</footer></body></html>"
)


def test_bodies_obey_robots_size_cap_and_per_site_spacing(httpserver):
    robots = "User-agent: *\nDisallow: /private/\n"
    httpserver.expect_request("/robots.txt").respond_with_data(robots)
    arrivals = []

    def page(request):
        arrivals.append(time.monotonic())
        return Response(ARTICLE_HTML, content_type="text/html")

    httpserver.expect_request("/news/a").respond_with_handler(page)
    httpserver.expect_request("/news/b").respond_with_handler(page)
    httpserver.expect_request("/big").respond_with_data("x" * 5000, content_type="text/html")
    paths = ("/news/a", "/private/x", "/big", "/news/b")
    articles = [{"url": httpserver.url_for(p)} for p in paths]
    fetcher = BodyFetcher(BodyLimits(max_bytes=4000, timeout_s=1.5, min_interval_s=0.3))

    def slow(request):
        if request.path == "/robots.txt":
            return Response("", 404)  # no rules: allowed
        time.sleep(3.5)
        return Response(ARTICLE_HTML, content_type="text/html")

    with threaded_server(slow) as other_site:
        articles.append({"url": f"{other_site}/slow"})
        summary = fetcher.add_bodies(articles)

    assert summary == "bodies: 2 ok, 1 robots_disallowed, 1 timeout, 1 too_large"
    assert "Federal Reserve" in articles[0]["body"] and "menu" not in articles[0]["body"]
    assert "body" not in articles[1] and "body" not in articles[2]
    assert not any(entry[0].path.startswith("/private") for entry in httpserver.log)
    assert arrivals[1] - arrivals[0] >= 0.6  # /big came between them, each spaced 0.3 s


def test_every_redirect_hop_obeys_the_robots_and_spacing_of_its_own_site(httpserver):
    """A page on one site that redirects to another: the second site's robots.txt decides
    (requests alone would follow the redirect without asking it), and so does its spacing."""
    seen = []

    def other(request):
        seen.append((request.path, time.monotonic()))
        if request.path == "/robots.txt":
            return Response("User-agent: *\nDisallow: /private/\n")
        return Response(ARTICLE_HTML, content_type="text/html")

    with threaded_server(other) as site_b:
        httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
        for path, target in (("/to-private", "/private/x"), ("/to-open", "/news/c")):
            httpserver.expect_request(path).respond_with_response(
                Response("", 302, headers={"Location": f"{site_b}{target}"})
            )
        loop = Response("", 301, headers={"Location": "/loop"})
        httpserver.expect_request("/loop").respond_with_response(loop)
        articles = [{"url": httpserver.url_for(p)} for p in ("/to-private", "/to-open", "/loop")]
        articles.append({"url": f"{site_b}/news/d"})
        fetcher = BodyFetcher(BodyLimits(min_interval_s=0.3))
        summary = fetcher.add_bodies(articles)

    assert summary == "bodies: 2 ok, 1 robots_disallowed, 1 too_many_redirects"
    assert "Federal Reserve" in articles[1]["body"] and "body" not in articles[0]
    assert [path for path, _ in seen] == ["/robots.txt", "/news/c", "/news/d"]  # no /private
    times = [at for _, at in seen]
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.3
