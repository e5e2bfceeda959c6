"""fetch-news --source gdelt-gkg against a local GDELT file server: a master list and zipped
GKG 2.1 files built here in the real format, with a missing batch, a repeated URL, rows
the filter drops, a non-web row, a malformed row, MD5 mismatches and a corrupt zip."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import re
from pathlib import Path

import pytest
from fake_apis import FakeGkg, gkg_row, gkg_zip

from src_clean.acquisition import gkg
from src_clean.acquisition.http import RetryPolicy
from src_clean.acquisition.landing import Landing, read_jsonl_gz
from src_clean.cli import main as cli_main
from src_clean.memory import peak_rss_mb, reset_peak_rss, rss_mb

FAST = RetryPolicy(attempts=3, deadline_s=30, initial_wait_s=0.01, max_wait_s=0.02)
DAY = dt.date(2024, 1, 2)
MISSING = dt.datetime(2024, 1, 2, 5, 0, tzinfo=dt.UTC)  # a batch GDELT never published
DUPLICATE_URL = "https://wire.example.com/markets/fed-holds.html"


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_day(fake: FakeGkg, day: dt.date = DAY) -> list[dict]:
    """Serve ``day``'s batches; the articles a correct fetch must land, in order."""
    expected, n = [], day.toordinal() * 1000
    for k in range(96):
        batch = dt.datetime.combine(day, dt.time(), dt.UTC) + dt.timedelta(minutes=15 * k)
        if batch == MISSING:
            continue
        rows = []
        for _ in range(3):  # kept, each with its own URL
            n += 1
            rows.append(gkg_row(batch, n, kept=True))
            expected.append(
                {
                    "url": f"https://news{n % 5}.example.com/markets/{n}.html",
                    "title": f"Stocks & bonds move on story {n}",
                    "domain": f"news{n % 5}.example.com",
                    "published_at": _iso(batch - dt.timedelta(minutes=7)),
                    "available_at": _iso(batch),
                    "gdelt_tone": -1.5 + n % 4,
                    "gkg_record_id": f"{batch:%Y%m%d%H%M%S}-{n}",
                    "language": "en",
                }
            )
        n += 1
        rows.append(gkg_row(batch, n, kept=False))  # another subject: filtered out
        n += 1
        rows.append(gkg_row(batch, n, kept=True, web=False))  # not a web article
        rows.append("truncated\trow")  # malformed
        if k < 2:  # the same story in two batches: its first sighting is kept
            n += 1
            rows.append(gkg_row(batch, n, kept=True, url=DUPLICATE_URL, precise=""))
            if k == 0:
                expected.append(
                    {
                        "url": DUPLICATE_URL,
                        "title": f"Stocks & bonds move on story {n}",
                        "domain": f"news{n % 5}.example.com",
                        "published_at": _iso(batch),  # no precise time: the batch's
                        "available_at": _iso(batch),
                        "gdelt_tone": -1.5 + n % 4,
                        "gkg_record_id": f"{batch:%Y%m%d%H%M%S}-{n}",
                        "language": "en",
                    }
                )
        fake.add(batch, rows)
    return expected


@pytest.fixture
def fake(httpserver):
    fake = FakeGkg(base=httpserver.url_for("").rstrip("/"))
    httpserver.expect_request(re.compile(r"/gdeltv2/.*")).respond_with_handler(fake)
    return fake


def fetch(fake: FakeGkg, out, start=DAY, end=DAY, **options):
    return gkg.fetch_gkg(
        out,
        start=start,
        end=end,
        master_url=f"{fake.base}/gdeltv2/masterfilelist.txt",
        policy=FAST,
        **options,
    )


def test_a_day_is_fetched_filtered_and_deduplicated_exactly(fake, tmp_path):
    expected = build_day(fake)
    report = fetch(fake, tmp_path)
    assert report.exit_code == 0 and report.written == {str(DAY): len(expected)}
    got = read_jsonl_gz((tmp_path / gkg.day_file(DAY)).read_bytes())
    assert sorted(got, key=lambda a: a["url"]) == sorted(expected, key=lambda a: a["url"])
    assert [a["url"] for a in got].count(DUPLICATE_URL) == 1
    note = Landing(tmp_path).state(gkg.day_file(DAY)).note
    assert "95 GKG files" in note and "1 batches not published by GDELT" in note
    assert "not web 95, malformed 95" in note and "1 repeated URLs" in note
    assert Landing(tmp_path).state(gkg.day_file(DAY)).final  # fetched long after the day


