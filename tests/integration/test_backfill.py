"""Sharded sentiment backfill: planning, checkpointed scoring, kill and resume, the DAG."""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import airflow_env
import local_aws
import pandas as pd
import pytest

from src_clean.backfill import plan_cli, shard_cli
from src_clean.backfill.checkpoint import load_checkpoint
from src_clean.backfill.config import execution_mode
from src_clean.backfill.runner import ShardJob, run_shard
from src_clean.backfill.shards import plan_shards, read_manifest, refresh_manifest, shard_bounds
from src_clean.backfill.state import manifest_path
from src_clean.data_pipelines.silver.model_registry import model_id_for_spec
from src_clean.data_pipelines.silver.scoring import load_scorer
from src_clean.lake import Lake
from src_clean.orchestration.backfill_tasks import BackfillParams, plan_run
from src_clean.settings import Settings
from src_clean.tables import BRONZE_NEWS, SILVER_SENTIMENT

REPO = airflow_env.REPO
DAG_ID = "sp500_sentiment_backfill"
DAG_FILE = airflow_env.DAGS_FOLDER / "sp500_sentiment_backfill.py"
HEADLINES = [
    "Apple beats estimates and raises guidance; shares surge",
    "Company misses estimates, shares plunge on weak outlook",
    "  ",
    "Fed holds rates steady",
]
D = dt.date


def write_bronze(lake: Lake, published: pd.DatetimeIndex) -> list[str]:
    """One bronze article per timestamp (headlines cycle, one in four blank); ids in order."""
    ids = [f"n{i:04d}" for i in range(len(published))]
    lake.upsert(
        BRONZE_NEWS,
        pd.DataFrame(
            {
                "article_id": ids,
                "published_at": published,
                "available_at": published,
                "available_from": "published_at",
                "headline": [HEADLINES[i % len(HEADLINES)] for i in range(len(ids))],
                "body": "Body.",
                "source": "wire",
                "url": [f"https://example.com/{i}" for i in ids],
                "language": "en",
                "gdelt_tone": float("nan"),
                "ingested_at": pd.Timestamp("2024-06-01", tz="UTC"),
                "source_file": "news.jsonl",
            }
        ),
    )
    return ids


def minutes(start: str, n: int, freq: str = "37min") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq=freq, tz="UTC")


def run_cli(module: ModuleType, argv: list[str]) -> int:
    """Parse ``argv`` with the module's arguments and run its ``main``."""
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return module.main(parser.parse_args(argv))


@pytest.fixture(scope="module")
def lexicon():
    return load_scorer("lexicon")


# -- planning --------------------------------------------------------------------------


@pytest.fixture
def history(tmp_path: Path) -> Lake:
    """Articles on Jan 10 (before the range), Jan 20-21, none in Feb, Mar 1 00:00 on."""
    lake = Lake(tmp_path / "lake")
    published = minutes("2024-01-10 12:00", 5).append(minutes("2024-01-20 12:00", 7, "5h"))
    write_bronze(lake, published.append(minutes("2024-03-01 00:00", 4)))
    return lake


def test_month_shards_cover_the_range_without_gaps_or_overlaps(history: Lake) -> None:
    shards = plan_shards(history, D(2024, 1, 15), D(2024, 4, 2))
    assert [s.shard_id for s in shards] == ["2024-01", "2024-02", "2024-03", "2024-04"]
    assert (shards[0].start, shards[-1].end) == (D(2024, 1, 15), D(2024, 4, 2))
    assert all(b.start == a.end + dt.timedelta(days=1) for a, b in itertools.pairwise(shards))
    assert [s.n_articles for s in shards] == [7, 0, 4, 0]
    assert [s.status for s in shards] == ["planned", "empty", "planned", "empty"]


def test_day_shards(history: Lake) -> None:
    shards = plan_shards(history, D(2024, 1, 20), D(2024, 1, 22), "day")
    assert [(s.shard_id, s.start, s.end) for s in shards] == [
        (f"2024-01-{day}", D(2024, 1, day), D(2024, 1, day)) for day in (20, 21, 22)
    ]
    assert [s.n_articles for s in shards] == [3, 4, 0]


