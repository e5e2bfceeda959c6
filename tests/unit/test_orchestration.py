"""Pure helpers behind the DAG: settings, the per-stage argv, image pinning."""

from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo

import pytest

from src_clean.orchestration.docker import pinned_image
from src_clean.orchestration.plan import build_plan
from src_clean.orchestration.run_window import DateRange, interval_days, run_window, training_range
from src_clean.orchestration.runner import StageFailed, StageRejected, run_stage
from src_clean.orchestration.stages import STAGES
from src_clean.orchestration.trigger_form import InvalidRunParams, RunParams
from src_clean.settings import Settings, env_name

NY = ZoneInfo("America/New_York")
UTC = dt.UTC


def _plan(params: RunParams | None = None, **settings: object) -> dict[str, list[str]]:
    """Plan for the session Tue 2024-03-05 17:30 ET -> Wed 2024-03-06 17:30 ET."""
    start = dt.datetime(2024, 3, 5, 17, 30, tzinfo=NY)
    end = dt.datetime(2024, 3, 6, 17, 30, tzinfo=NY)
    return build_plan(
        params or RunParams(), Settings.defaults(lake_root="/lake", **settings), start, end
    )


def test_settings_from_env_parses_every_type() -> None:
    env = {
        "SP500_EXECUTION": "docker",
        "SP500_LAKE_ROOT": "s3://bucket/lake",
        "SP500_DEMO_FALLBACK": "Yes",
        "SP500_TRAIN_HISTORY_DAYS": "30",
        "SP500_START_DATE": "2023-06-01",
        "SP500_CATCHUP": "0",
        "MLFLOW_TRACKING_URI": "http://mlflow:5000",
    }
    settings = Settings.from_env(env)
    assert settings.execution == "docker"
    assert settings.lake_root == "s3://bucket/lake"
    assert settings.demo_fallback is True
    assert settings.train_history_days == 30
    assert settings.start_date == dt.date(2023, 6, 1)
    assert settings.catchup is False
    assert settings.mlflow_tracking_uri == "http://mlflow:5000"
    assert Settings.from_env({}) == Settings.defaults()


def test_variables_override_runtime_settings_only() -> None:
    variables = {
        "SP500_LAKE_ROOT": "/other",
        "SP500_EXECUTION": "docker",
        "MLFLOW_TRACKING_URI": "",
    }
    settings = Settings.defaults().with_overrides(variables.get)
    assert settings.lake_root == "/other"
    assert settings.execution == "local"  # parse-time setting: environment only
    assert settings.mlflow_tracking_uri is None
    assert env_name("mlflow_tracking_uri") == "MLFLOW_TRACKING_URI"
    assert env_name("train_history_days") == "SP500_TRAIN_HISTORY_DAYS"