def test_a_rerun_fetches_nothing(fake, tmp_path):
    build_day(fake)
    fetch(fake, tmp_path)
    before = (tmp_path / gkg.day_file(DAY)).read_bytes()
    fake.log.clear()
    report = fetch(fake, tmp_path)
    assert fake.log == [] and report.skipped == [str(DAY)] and report.requests == 0
    assert (tmp_path / gkg.day_file(DAY)).read_bytes() == before


def test_an_md5_mismatch_is_retried(fake, tmp_path):
    expected = build_day(fake)
    batch = dt.datetime(2024, 1, 2, 10, 15, tzinfo=dt.UTC)
    fake.bad_answers[batch] = 2  # cut short twice, then whole
    report = fetch(fake, tmp_path)
    assert report.exit_code == 0 and report.retries == 2
    assert report.written == {str(DAY): len(expected)}


def test_a_file_that_never_matches_fails_the_day_and_writes_nothing(fake, tmp_path, capsys):
    build_day(fake)
    batch = dt.datetime(2024, 1, 2, 13, 30, tzinfo=dt.UTC)
    fake.bad_answers[batch] = 99
    argv = ["fetch-news", "--source", "gdelt-gkg", "--start", str(DAY), "--end", str(DAY)]
    argv += ["--out", str(tmp_path), "--no-progress", "--max-attempts", "3"]
    argv += ["--retry-wait", "0.01", "--max-retry-wait", "0.02"]
    argv += ["--master-url", f"{fake.base}/gdeltv2/masterfilelist.txt"]
    assert cli_main(argv) == 1
    out = capsys.readouterr().out
    assert "20240102133000.gkg.csv.zip" in out and "MD5" in out and "nothing written" in out
    assert not (tmp_path / gkg.day_file(DAY)).exists()
    fake.bad_answers.clear()  # the rerun gets it
    assert cli_main(argv) == 0
    assert (tmp_path / gkg.day_file(DAY)).exists()


def test_a_corrupt_zip_with_a_matching_md5_is_reported(fake, tmp_path):
    build_day(fake)
    batch = dt.datetime(2024, 1, 2, 20, 0, tzinfo=dt.UTC)
    fake.files[batch] = fake.listed[batch] = b"PK\x03\x04 not really a zip"
    report = fetch(fake, tmp_path)
    assert report.exit_code == 1
    assert "not a readable GKG zip" in report.failed[str(DAY)]
    assert not (tmp_path / gkg.day_file(DAY)).exists()


def test_days_before_gdelt_2_are_refused(fake, tmp_path):
    from src_clean.errors import UserError

    with pytest.raises(UserError, match="2015-02-18"):
        fetch(fake, tmp_path, start=dt.date(2015, 1, 1), end=dt.date(2015, 1, 2))


def test_the_master_list_is_read_as_gdelt_writes_it() -> None:
    from src_clean.acquisition.gkg_format import parse_master_list

    data = b"zip"
    digest = hashlib.md5(data).hexdigest()
    lines = [
        f"3 {digest} http://data.gdeltproject.org/gdeltv2/20240102001500.export.CSV.zip",
        f"3 {digest} http://data.gdeltproject.org/gdeltv2/20240102001500.gkg.csv.zip",
        "",
        "not a line",
    ]
    [entry] = parse_master_list(lines)
    assert entry.batch == dt.datetime(2024, 1, 2, 0, 15, tzinfo=dt.UTC)
    assert (entry.size, entry.md5) == (3, digest)


