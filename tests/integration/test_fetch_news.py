"""fetch-news against local GDELT DOC 2.0 and RSS stand-ins: slicing, throttling, errors, bodies."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from fake_apis import GDELT_PATH, FakeGdelt, gdelt_article, threaded_server
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
    fake = FakeGdelt()
    httpserver.expect_request(GDELT_PATH).respond_with_handler(fake)
    fake.url = httpserver.url_for(GDELT_PATH)
    return fake


def fetch(fake, out, start=DAY, end=DAY, **kwargs):
    kwargs.setdefault("policy", FAST)
    kwargs.setdefault("min_interval_s", 0)
    return gdelt.fetch_gdelt(out, start=start, end=end, api_url=fake.url, **kwargs)


def test_full_slices_are_halved_until_everything_is_fetched(fake, tmp_path):
    # 1,000 articles: a burst of 600 (one every 2 s) in the US open hour, 400 spread out.
    burst = [MIDNIGHT + dt.timedelta(hours=14, seconds=2 * n) for n in range(600)]
    spread = [MIDNIGHT + dt.timedelta(seconds=216 * n) for n in range(400)]
    fake.articles = [gdelt_article(t, n) for n, t in enumerate(burst + spread)]

    report = fetch(fake, tmp_path)

    assert report.written == {"2024-01-02": 1000}
    assert sorted(day_articles(tmp_path), key=json.dumps) == sorted(held(fake), key=json.dumps)
    sizes = [len([a for a in fake.articles if _in(a, entry.args)]) for entry in fake.log]
    assert max(sizes) > 250 and len(fake.log) > 4  # the day was full, then split
    assert Landing(tmp_path).is_final("gdelt_2024-01-02.jsonl.gz")


def _in(article: dict, args: dict) -> bool:
    stamp = article["seendate"].replace("T", "")[:14]
    return args["startdatetime"] <= stamp <= args["enddatetime"]


def test_a_slice_full_at_the_smallest_width_is_reported_not_hidden(fake, tmp_path, capsys):
    moment = MIDNIGHT + dt.timedelta(hours=15)
    fake.articles = [gdelt_article(moment, n) for n in range(300)]

    fetch(fake, tmp_path)

    assert len(day_articles(tmp_path)) == 250
    line = "1 slice(s) still full at 60 s, may be truncated (first 15:00 UTC)"
    assert line in capsys.readouterr().out
    assert "may be truncated" in Landing(tmp_path).state("gdelt_2024-01-02.jsonl.gz").note


def test_empty_answer_is_a_valid_empty_day_and_duplicates_are_dropped(fake, tmp_path):
    first = gdelt_article(MIDNIGHT + dt.timedelta(hours=1), 1)
    again = first | {"seendate": (MIDNIGHT + dt.timedelta(hours=2)).strftime("%Y%m%dT%H%M%SZ")}
    fake.articles = [first, again]

    report = fetch(fake, tmp_path, end=DAY + dt.timedelta(days=1))

    assert report.written == {"2024-01-02": 1, "2024-01-03": 0}
    assert day_articles(tmp_path) == held(fake)[:1]
    assert day_articles(tmp_path, DAY + dt.timedelta(days=1)) == []


def test_html_error_pages_and_429_are_retried(fake, httpserver, tmp_path):
    fake.articles = [gdelt_article(MIDNIGHT + dt.timedelta(hours=3), 1)]
    page = "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"
    httpserver.expect_oneshot_request(GDELT_PATH).respond_with_data(page, content_type="text/html")
    throttled = "Please limit requests to one every 5 seconds or contact us for larger queries."
    httpserver.expect_oneshot_request(GDELT_PATH).respond_with_response(Response(throttled))
    httpserver.expect_oneshot_request(GDELT_PATH).respond_with_response(Response("", 429))

    report = fetch(fake, tmp_path)

    assert report.retries == 3 and report.failed == {}
    assert day_articles(tmp_path) == held(fake)


def test_requests_are_spaced_by_the_rate_limit(fake, tmp_path):
    fetch(fake, tmp_path, end=DAY + dt.timedelta(days=3), min_interval_s=0.3)

    arrivals = [entry.at for entry in fake.log]
    assert len(arrivals) == 4
    assert min(b - a for a, b in zip(arrivals, arrivals[1:], strict=False)) >= 0.3


def test_a_rerun_skips_final_days(fake, tmp_path):
    fetch(fake, tmp_path, end=DAY + dt.timedelta(days=2))
    report = fetch(fake, tmp_path, end=DAY + dt.timedelta(days=2))
    assert report.requests == 0 and len(report.skipped) == 3 and len(fake.log) == 3


def test_a_rejected_query_is_a_user_error(httpserver, tmp_path):
    httpserver.expect_request(GDELT_PATH).respond_with_data("The specified phrase is too short.")
    with pytest.raises(UserError, match="GDELT rejected the query"):
        gdelt.fetch_gdelt(
            tmp_path, start=DAY, end=DAY, api_url=httpserver.url_for(GDELT_PATH), min_interval_s=0
        )


def test_a_server_error_that_persists_fails_the_day_and_exit_1(httpserver, tmp_path, capsys):
    httpserver.expect_request(GDELT_PATH).respond_with_data("oops", status=503)
    argv = ["fetch-news", "--start", str(DAY), "--end", str(DAY), "--out", str(tmp_path)]
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