def test_invalid_settings_name_the_variable() -> None:
    assert Settings.from_env({"SP500_CATCHUP": "off"}).catchup is False
    with pytest.raises(ValueError, match="SP500_CATCHUP='maybe'"):
        Settings.from_env({"SP500_CATCHUP": "maybe"})
    with pytest.raises(ValueError, match="SP500_CB_MAX_FAILURE_RATE"):
        Settings.from_env({"SP500_CB_MAX_FAILURE_RATE": "1.5"})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"execution": "k8s"}, "SP500_EXECUTION"),
        ({"train_history_days": 0}, "SP500_TRAIN_HISTORY_DAYS"),
        ({"execution": "docker", "lake_root": "data_clean"}, "SP500_LAKE_ROOT"),
        ({"execution": "docker", "lake_root": "/opt/sp500lake"}, "SP500_LAKE_ROOT"),
        ({"execution": "docker", "lake_root": "/opt/sp500/lake"}, "SP500_LANDING_MARKET"),
    ],
)
def test_validate_rejects(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.defaults(**changes).validate()


def test_validate_accepts_docker_paths_under_the_data_dir_or_s3() -> None:
    settings = Settings.defaults(
        execution="docker",
        lake_root="s3://bucket/lake",
        landing_market="/opt/sp500/landing/market",
        landing_news="/opt/sp500/landing/news",
    )
    assert settings.validate() is None  # raises on a path the containers cannot see
    assert (settings.lake_root, settings.landing_market) == (
        "s3://bucket/lake",
        "/opt/sp500/landing/market",
    )


def test_interval_days_are_the_utc_dates_of_a_half_open_interval() -> None:
    session = interval_days(
        dt.datetime(2024, 3, 5, 17, 30, tzinfo=NY), dt.datetime(2024, 3, 6, 17, 30, tzinfo=NY)
    )
    assert session == DateRange(dt.date(2024, 3, 5), dt.date(2024, 3, 6))
    midnight = interval_days(
        dt.datetime(2024, 3, 5, tzinfo=UTC), dt.datetime(2024, 3, 6, tzinfo=UTC)
    )
    assert midnight == DateRange(dt.date(2024, 3, 5), dt.date(2024, 3, 5))
    instant = dt.datetime(2024, 3, 5, 12, tzinfo=UTC)
    assert interval_days(instant, instant) == DateRange(dt.date(2024, 3, 5), dt.date(2024, 3, 5))
    with pytest.raises(ValueError, match="naive"):
        interval_days(dt.datetime(2024, 3, 5), dt.datetime(2024, 3, 6))


SESSION = (
    dt.datetime(2024, 3, 5, 17, 30, tzinfo=NY),
    dt.datetime(2024, 3, 6, 17, 30, tzinfo=NY),
)


def test_trigger_form_dates_replace_the_interval() -> None:
    interval = DateRange(dt.date(2024, 3, 5), dt.date(2024, 3, 6))
    assert run_window(RunParams(), *SESSION, None).days == interval
    both = RunParams(start_date="2024-01-01", end_date="2024-01-31")
    window = run_window(both, *SESSION, None)
    assert window.days == DateRange(dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    assert (window.start, window.end) == (
        dt.datetime(2024, 1, 1, tzinfo=UTC),
        dt.datetime(2024, 2, 1, tzinfo=UTC),
    )
    assert run_window(RunParams(start_date="2024-03-01"), *SESSION, None).days.end == interval.end
    with pytest.raises(InvalidRunParams, match="start date 2024-04-01 is after end date"):
        run_window(RunParams(start_date="2024-04-01"), *SESSION, None)


def test_a_run_without_a_data_interval_uses_the_form_or_run_after() -> None:
    """REST ``logical_date: null`` and ``airflow dags trigger``: no data interval (#13)."""
    run_after = dt.datetime(2024, 3, 6, 14, 5, tzinfo=UTC)
    window = run_window(RunParams(), None, None, run_after)
    assert window.days == DateRange(dt.date(2024, 3, 6), dt.date(2024, 3, 6))
    assert window.start == dt.datetime(2024, 3, 6, tzinfo=UTC)
    assert window.run_ts == "2024-03-06T14:05:00+00:00"
    form = RunParams(start_date="2024-01-02", end_date="2024-01-05")
    assert run_window(form, None, None, run_after).days == DateRange(
        dt.date(2024, 1, 2), dt.date(2024, 1, 5)
    )
    assert run_window(form, None, None, None).days.start == dt.date(2024, 1, 2)
    plan = build_plan(form, Settings.defaults(), run_after=run_after)
    assert plan["silver_market"][-4:] == ["--start", "2024-01-02", "--end", "2024-01-05"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"windw": 5}, "unknown parameter.*'windw'"),
        ({"start_date": "2024-03-02", "end_date": "2024-03-01"}, "after end date"),
        ({"window": 0}, "window=0"),
        ({"prediction_horizon": 10_000}, "prediction_horizon=10000"),
        ({"window": True}, "window=True"),
        ({"start_date": "March 1"}, "start_date='March 1'"),
    ],
)
def test_invalid_run_params_are_rejected(params: dict, message: str) -> None:
    with pytest.raises(InvalidRunParams, match=message):
        RunParams.from_params(params)


def test_training_range_ends_at_the_processed_end() -> None:
    days = DateRange(dt.date(2024, 3, 5), dt.date(2024, 3, 6))
    assert training_range(days, 1) == DateRange(dt.date(2024, 3, 6), dt.date(2024, 3, 6))
    assert training_range(days, 365).start == dt.date(2023, 3, 8)


def test_run_params_and_their_variant() -> None:
    params = RunParams.from_params({"window": 15, "skip_news": True})
    assert params == RunParams(window=15, skip_news=True)
    assert params.variant == "market_only-w15-h30"
    assert RunParams().variant is None