def test_malformed_master_list_lines_are_skipped_and_never_cached(fake, tmp_path, caplog):
    """A bad time stamp, a non-digit size or a file:// URL in the master list broke every
    later run: the lines were cached before they were parsed, so even a fixed server and
    --refetch kept failing. Now each is skipped and counted, the day is fetched, and the
    cache holds only lines that parse."""
    from src_clean.acquisition import gkg

    expected = build_day(fake)
    digest = "0" * 32
    fake.extra_lines = [
        f"10 {digest} {fake.base}/gdeltv2/20240102999999.gkg.csv.zip",  # no such time
        f"1x {digest} {fake.base}/gdeltv2/20240102001500.gkg.csv.zip",  # size not a number
        f"10 {digest} file:///etc/20240102001500.gkg.csv.zip",  # not http(s)
        f"10 {digest} http://evil.example/gdeltv2/20240102001500.gkg.csv.zip",  # not GDELT's
        f"10 nothex {fake.base}/gdeltv2/20240102001500.gkg.csv.zip",
    ]
    with caplog.at_level("WARNING"):
        report = fetch(fake, tmp_path)
    assert report.exit_code == 0 and report.written == {str(DAY): len(expected)}
    assert any("5 malformed GKG lines skipped" in r.getMessage() for r in caplog.records)
    cache = Landing(tmp_path).read(gkg.master_cache_name(f"{fake.base}/gdeltv2/masterfilelist.txt"))
    cached = gzip.decompress(cache).decode()
    assert "999999" not in cached and "file://" not in cached and "evil" not in cached
    assert "1x " not in cached and "nothex" not in cached
    assert all(line.count(" ") == 2 for line in cached.splitlines())


def test_a_fetched_day_goes_through_bronze_unchanged(fake, tmp_path):
    from src_clean.data_pipelines.bronze.news import ingest_news
    from src_clean.lake import Lake
    from src_clean.tables import BRONZE_NEWS

    expected = build_day(fake)
    fetch(fake, tmp_path / "landing")
    lake = Lake(tmp_path / "lake")
    report = ingest_news(tmp_path / "landing", lake)
    assert (report.read, report.written, report.quarantined) == (len(expected),) * 2 + (0,)
    rows = lake.read(BRONZE_NEWS).set_index("url").sort_index()
    want = {a["url"]: a for a in expected}
    assert list(rows.index) == sorted(want)
    for url, row in rows.iterrows():
        assert row["available_at"].strftime("%Y-%m-%dT%H:%M:%SZ") == want[url]["available_at"]
        assert row["published_at"].strftime("%Y-%m-%dT%H:%M:%SZ") == want[url]["published_at"]
        assert row["headline"] == want[url]["title"] and row["available_from"] == "available_at"
        assert row["gdelt_tone"] == want[url]["gdelt_tone"]  # GDELT's tone, kept as a column


