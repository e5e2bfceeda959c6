"""``monitor`` on a real lake: 64 days of sample data, a champion trained on the first 35,
then four weeks it never saw. Quiet days raise no alarm; planted drift, missing bars, a
duplicate burst and a news drought each trip their own check, and only theirs; a rerun
replaces its rows; a data-quality failure keeps the champion alias where it is; the report
renders in headless Chromium."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import lake_writers
import pandas as pd
import pytest

from src_clean import tables
from src_clean.cli import main as cli_main
from src_clean.lake import Lake
from src_clean.monitoring.monitor import run_monitor
from src_clean.run_full_pipeline import PipelineConfig, run_pipeline
from src_clean.sample_data import generate_sample_data

pytestmark = pytest.mark.slow

START = dt.date(2024, 6, 3)  # summer: the sample's fixed UTC hours are CME's (CDT)
TRAIN_DAYS, DAYS = 35, 64
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", "test-artifacts"))


def _copy(files: list[Path], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for file in files:
        shutil.copy2(file, folder / file.name)
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lake after the champion's training run, then gold for every later day."""
    root = tmp_path_factory.mktemp("monitor")
    sample = generate_sample_data(root / "raw", START, DAYS, seed=11)
    cutoff = str(START + dt.timedelta(days=TRAIN_DAYS))
    market = sorted(sample.market_dir.glob("*.ndjson"))
    news = sorted(sample.jsonl_dir.glob("*.jsonl.gz"))
    early_market = _copy([f for f in market if f.name[-17:-7] < cutoff], root / "in" / "market")
    early_news = _copy([f for f in news if f.name[:10] < cutoff], root / "in" / "news")
    lake = root / "lake"
    config = {"lake": lake, "sentiment_model": "lexicon"}
    run_pipeline(PipelineConfig(bronze_market=early_market, bronze_news=early_news, **config))
    _copy(market, early_market)
    _copy(news, early_news)
    run_pipeline(
        PipelineConfig(bronze_market=early_market, bronze_news=early_news, until="gold", **config)
    )
    return lake


@pytest.fixture
def lake(built: Path, tmp_path: Path) -> Lake:
    """A copy of the built lake for one test (tests change it)."""
    copy = tmp_path / "lake"
    shutil.copytree(built, copy)
    return Lake(copy)


def unseen_weekdays(n: int) -> list[dt.date]:
    days = [START + dt.timedelta(days=d) for d in range(TRAIN_DAYS, DAYS - 1)]
    return [d for d in days if d.weekday() < 5][:n]


def flagged(checks: pd.DataFrame) -> set[tuple[str, str]]:
    rows = checks[(checks["status"] != "ok") & ~checks["check"].str.startswith("drift_")]
    return set(zip(rows["check"], rows["subject"], strict=True))


def test_quiet_days_raise_no_alarm_and_the_live_record_grows(lake: Lake) -> None:
    days = unseen_weekdays(20)
    assert len(days) == 20  # four weeks of sessions the champion never read
    alarms, scored = {}, 0
    for day in days:
        result = run_monitor(lake, day, day)
        scored += result.scored
        alarms[str(day)] = flagged(result.checks)
    assert {day: found for day, found in alarms.items() if found} == {}
    predictions = lake.read(tables.MONITORING_PREDICTIONS)
    assert scored == len(predictions) > 10_000
    assert not predictions.duplicated(["time", "instrument", "model_version"]).any()
    gold = lake.read(tables.GOLD_TRAINING).set_index("time")
    realized = gold.loc[predictions["time"], "target_return_30m"].to_numpy()
    assert (predictions["realized"].to_numpy() == realized).all()  # the matured labels
    live = result.checks.set_index("check")
    assert live.loc["live_ic_5s", "value"] > 0 and live.loc["live_decay", "status"] == "ok"


def test_planted_drift_flags_exactly_the_shifted_features(lake: Lake) -> None:
    day = unseen_weekdays(3)[-1]
    gold = lake.read(tables.GOLD_TRAINING, day, day)
    # a feed that triples returns, a volume unit change, an indicator off by 25 points
    shifted = gold.assign(
        ret_1m=gold["ret_1m"] * 3, volume_z_60=gold["volume_z_60"] * 4, rsi_14=gold["rsi_14"] + 25
    )
    lake.replace_range(tables.GOLD_TRAINING, shifted, day, day)

    checks = run_monitor(lake, day, day).checks
    verdicts = checks[checks["check"] == "drift"].set_index("subject")["status"]
    planted = {"ret_1m", "rsi_14", "volume_z_60"}
    assert set(verdicts[verdicts != "ok"].index) == planted
    assert flagged(checks) == {("drift", feature) for feature in planted}