def test_plan_cli_writes_the_manifest_to_the_lake_and_to_out(history: Lake, tmp_path: Path) -> None:
    out = tmp_path / "manifest.jsonl"
    argv = ["--lake", history.root, "--start", "2024-01-15", "--end", "2024-02-10"]
    assert run_cli(plan_cli, [*argv, "--run-id", "r1", "--out", str(out)]) == 0
    stored = Path(history.path(manifest_path("r1"))).read_text()
    assert out.read_text() == stored
    assert [json.loads(line) for line in stored.splitlines()] == [
        {
            "shard_id": "2024-01",
            "start": "2024-01-15",
            "end": "2024-01-31",
            "n_articles": 7,
            "status": "planned",
        },
        {
            "shard_id": "2024-02",
            "start": "2024-02-01",
            "end": "2024-02-10",
            "n_articles": 0,
            "status": "empty",
        },
    ]


@pytest.mark.parametrize(
    ("shard_id", "start", "end", "bounds"),
    [
        ("2024-02", None, None, (D(2024, 2, 1), D(2024, 2, 29))),
        ("2024-02", D(2024, 2, 10), D(2024, 3, 31), (D(2024, 2, 10), D(2024, 2, 29))),
        ("2024-02-03", None, None, (D(2024, 2, 3), D(2024, 2, 3))),
    ],
)
def test_shard_bounds(shard_id: str, start, end, bounds) -> None:
    assert shard_bounds(shard_id, start, end) == bounds


@pytest.mark.parametrize("shard_id", ["2024", "2024-2", "2024-02-03 10:00", "latest"])
def test_shard_ids_are_months_or_days(shard_id: str) -> None:
    with pytest.raises(ValueError, match="shard id"):
        shard_bounds(shard_id)


def test_a_shard_outside_the_range_is_rejected() -> None:
    with pytest.raises(ValueError, match="does not overlap"):
        shard_bounds("2024-02", D(2024, 3, 1))


def test_refresh_manifest_takes_the_checkpoint_statuses(history: Lake, lexicon) -> None:
    with pytest.raises(FileNotFoundError, match="no shard manifest"):
        refresh_manifest(history, "r2")
    plan_run(
        BackfillParams(start="2024-01-15", end="2024-03-31"),
        "r2",
        Settings(lake_root=history.root),
        "local",
    )
    run_shard(history, ShardJob.for_shard("r2", "2024-01", D(2024, 1, 15)), lambda: lexicon)
    statuses = [s.status for s in refresh_manifest(history, "r2")]
    assert statuses == ["complete", "empty", "planned"]
    assert [s.status for s in read_manifest(history, "r2")] == statuses


# -- scoring one shard -----------------------------------------------------------------


def test_a_shard_scores_in_chunks_and_a_rerun_scores_nothing(tmp_path: Path, lexicon) -> None:
    lake = Lake(tmp_path / "lake")
    ids = write_bronze(lake, minutes("2024-01-31 14:00", 26, "27min"))  # 2024-01 ends at ids[22]
    job = ShardJob.for_shard("r", "2024-01", checkpoint_every=5)
    first = run_shard(lake, job, lambda: lexicon)
    assert (first.articles_total, first.scored, first.failures, first.chunks) == (23, 23, 0, 5)
    silver = lake.read(SILVER_SENTIMENT)
    assert silver["article_id"].tolist() == ids[:23]
    assert silver["p_positive"].isna().sum() == 6  # the blank headlines: a row of nulls
    checkpoint = load_checkpoint(lake, "r", "2024-01")
    assert (checkpoint.status, checkpoint.articles_done, checkpoint.articles_total) == (
        "complete",
        23,
        23,
    )
    assert checkpoint.last_article_id == ids[22]

    again = run_shard(lake, job, lambda: lexicon)
    assert (again.already_scored, again.scored, again.chunks) == (23, 0, 0)
    assert lake.read(SILVER_SENTIMENT).equals(silver)


def test_a_shard_scores_only_its_clipped_dates(tmp_path: Path, lexicon) -> None:
    lake = Lake(tmp_path / "lake")
    ids = write_bronze(lake, minutes("2024-01-19 20:00", 8, "1h"))  # 4 on the 19th, 4 on the 20th
    report = run_shard(lake, ShardJob.for_shard("r", "2024-01", D(2024, 1, 20)), lambda: lexicon)
    assert report.articles_total == 4
    assert lake.read(SILVER_SENTIMENT)["article_id"].tolist() == ids[4:]


KILLABLE_SHARD = """
import sys, threading
from src_clean.cli import COMMANDS, main
from src_clean.data_pipelines.silver.scoring.lexicon_backend import LexiconScorer

COMMANDS.setdefault("backfill-shard", ("src_clean.backfill.shard_cli", "score one shard"))
chunks_before_hang = int(sys.argv[1])
real_score = LexiconScorer.score
calls = []

def score_then_hang(self, texts):
    calls.append(len(texts))
    if len(calls) > chunks_before_hang:
        threading.Event().wait()  # hang in the middle of the shard until killed
    return real_score(self, texts)

LexiconScorer.score = score_then_hang
sys.exit(main(sys.argv[2:]))
"""