def test_a_killed_backfill_resumes_to_what_an_uninterrupted_one_writes(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from fake_apis import threaded_server

    days = [DAY, DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2)]
    fake = FakeGkg()
    with threaded_server(fake) as base:
        fake.base = base
        for day in days:
            build_day(fake, day)

        def argv(out) -> list[str]:
            return [
                sys.executable, "-m", "src_clean", "fetch-news", "--source", "gdelt-gkg",
                "--start", str(days[0]), "--end", str(days[-1]), "--out", str(out),
                "--no-progress", "--workers", "2",
                "--master-url", f"{base}/gdeltv2/masterfilelist.txt",
            ]  # fmt: skip

        env = os.environ | {"PYTHONPATH": str(Path(__file__).parents[2])}
        whole = subprocess.run(argv(tmp_path / "whole"), env=env, capture_output=True)
        assert whole.returncode == 0, whole.stderr[-2000:]

        fake.delay_s = 0.02  # about a second per day: kill it inside the second
        killed = tmp_path / "killed"
        proc = subprocess.Popen(argv(killed), env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        done = killed / ".fetch-state" / f"{gkg.day_file(days[0])}.json"  # written last
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert not (killed / gkg.day_file(days[-1])).exists()  # killed before the end
        fake.delay_s = 0.0
        resumed = subprocess.run(argv(killed), env=env, capture_output=True, text=True)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert '"skipped": ["2024-01-02"]' in resumed.stdout  # day 1 was done: not redone
    for day in days:
        name = gkg.day_file(day)
        assert (killed / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()


def test_the_master_list_is_downloaded_once_across_per_day_runs(fake, tmp_path, capsys):
    """A DAG backfill fetches one day per run: the 130 MB master list is not downloaded per
    run but cached, while it reaches past the day asked; a day beyond it, or a damaged
    cache, downloads it again."""
    days = [DAY + dt.timedelta(days=k) for k in range(3)]
    expected = {day: build_day(fake, day) for day in days[:2]}
    fake.add(dt.datetime.combine(days[2], dt.time(0, 15), dt.UTC), [gkg_row(DAY, 1, kept=True)])

    def master_downloads() -> int:
        return sum(path.endswith("masterfilelist.txt") for path in fake.log)

    for day in days[:2]:
        assert fetch(fake, tmp_path, day, day).written == {str(day): len(expected[day])}
    assert master_downloads() == 1
    out = capsys.readouterr().out
    assert "master list downloaded (" in out and "master list cached (" in out

    # the cache lists nothing after the third day's 00:15 batch: a later day refreshes it
    late = days[2] + dt.timedelta(days=1)
    fetch(fake, tmp_path, late, late)
    assert master_downloads() == 2
    Landing(tmp_path).write(
        gkg.master_cache_name(f"{fake.base}/gdeltv2/masterfilelist.txt"), b"\x1f\x8bcut"
    )
    fetch(fake, tmp_path, days[0], days[0], refetch=True)
    assert master_downloads() == 3
    assert read_jsonl_gz((tmp_path / gkg.day_file(days[0])).read_bytes()) == expected[days[0]]


def test_a_damaged_day_state_is_fetched_again_not_a_traceback(fake, tmp_path, caplog):
    """A truncated .fetch-state/<day>.json raised JSONDecodeError on every run."""
    expected = build_day(fake)
    fetch(fake, tmp_path)
    state = tmp_path / ".fetch-state" / f"{gkg.day_file(DAY)}.json"
    state.write_text(state.read_text()[:10])
    with caplog.at_level("WARNING"):
        report = fetch(fake, tmp_path)
    assert report.exit_code == 0 and report.written == {str(DAY): len(expected)}
    assert any("is damaged" in r.getMessage() for r in caplog.records)
    assert Landing(tmp_path).state(gkg.day_file(DAY)).final  # rewritten whole


def test_a_missing_file_fails_its_own_day_and_the_next_day_is_fetched(fake, tmp_path):
    """A 404 on one file of day 1 exited 2 ('refused the request') and day 2, whose files
    were all there, was never fetched. Now day 1 fails alone, day 2 lands, exit 1, and a
    rerun fetches only day 1."""
    second = DAY + dt.timedelta(days=1)
    build_day(fake, DAY)
    expected = build_day(fake, second)
    gone = min(b for b in fake.files if b.date() == DAY)
    del fake.files[gone]  # still listed: the server answers 404
    report = fetch(fake, tmp_path, start=DAY, end=second)
    assert report.exit_code == 1
    assert report.written == {str(second): len(expected)}
    assert str(DAY) in report.failed and "404" in report.failed[str(DAY)]
    assert not (tmp_path / gkg.day_file(DAY)).exists()
    fake.log.clear()
    fake.files[gone] = fake.listed[gone]
    again = fetch(fake, tmp_path, start=DAY, end=second)
    assert again.exit_code == 0 and set(again.written) == {str(DAY)}
    assert not any(f"/{second:%Y%m%d}" in path for path in fake.log)


def test_values_bronze_would_quarantine_are_cleaned_at_the_edge_and_counted() -> None:
    """A tone of nan or 1e999 landed as bare NaN/Infinity and a publication time of
    00010101000000 as "1-01-01T00:00:00Z": bronze then quarantined those articles. Now the
    tone is null, the time is the batch's, each is counted, and no article is lost."""
    import json as json_module
    import math

    from src_clean.acquisition.gkg_format import GkgFilter, RowCounts, parse_rows

    batch = dt.datetime(2024, 1, 2, 0, 15, tzinfo=dt.UTC)
    rows = []
    for n, tone in enumerate(["nan", "1e999", "-inf", "250", "3.5"]):
        cells = gkg_row(batch, n, kept=True).split("\t")
        cells[15] = f"{tone},2.1,3.6"
        rows.append("\t".join(cells))
    rows.append(gkg_row(batch, 10, kept=True, precise="00010101000000"))
    rows.append(gkg_row(batch, 11, kept=True, precise="19890101000000"))
    counts = RowCounts()
    got = list(parse_rows(rows, batch, GkgFilter(), counts))
    assert len(got) == 7 and counts.kept == 7  # none lost
    assert [a["gdelt_tone"] for a in got[:5]] == [None, None, None, None, 3.5]
    assert counts.tone_nulled == 4 and counts.time_from_batch == 2
    assert got[5]["published_at"] == got[6]["published_at"] == "2024-01-02T00:15:00Z"
    text = json_module.dumps(got)
    assert "NaN" not in text and "Infinity" not in text
    assert all(a["gdelt_tone"] is None or math.isfinite(a["gdelt_tone"]) for a in got)


# -- bounded whatever the server sends ------------------------------------------------


def _one_file_day(fake, data: bytes, listed: bytes | None = None) -> dt.datetime:
    batch = dt.datetime.combine(DAY, dt.time(0, 15), dt.UTC)
    fake.files[batch] = data
    fake.listed[batch] = data if listed is None else listed
    return batch


def _bomb(batch: dt.datetime, megabytes: int) -> bytes:
    import zipfile as zf

    buffer = io.BytesIO()
    name = f"{batch:%Y%m%d%H%M%S}.gkg.csv"
    with zf.ZipFile(buffer, "w", zf.ZIP_DEFLATED) as archive, archive.open(name, "w") as member:
        block = b"\0" * (1 << 20)  # no newline anywhere
        for _ in range(megabytes):
            member.write(block)
    return buffer.getvalue()


def test_a_zip_bomb_with_no_newline_fails_its_day_in_bounded_memory(fake, tmp_path):
    """A 2 MB zip whose member unzips to gigabytes with no newline: MemoryError at 2.37 GB
    RSS before. Now the member is capped unzipped and a line is read in 1 MB pieces."""

    batch = dt.datetime.combine(DAY, dt.time(0, 15), dt.UTC)
    _one_file_day(fake, _bomb(batch, 300))
    reset_peak_rss()
    before = rss_mb()
    report = fetch(fake, tmp_path)
    grown_mb = peak_rss_mb() - before
    assert report.exit_code == 1 and "zip bomb" in report.failed[str(DAY)]
    assert grown_mb < 200, grown_mb  # the 300 MB member never sat in memory


def test_a_body_larger_than_listed_stops_at_the_listed_size(fake, tmp_path):
    """A server sending far more than the master list's size was read whole (3 GB before
    the size check). Now the read stops at the listed size plus a margin."""
    small = gkg_zip(dt.datetime.combine(DAY, dt.time(0, 15), dt.UTC), [])
    _one_file_day(fake, small + b"x" * (50 << 20), listed=small)
    report = fetch(fake, tmp_path)
    assert report.exit_code == 1
    assert "larger than the" in report.failed[str(DAY)]


def test_a_slow_drip_meets_a_total_deadline(fake, tmp_path, monkeypatch):
    """One byte every 0.3 s: the socket timeout restarts with every byte, so the fetch
    never ended. Now each file has a total deadline."""
    import time as time_module

    monkeypatch.setattr(gkg, "FILE_DEADLINE_S", 1.0)
    batch = _one_file_day(fake, gkg_zip(dt.datetime.combine(DAY, dt.time(0, 15), dt.UTC), []))
    fake.drip_s[batch] = 0.3
    began = time_module.monotonic()
    report = fetch(fake, tmp_path)
    assert time_module.monotonic() - began < 20
    assert report.exit_code == 1 and "not read within" in report.failed[str(DAY)]


def test_two_concurrent_fetches_of_a_day_download_each_file_once(fake, tmp_path):
    """Both fetched every file before; now the second waits for the first's day lock and
    then finds the day done."""
    from concurrent.futures import ThreadPoolExecutor

    expected = build_day(fake)
    fake.delay_s = 0.02  # long enough for the two fetches to overlap
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda _: fetch(fake, tmp_path), range(2)))
    files = [path for path in fake.log if path.endswith(".gkg.csv.zip")]
    assert len(files) == len(set(files)) == 95
    assert sorted(len(r.written) for r in reports) == [0, 1]
    assert sum(r.written.get(str(DAY), 0) for r in reports) == len(expected)
    assert all(r.exit_code == 0 for r in reports)