def test_plan_for_one_session() -> None:
    plan = _plan(mlflow_tracking_uri="http://user:pw@mlflow:5000")
    # the URI may carry credentials: it travels by environment, never in the logged argv
    assert not any("mlflow" in arg for args in plan.values() for arg in args)
    days = ["--start", "2024-03-05", "--end", "2024-03-06"]
    run_ts = "2024-03-06T22:30:00+00:00"
    assert plan == {
        "bronze_market": [
            "bronze-market", "--input", "landing/market", "--lake", "/lake",
            "--only-new", "--run-ts", run_ts,
        ],
        "bronze_news": [
            "bronze-news", "--input", "landing/news", "--lake", "/lake",
            "--only-new", "--run-ts", run_ts,
        ],
        "silver_market": ["silver-market", "--lake", "/lake", *days],
        "silver_sentiment": [
            "silver-sentiment", "--lake", "/lake", "--sentiment-model", "ProsusAI/finbert",
            "--no-progress", *days,
        ],
        "gold_news": [
            "gold-news", "--lake", "/lake", "--window", "60",
            "--sentiment-model", "ProsusAI/finbert", *days,
        ],
        "gold_training": [
            "gold-training", "--lake", "/lake", "--window", "60",
            "--prediction-horizon", "30", *days,
        ],
        "monitor": [
            "monitor", "--lake", "/lake", *days, "--run-ts", run_ts,
            "--sessions-between", "2024-03-05T22:30:00+00:00", "2024-03-06T22:30:00+00:00",
            "--calendar", "CMES", "--market-hours", "auto",
        ],
        "train": [
            "train", "--lake", "/lake", "--start", "2023-03-08", "--end", "2024-03-06",
        ],
        # the canonical tables the routed stages write, and the freshness check's window
        "written:gold_news": ["gold/news/signals"],
        "written:gold_training": ["gold/training"],
        "written:train": ["reports/training_summary.json"],
        "market_window": ["2024-03-05T22:30:00+00:00", "2024-03-06T22:30:00+00:00"],
    }  # fmt: skip


def test_plan_applies_the_trigger_form() -> None:
    params = RunParams(
        skip_news=True,
        window=15,
        prediction_horizon=5,
        sentiment_model="lexicon",
        rescore_sentiment=True,
        retrain=False,
    )
    plan = _plan(params, demo_fallback=True, train_history_days=2)
    assert plan["gold_training"][-5:] == [
        "--skip-news",
        "--start",
        "2024-03-05",
        "--end",
        "2024-03-06",
    ]
    assert plan["gold_training"][3:7] == ["--window", "15", "--prediction-horizon", "5"]
    assert plan["written:gold_training"] == ["gold/variants/market_only-w15-h5/training"]
    assert plan["written:train"] == ["reports/variants/market_only-w15-h5/training_summary.json"]
    assert plan["gold_news"][3:5] == ["--window", "15"]
    assert plan["silver_sentiment"][3:7] == [
        "--sentiment-model",
        "lexicon",
        "--demo-fallback",
        "--rescore",
    ]
    assert plan["train"] == [
        "train",
        "--lake",
        "/lake",
        "--variant",
        "market_only-w15-h5",
        "--start",
        "2024-03-05",
        "--end",
        "2024-03-06",
    ]


@pytest.mark.parametrize(
    "image",
    [
        "sp500-etl:0.1.0",
        "registry.local:5000/team/sp500-etl:2024.03",
        "sp500-etl@sha256:" + "a" * 64,
    ],
)
def test_pinned_image_accepts_versions_and_digests(image: str) -> None:
    assert pinned_image(image) == image


@pytest.mark.parametrize(
    "image", ["sp500-etl", "sp500-etl:latest", "registry.local:5000/sp500-etl", "sp500-etl:"]
)
def test_pinned_image_rejects_floating_references(image: str) -> None:
    with pytest.raises(ValueError, match="pinned"):
        pinned_image(image)


def test_image_kinds() -> None:
    settings = Settings.defaults(etl_image="e:1", trainer_image="t:1")
    assert (settings.image("etl"), settings.image("trainer")) == ("e:1", "t:1")
    with pytest.raises(ValueError, match="unknown image kind"):
        settings.image("gpu")


def test_run_stage_fails_only_on_a_non_zero_exit(capsys: pytest.CaptureFixture[str]) -> None:
    run_stage(["--help"])  # argparse exits 0
    assert "usage: python -m src_clean" in capsys.readouterr().out
    with pytest.raises(StageRejected, match="src_clean no-such-stage exited with status 2"):
        run_stage(["no-such-stage"])
    assert issubclass(StageRejected, StageFailed)