def test_an_infinite_value_is_a_finding_not_a_crash(lake: Lake) -> None:
    """±inf in gold (XGBoost refuses it) killed the day's monitor: no checks, no report.
    Now a non_finite check fails, naming the feature, and the day is still monitored."""
    import numpy as np

    day = unseen_weekdays(4)[-1]
    gold = lake.read(tables.GOLD_TRAINING, day, day).sort_values("time", ignore_index=True)
    gold.loc[5, "ret_1m"] = np.inf
    gold.loc[len(gold) - 1, "rsi_14"] = -np.inf
    lake_writers.replace_day_unchecked(lake, tables.GOLD_TRAINING, gold, day)  # an older writer
    result = run_monitor(lake, day, day)
    rows = result.checks.set_index("check")
    assert rows.loc["non_finite", "status"] == "fail" and rows.loc["non_finite", "value"] == 2
    assert rows.loc["non_finite", "detail"] == "ret_1m: 1, rsi_14: 1"
    assert result.status == "fail" and "fail: non_finite gold/training" in result.alerts
    assert result.scored > 0  # the champion still scored the day, the cells as missing
    page = lake.local_path(f"{tables.MONITORING_REPORTS}/{day}.html").read_text()
    assert "non_finite" in page


def test_missing_bars_a_duplicate_burst_and_a_news_drought_trip_their_checks(
    lake: Lake, tmp_path: Path
) -> None:
    day = unseen_weekdays(5)[-1]
    # four hours of bars never arrived (so silver and gold never had them either)
    for table in (tables.BRONZE_CANDLES, tables.SILVER_FEATURES, tables.GOLD_TRAINING):
        rows = lake.read(table, day, day)
        hours = rows["time"].dt.hour
        lake.replace_range(table, rows[(hours < 13) | (hours >= 17)], day, day)
    bars = lake.read(tables.BRONZE_CANDLES, day, day)
    # all but one of the day's articles never came (nor their scores)
    news = lake.read(tables.BRONZE_NEWS, day, day)
    lake.replace_range(tables.BRONZE_NEWS, news.iloc[:1], day, day)
    scores = lake.read(tables.SILVER_SENTIMENT, day, day)
    kept = scores["article_id"].isin(news["article_id"].iloc[:1])
    lake.replace_range(tables.SILVER_SENTIMENT, scores[kept], day, day)
    # the day's candles landed again under another name: every line a duplicate
    again = tmp_path / "landing" / f"SPX500_USD_M1_{day}_resent.ndjson"
    again.parent.mkdir()
    lines = [
        json.dumps({"time": t.isoformat(), "open": o, "high": h, "low": lo, "close": c,
                    "volume": int(v), "complete": True})
        for t, o, h, lo, c, v in bars[["time", "open", "high", "low", "close", "volume"]]
        .itertuples(index=False)
    ]  # fmt: skip
    again.write_text("\n".join(lines * 2) + "\n")
    run_ts = "2024-08-01T00:00:00+00:00"
    argv = ["bronze-market", "--input", str(again.parent), "--lake", lake.root]
    assert cli_main([*argv, "--run-ts", run_ts]) == 0

    result = run_monitor(lake, day, day, run_ts=pd.Timestamp(run_ts))
    assert flagged(result.checks) == {
        ("bar_coverage", str(day)),
        ("duplicate_rate", tables.BRONZE_CANDLES),
        ("news_volume", str(day)),
        ("drift", "minute_of_day"),  # a day without its 13:00-17:00 bars: a true shift
    }
    statuses = result.checks.set_index(["check", "subject"])["status"]
    assert statuses[("bar_coverage", str(day))] == "fail"
    assert statuses[("news_volume", str(day))] == "fail"


def test_a_rerun_replaces_the_days_rows(lake: Lake) -> None:
    day = unseen_weekdays(2)[-1]
    first = run_monitor(lake, day, day)
    second = run_monitor(lake, day, day)
    stored = lake.read(tables.MONITORING_CHECKS, day, day)
    assert len(stored) == len(first.checks) == len(second.checks)
    assert set(stored["run_id"]) == {second.run_id} != {first.run_id}
    assert second.scored == 0  # nothing new matured
    predictions = lake.read(tables.MONITORING_PREDICTIONS)
    assert not predictions.duplicated(["time", "instrument", "model_version"]).any()