MEMORY_CHILD = """
import datetime as dt, json, resource, sys
from src_clean.acquisition import gkg
from src_clean.acquisition.http import RetryPolicy
from src_clean.memory import peak_rss_mb

def vm_bytes():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024

cap = vm_bytes() + (1 << 30)  # what is mapped after the imports, plus 1 GiB
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
report = gkg.fetch_gkg(
    sys.argv[1],
    start=dt.date.fromisoformat(sys.argv[2]),
    end=dt.date.fromisoformat(sys.argv[3]),
    master_url=sys.argv[4],
    policy=RetryPolicy(attempts=2, deadline_s=30, initial_wait_s=0.01, max_wait_s=0.02),
    workers=2,
)
peak = int(peak_rss_mb() * 2**20)  # VmHWM: ru_maxrss would carry pytest's own peak
print(json.dumps({"exit": report.exit_code, "failed": report.failed, "peak": peak}))
"""


def _real_size_batch(batch: dt.datetime, rows: int = 7_600, kept_every: int = 40) -> bytes:
    """A 15-minute file at GDELT's daily volume (96 of them: about 730k rows), rows padded
    to a real row's size (~2 KB of themes and entities), one in ``kept_every`` kept."""
    import random

    rng = random.Random(0)  # hex noise: it zips about as well as real rows (2-3x)
    out = []
    for n in range(rows):
        cells = gkg_row(batch, n, kept=n % kept_every == 0).split("\t")
        cells[9] = rng.randbytes(700).hex()
        out.append("\t".join(cells))
    return gkg_zip(batch, out)