def test_a_user_error_is_rejected_with_its_fix_in_the_main_log(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    argv = ["bronze-market", "--input", str(tmp_path / "nowhere"), "--lake", str(tmp_path)]
    with pytest.raises(StageRejected, match="nowhere") as error:
        run_stage(argv)
    assert "Traceback" not in str(error.value)
    assert any(r.levelname == "ERROR" and "nowhere" in r.getMessage() for r in caplog.records)


def test_interval_days_accept_airflow_pendulum_datetimes() -> None:
    import pendulum

    start = pendulum.datetime(2024, 3, 5, 22, 30, tz="UTC")
    days = interval_days(start, start.add(days=1))
    assert days == DateRange(dt.date(2024, 3, 5), dt.date(2024, 3, 6))


def test_fetch_stages_follow_the_sources_setting() -> None:
    """C5: fetch-market / fetch-news over the run's dates into the landing folders."""
    assert not [task for task in _plan() if task.startswith("fetch_")]
    plan = _plan(
        sources=("oanda", "gdelt", "rss"),
        rss_feeds="/etc/sp500/feeds.txt",
        landing_market="/landing/market",
        landing_news="/landing/news",
    )
    days = ["--start", "2024-03-05", "--end", "2024-03-06"]
    assert plan["fetch_market"] == [
        "fetch-market", "--source", "oanda", "--instrument", "SPX500_USD", "--granularity", "M1",
        "--environment", "practice", *days, "--out", "/landing/market", "--no-progress",
    ]  # fmt: skip
    assert plan["fetch_news"] == [
        "fetch-news", "--source", "gdelt", *days, "--out", "/landing/news", "--no-progress",
    ]  # fmt: skip
    hosts = _plan(
        sources=("oanda", "gdelt"),
        oanda_environment="live",
        oanda_api_url="http://127.0.0.1:9/oanda",
        gdelt_api_url="http://127.0.0.1:9/gdelt",
        gdelt_query="sourcelang:english SPY",
        gdelt_min_interval_s=0.5,
    )
    assert hosts["fetch_market"][7:11] == [
        "--environment", "live", "--api-url", "http://127.0.0.1:9/oanda",
    ]  # fmt: skip
    assert hosts["fetch_news"][3:9] == [
        "--api-url", "http://127.0.0.1:9/gdelt", "--query", "sourcelang:english SPY",
        "--min-interval", "0.5",
    ]  # fmt: skip
    assert plan["fetch_news_rss"][:5] == [
        "fetch-news", "--source", "rss", "--feeds", "/etc/sp500/feeds.txt",
    ]  # fmt: skip
    assert list(plan)[:3] == ["fetch_market", "fetch_news", "fetch_news_rss"]
    history = _plan(sources=("oanda", "gdelt-gkg"), gkg_master_url="http://127.0.0.1:9/master")
    assert history["fetch_news_gkg"] == [
        "fetch-news", "--source", "gdelt-gkg", "--master-url", "http://127.0.0.1:9/master",
        *days, "--out", "landing/news", "--no-progress",
    ]  # fmt: skip
    assert "fetch_news" not in history and STAGES["fetch_news_gkg"].pool == "gdelt_files"


def test_sources_are_parsed_and_checked() -> None:
    assert Settings.from_env({"SP500_SOURCES": " OANDA , gdelt"}).sources == ("oanda", "gdelt")
    with pytest.raises(ValueError, match="SP500_SOURCES"):
        Settings.from_env({"SP500_SOURCES": "bloomberg"})
    with pytest.raises(ValueError, match="SP500_RSS_FEEDS"):
        Settings.from_env({"SP500_SOURCES": "rss"}).validate()


def test_run_stage_passes_its_settings_and_never_changes_the_environment(
    monkeypatch, tmp_path
) -> None:
    """An in-process stage gets its settings (the MLflow URI among them) explicitly: as
    ``settings.current()`` while it runs and as the value of ``--mlflow-tracking-uri``;
    the worker's environment is never touched, so nothing leaks into the next task."""
    from src_clean import settings
    from src_clean.orchestration import runner

    seen = {}

    def fake_run(args) -> int:
        seen["environ"] = dict(os.environ)
        seen["settings"] = settings.current()
        seen["tracking_uri"] = getattr(args, "tracking_uri", "no such option")
        return 0

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("SP500_MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr("src_clean.cli.run", fake_run)
    before = dict(os.environ)
    task_settings = Settings.defaults(lake_root=str(tmp_path), mlflow_tracking_uri="x://u")
    runner.run_stage(["train", "--lake", str(tmp_path)], task_settings)
    assert seen["settings"] is task_settings
    assert seen["tracking_uri"] == "x://u"
    assert seen["environ"] == before == dict(os.environ)
    # given on the command line, the option wins; a stage without it is left alone
    runner.run_stage(["train", "--mlflow-tracking-uri", "y://v"], task_settings)
    assert seen["tracking_uri"] == "y://v"
    runner.run_stage(["silver-market", "--lake", str(tmp_path)], {"MLFLOW_TRACKING_URI": "x://u"})
    assert seen["settings"].mlflow_tracking_uri == "x://u"
    assert seen["tracking_uri"] == "no such option"
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert settings.current().mlflow_tracking_uri is None  # the context ended with the stage