def test_a_data_quality_failure_keeps_the_champion(lake: Lake) -> None:
    from mlflow import MlflowClient

    from src_clean.defaults import DEFAULT_REGISTERED_MODEL, tracking_uri

    day = unseen_weekdays(21)[-1]
    bars = lake.read(tables.BRONZE_CANDLES, day, day)
    lake.replace_range(tables.BRONZE_CANDLES, bars[bars["time"].dt.hour < 6], day, day)
    run_monitor(lake, day, day)
    client = MlflowClient(tracking_uri(lake.root))
    before = client.get_model_version_by_alias(DEFAULT_REGISTERED_MODEL, "champion").version

    argv = ["train", "--lake", lake.root, "--end", str(day), "--null-permutations", "9"]
    assert cli_main(argv) == 0  # a small null: this is about the gate, not the verdict

    summary = json.loads(lake.local_path(tables.TRAINING_SUMMARY).read_text())
    decision = summary["champion_decision"]
    assert not decision["promoted"]
    assert f"data quality failed on {day}: bar_coverage {day}" in decision["reason"]
    after = client.get_model_version_by_alias(DEFAULT_REGISTERED_MODEL, "champion").version
    assert after == before


def test_a_range_writes_one_report_per_day_each_with_only_its_day(
    lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A week through the CLI: a page per day headed by that day, an index of them all,
    one count in the CLI line, the DAG summary, the table and the page, and nothing
    written to the working directory (MLflow's artifacts live with the lake's store), and
    a progress line while a long range runs."""
    from src_clean.monitoring import monitor

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(monitor, "PROGRESS_S", 0.0)
    from src_clean.monitoring.checks import day_status
    from src_clean.monitoring.summary import day_summary

    days = unseen_weekdays(7)[2:5]
    first, last = days[0], days[-1]
    with caplog.at_level("INFO", logger=monitor.log.name):
        printed = _cli_json(
            ["monitor", "--lake", lake.root, "--start", str(first), "--end", str(last)]
        )
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("monitor: ")]
    assert progress[0] == f"monitor: 0 days done, {first} next (to {last})"
    span = [first + dt.timedelta(days=d) for d in range((last - first).days + 1)]
    assert set(printed["days"]) == {str(d) for d in span}
    for day in span:
        page = lake.local_path(f"{tables.MONITORING_REPORTS}/{day}.html").read_text()
        assert f"<h1>Monitoring {day} " in page
        others = [str(d) for d in span if d != day]
        assert not any(f"Monitoring {o}" in page for o in others)
        rows = lake.read(tables.MONITORING_CHECKS, day, day)
        status, counts = day_status(rows)
        summary = day_summary(lake, day)
        assert (summary["status"], summary["counts"]) == (status, counts)
        assert f"{counts['ok']} ok, {counts['warn']} warn, {counts['fail']} fail." in page
        assert f'id="overall">{status}<' in page
        if day == last:
            assert (printed["status"], printed["counts"]) == (status, counts)
    index = lake.local_path(f"{tables.MONITORING_REPORTS}/index.html").read_text()
    assert [f'href="{d}.html"' in index for d in span] == [True] * len(span)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lake"]


def _cli_json(argv: list[str]) -> dict:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli_main([str(a) for a in argv]) == 0
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_the_report_renders_in_chromium(lake: Lake) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    browser_path = shutil.which("chromium")
    if browser_path is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    day = unseen_weekdays(6)[-1]
    for earlier in unseen_weekdays(6):
        result = run_monitor(lake, earlier, earlier)
    assert result.day == day
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(Path(result.report).as_uri())
        assert page.locator("#overall").inner_text() in {"ok", "warn", "fail"}
        assert page.locator("#checks tr").count() > 20
        assert page.locator("#drift tr").count() > 20
        assert page.locator("#live-ic-chart polyline.rolling-ic").count() == 1
        assert page.locator("#live-ic-chart polygon.band").count() == 1
        # the top: status, what changed, the live chart; the details folded below it
        top = page.locator("#live-ic-chart").bounding_box()["y"]
        assert page.locator("#changes").bounding_box()["y"] < top
        assert top < page.locator("#details-checks").bounding_box()["y"]
        page.locator("#details-signal summary").click()
        assert page.locator("#signal").inner_text()
        page.screenshot(path=str(ARTIFACTS / "monitoring_report.png"), full_page=True)
        browser.close()
    assert errors == []