def test_a_real_size_day_and_a_hostile_one_fit_under_a_memory_limit(fake, tmp_path):
    """Issue 35.1: a GKG day stays under 1 GB whatever the server sends. A child fetches,
    under an address-space limit of its imports plus 1 GiB, a day at GDELT's real volume
    (96 files, about 730k rows of about 2 KB) and a hostile day (a zip bomb, a body far
    larger than listed, a drip): the real day lands, the hostile one fails on its own,
    and the child's peak RSS stays under 1 GB."""
    import json
    import subprocess
    import sys

    real = _real_size_batch(dt.datetime.combine(DAY, dt.time(), dt.UTC))
    for k in range(96):  # the same content each batch: its URLs are kept once
        fake.files[dt.datetime.combine(DAY, dt.time(), dt.UTC) + dt.timedelta(minutes=15 * k)] = (
            real
        )
    for batch in list(fake.files):
        fake.listed[batch] = fake.files[batch]
    hostile_day = DAY + dt.timedelta(days=1)
    start = dt.datetime.combine(hostile_day, dt.time(), dt.UTC)
    small = gkg_zip(start, [])
    bomb = _bomb(start + dt.timedelta(minutes=15), 300)
    fake.files[start], fake.listed[start] = small + b"x" * (50 << 20), small
    fake.files[start + dt.timedelta(minutes=15)] = bomb
    fake.listed[start + dt.timedelta(minutes=15)] = bomb
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            MEMORY_CHILD,
            str(tmp_path / "landing"),
            str(DAY),
            str(hostile_day),
            f"{fake.base}/gdeltv2/masterfilelist.txt",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["exit"] == 1 and list(result["failed"]) == [str(hostile_day)], result
    landed = read_jsonl_gz(next((tmp_path / "landing").rglob(f"*{DAY}*.jsonl.gz")).read_bytes())
    assert len(landed) == 7_600 // 40  # every kept story once
    print(f"peak RSS {result['peak'] / 2**20:.0f} MB, {len(real) / 2**20:.1f} MB a file")
    assert result["peak"] < 1 << 30, f"peak RSS {result['peak'] / 2**20:.0f} MB"