def wait_for_progress(lake: Lake, articles: int, process: subprocess.Popen, log: Path) -> None:
    """Block until the shard's checkpoint counts ``articles`` (or the process died)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        checkpoint = load_checkpoint(lake, "kill", "2024-02")
        if checkpoint is not None and checkpoint.articles_done >= articles:
            return
        time.sleep(0.05)
    pytest.fail(f"no checkpoint with {articles} articles; exit {process.poll()}: {log.read_text()}")


def test_a_killed_shard_resumes_from_its_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = Lake(tmp_path / "lake")
    ids = write_bronze(lake, minutes("2024-02-03 09:00", 30))
    argv = ["--lake", lake.root, "--shard-id", "2024-02", "--run-id", "kill"]
    argv += ["--sentiment-model", "lexicon", "--checkpoint-every", "4"]
    command = [sys.executable, "-c", KILLABLE_SHARD, "3", "backfill-shard", *argv]
    log = tmp_path / "shard.log"
    with log.open("w") as sink:
        process = subprocess.Popen(command, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_for_progress(lake, 12, process, log)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    before = lake.read(SILVER_SENTIMENT)
    assert before["article_id"].tolist() == ids[:12]
    assert load_checkpoint(lake, "kill", "2024-02").status == "running"

    assert run_cli(shard_cli, argv) == 0
    assert "already_scored=12 scored=18 failures=0 chunks=5" in capsys.readouterr().out
    after = lake.read(SILVER_SENTIMENT)
    assert after["article_id"].tolist() == ids  # each article once: none lost, none twice
    assert after.duplicated(["article_id", "model_id"]).sum() == 0
    assert after.iloc[:12]["scored_at"].equals(before["scored_at"])  # not rescored
    checkpoint = load_checkpoint(lake, "kill", "2024-02")
    assert (checkpoint.status, checkpoint.articles_done, checkpoint.failures) == ("complete", 30, 0)
    assert checkpoint.last_article_id == ids[-1]


def test_plan_and_shard_state_live_on_an_s3_lake(monkeypatch: pytest.MonkeyPatch, lexicon) -> None:
    aws = local_aws.activate(monkeypatch)
    lake = Lake(f"s3://{aws.new_bucket()}/lake")
    ids = write_bronze(lake, minutes("2024-02-03 09:00", 9))
    params = BackfillParams(start="2024-02-01", end="2024-02-29")
    (argv,) = plan_run(params, "s3-run", Settings(lake_root=lake.root), "batch")
    assert argv[argv.index("--lake") + 1] == lake.root
    assert [s.n_articles for s in read_manifest(lake, "s3-run")] == [9]
    report = run_shard(lake, ShardJob.for_shard("s3-run", "2024-02"), lambda: lexicon)
    assert (report.scored, report.failures) == (9, 0)
    assert lake.read(SILVER_SENTIMENT)["article_id"].tolist() == ids
    assert load_checkpoint(lake, "s3-run", "2024-02").status == "complete"
    assert [s.status for s in refresh_manifest(lake, "s3-run")] == ["complete"]


def test_a_backfilled_model_is_found_by_its_spec_in_gold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = Lake(tmp_path / "lake")
    write_bronze(lake, minutes("2024-02-03 09:00", 3))
    argv = ["--lake", lake.root, "--shard-id", "2024-02", "--sentiment-model", "lexicon"]
    assert run_cli(shard_cli, argv) == 0
    scored = lake.read(SILVER_SENTIMENT)["model_id"].unique().tolist()
    assert [model_id_for_spec(lake, "lexicon")] == scored  # no silver-sentiment run needed


def test_shard_cli_exits_3_when_the_breaker_opens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = Lake(tmp_path / "lake")
    write_bronze(lake, minutes("2024-02-03 09:00", 3))
    (data_file,) = lake.local_path(BRONZE_NEWS, "date=2024-02-03").glob("*.parquet")
    data_file.write_bytes(b"truncated")
    argv = ["--lake", lake.root, "--shard-id", "2024-02", "--sentiment-model", "lexicon"]
    assert run_cli(shard_cli, argv) == shard_cli.EXIT_CIRCUIT_OPEN
    assert "circuit breaker open: storage error" in capsys.readouterr().err


def test_shard_cli_rejects_a_bad_shard_id(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run_cli(shard_cli, ["--shard-id", "2024-1-5"])
    assert "must be YYYY-MM or YYYY-MM-DD" in capsys.readouterr().err


# -- the DAG ---------------------------------------------------------------------------

DOCKER_ENV = {"SP500_BACKFILL_EXECUTION": "docker", "SP500_ETL_IMAGE": "sp500-etl:1.2.3"}
BATCH_ENV = {"SP500_BACKFILL_EXECUTION": "batch"}


def load_backfill_dag(settings_env: dict[str, str]):
    bag = airflow_env.parse_dag_folder(settings_env)
    assert not bag.import_errors, bag.import_errors
    return bag.dags[DAG_ID]


@pytest.fixture(scope="module")
def local_dag():
    return load_backfill_dag({"SP500_BACKFILL_EXECUTION": "local"})


def plan_reference(task) -> list[tuple[str, str]]:
    """(task id, XCom key) that a mapped shard argument comes from."""
    argv = task.op_args[0] if hasattr(task, "op_args") else task.command
    return [(operator.task_id, key) for operator, key in argv.iter_references()]


def test_dag_structure_and_policy(local_dag) -> None:
    assert {t.task_id: t.upstream_task_ids for t in local_dag.tasks} == {
        "plan": set(),
        "shard.score_shard": {"plan"},
        "summarize": {"shard.score_shard"},
    }
    assert type(local_dag.timetable).__name__ == "NullTimetable"  # manual trigger only
    assert local_dag.max_active_runs == 1
    assert {"sp500", "backfill", "local"} <= set(local_dag.tags)
    assert local_dag.doc_md and "circuit breaker" in local_dag.doc_md
    for task in local_dag.tasks:
        assert task.owner == "sp500-mlops"
        assert task.retries >= 1
        assert task.doc_md and task.doc_md.strip()
    assert local_dag.get_task("summarize").trigger_rule == "all_done"


def test_shards_are_a_mapped_task_over_the_plan(local_dag) -> None:
    task = local_dag.get_task("shard.score_shard")
    group = task.get_closest_mapped_task_group()
    assert group is not None and group.group_id == "shard"
    assert plan_reference(task) == [("plan", "return_value")]
    assert task.max_active_tis_per_dagrun == 2


def test_params_have_defaults(local_dag) -> None:
    assert local_dag.params.dump() == {
        "start": None,
        "end": None,
        "sentiment_model": None,
        "checkpoint_every": 500,
        "shard": "month",
    }


def test_docker_mode_runs_the_shard_argv_in_the_etl_image() -> None:
    from airflow.providers.docker.operators.docker import DockerOperator

    task = load_backfill_dag(DOCKER_ENV).get_task("shard.score_shard")
    assert isinstance(task, DockerOperator)
    assert task.image == "sp500-etl:1.2.3"
    assert plan_reference(task) == [("plan", "return_value")]


def test_batch_mode_submits_the_same_argv_as_a_batch_job() -> None:
    from airflow.providers.amazon.aws.operators.batch import BatchOperator

    task = load_backfill_dag(BATCH_ENV).get_task("shard.score_shard")
    assert isinstance(task, BatchOperator)
    assert task.job_queue == "{{ var.value.sp500_batch_job_queue }}"
    assert task.job_definition == "{{ var.value.sp500_batch_job_definition }}"
    assert {"job_queue", "job_definition", "container_overrides"} <= set(task.template_fields)
    (command,) = task.container_overrides.values()
    assert [(op.task_id, key) for op, key in command.iter_references()] == [
        ("plan", "return_value")
    ]


@pytest.mark.parametrize(
    ("env", "mode"),
    [
        ({}, "local"),
        ({"SP500_EXECUTION": "docker"}, "docker"),
        ({"SP500_EXECUTION": "docker", "SP500_BACKFILL_EXECUTION": "batch"}, "batch"),
        ({"SP500_EXECUTION": "local", "SP500_BACKFILL_EXECUTION": "docker"}, "docker"),
    ],
)
def test_the_backfill_mode_overrides_the_pipeline_mode(env: dict[str, str], mode: str) -> None:
    assert execution_mode(env) == mode


def test_an_unknown_execution_mode_fails_at_parse_time() -> None:
    bag = airflow_env.parse_dag_folder({"SP500_BACKFILL_EXECUTION": "k8s"})
    assert "SP500_BACKFILL_EXECUTION='k8s'" in "".join(bag.import_errors.values())


PARSE_PROBE = """
import importlib.util, json, sys
import airflow.sdk  # already imported in the DAG processor
spec = importlib.util.spec_from_file_location("backfill_dag", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(json.dumps([m for m in sys.argv[2:] if m in sys.modules]))
"""


@pytest.mark.parametrize(
    ("mode", "allowed"), [("local", set()), ("docker", {"docker"}), ("batch", {"boto3"})]
)
def test_parsing_imports_no_heavy_library(mode: str, allowed: set[str]) -> None:
    heavy = ["torch", "transformers", "pandas", "pyarrow", "mlflow", "docker", "boto3"]
    env = {**os.environ, **airflow_env.AIRFLOW_ENV, "SP500_BACKFILL_EXECUTION": mode}
    probe = [sys.executable, "-c", PARSE_PROBE, str(DAG_FILE), *heavy]
    result = subprocess.run(probe, env=env, capture_output=True, text=True, check=True)
    assert set(json.loads(result.stdout.strip().splitlines()[-1])) <= allowed


def test_plan_task_writes_the_manifest_and_maps_only_shards_with_articles(
    local_dag, history: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SP500_LAKE_ROOT", history.root)
    monkeypatch.setenv("SP500_DEMO_FALLBACK", "true")
    task = local_dag.get_task("plan")
    params = {"start": "2024-01-15", "end": "2024-03-05", "sentiment_model": "lexicon"}
    argvs = task.python_callable(
        *task.op_args, params=params, run_id="manual__2024-06-01T00:00:00+00:00"
    )
    assert argvs == [
        [
            "backfill-shard",
            "--lake",
            history.root,
            "--run-id",
            "manual__2024-06-01T00:00:00+00:00",
            "--shard-id",
            shard_id,
            "--start",
            start,
            "--end",
            end,
            "--sentiment-model",
            "lexicon",
            "--checkpoint-every",
            "500",
            "--demo-fallback",
            "--no-progress",
        ]
        for shard_id, start, end in [
            ("2024-01", "2024-01-15", "2024-01-31"),
            ("2024-03", "2024-03-01", "2024-03-05"),
        ]
    ]
    manifest = read_manifest(history, "manual__2024-06-01T00:00:00+00:00")
    assert [s.shard_id for s in manifest] == ["2024-01", "2024-02", "2024-03"]


@pytest.mark.parametrize(
    ("mode", "lake_root", "error"),
    [
        ("docker", "/home/me/lake", "not visible to the stage containers"),
        ("batch", "/opt/sp500/lake", "AWS Batch shards need an s3:// lake"),
    ],
)
def test_plan_rejects_a_lake_the_shards_cannot_reach(mode: str, lake_root: str, error: str) -> None:
    params = BackfillParams(start="2024-01-01", end="2024-01-31")
    with pytest.raises(ValueError, match=error):
        plan_run(params, "r", Settings(lake_root=lake_root), mode)


def test_plan_needs_start_and_end() -> None:
    with pytest.raises(ValueError, match="needs both `start` and `end`"):
        plan_run(BackfillParams(start="2024-01-01"), "r", Settings(), "local")


@pytest.mark.slow
def test_dag_run_scores_every_shard_in_local_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.utils.session import create_session

    from src_clean.cli import COMMANDS

    airflow_env.migrated_db()
    lake = Lake(tmp_path / "lake")
    ids = write_bronze(lake, minutes("2024-01-30 12:00", 12, "8h"))  # Jan 30 .. Feb 3
    settings_env = {"SP500_BACKFILL_EXECUTION": "local", "SP500_LAKE_ROOT": lake.root}
    dag = load_backfill_dag(settings_env)
    for name, value in settings_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(COMMANDS, "backfill-shard", ("src_clean.backfill.shard_cli", "shard"))
    conf = {"start": "2024-01-01", "end": "2024-02-29", "sentiment_model": "lexicon"}
    run = dag.test(run_conf={**conf, "checkpoint_every": 5})
    with create_session() as session:
        session.add(run)
        instances = run.get_task_instances(session=session)
        states = sorted((ti.task_id, ti.map_index, str(ti.state)) for ti in instances)
    assert states == [
        ("plan", -1, "success"),
        ("shard.score_shard", 0, "success"),
        ("shard.score_shard", 1, "success"),
        ("summarize", -1, "success"),
    ]
    assert sorted(lake.read(SILVER_SENTIMENT)["article_id"]) == ids
    assert [s.status for s in read_manifest(lake, run.run_id)] == ["complete", "complete"]
