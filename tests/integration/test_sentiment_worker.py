"""The DynamoDB-queued scoring worker on a real local S3 + DynamoDB API (moto server)."""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import airflow_env
import local_aws
import pandas as pd
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from src_clean import aws, tables
from src_clean.data_pipelines.silver.scoring.loading import load_scorer
from src_clean.lake import Lake
from src_clean.orchestration.worker_tasks import (
    JobsFailedError,
    JobsSettings,
    enqueue_new_files,
    jobs_done,
)
from src_clean.worker.jobs import DONE, FAILED, PENDING, RUNNING, Job, JobQueue
from src_clean.worker.logs import JsonLog
from src_clean.worker.runner import Worker, WorkerConfig
from src_clean.worker.scoring import CURATED_COLUMNS, PoisonedFileError, curated_key

REPO = Path(__file__).resolve().parents[2]
DAG_FILE = REPO / "airflow_mlops" / "dags" / "sp500_sentiment_jobs.py"
WAIT_S = 60.0  # upper bound for a subprocess to reach a state; never asserted as a duration
LOG_FIELDS = {"ts", "level", "event", "worker_id", "job_id", "s3_key", "record_count"}


@pytest.fixture(scope="module")
def lexicon():
    return load_scorer("lexicon")


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> local_aws.LocalAws:
    return local_aws.activate(monkeypatch)


@pytest.fixture
def queue_of(aws_env: local_aws.LocalAws) -> JobsSettings:
    """A fresh bucket and jobs table."""
    return JobsSettings(bucket=aws_env.new_bucket(), table=aws_env.new_table())


def articles(tag: str, n: int) -> list[dict[str, str]]:
    headlines = ("Stocks surge after strong earnings", "Shares plunge on weak guidance", "Fed")
    return [
        {
            "article_id": f"{tag}-{i}",
            "url": f"https://news.example.com/{tag}/{i}",
            "headline": f"{headlines[i % 3]} ({tag} {i})",
            "published_at": f"2024-01-02T15:{i:02d}:00Z",
        }
        for i in range(n)
    ]


def jsonl(records: Sequence[dict[str, str]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def put(local: local_aws.LocalAws, bucket: str, key: str, body: bytes) -> None:
    payload = gzip.compress(body) if key.endswith(".gz") else body
    local.client("s3").put_object(Bucket=bucket, Key=key, Body=payload)


def queue_for(local: local_aws.LocalAws, table: str) -> JobQueue:
    return JobQueue(local.client("dynamodb"), table)


def all_jobs(local: local_aws.LocalAws, table: str) -> dict[str, Job]:
    items = local.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
    return {job.key: job for job in map(Job.from_item, items)}


def worker(
    local: local_aws.LocalAws,
    table: str,
    scorer,
    worker_id: str = "w1",
    stream: io.StringIO | None = None,
    **config,
) -> Worker:
    """A worker with its own DynamoDB client."""
    settings = WorkerConfig(worker_id=worker_id, poll_seconds=0.05, **config)
    return Worker(queue_for(local, table), scorer, settings, JsonLog(stream, worker_id=worker_id))


def curated(bucket: str, raw_key: str) -> pd.DataFrame:
    return pq.read_table(
        f"{bucket}/{curated_key(raw_key)}", filesystem=aws.s3_filesystem()
    ).to_pandas()


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class BlockingScorer:
    """The lexicon scorer, held back until ``release`` is set."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.started = threading.Event()
        self.release = threading.Event()

    def score(self, texts: Sequence[str]) -> pd.DataFrame:
        self.started.set()
        self.release.wait(WAIT_S)
        return self.inner.score(texts)


# -- the curated key ------------------------------------------------------------------


def test_curated_key_keeps_the_whole_raw_name() -> None:
    assert (
        curated_key("raw/text/2024/01/02.jsonl.gz")
        == "curated/sentiment/2024/01/02.jsonl.gz.parquet"
    )
    assert curated_key("raw/text/feed.jsonl") == "curated/sentiment/feed.jsonl.parquet"
    assert curated_key("raw/text/feed.json") == "curated/sentiment/feed.json.parquet"
    with pytest.raises(PoisonedFileError):
        curated_key("elsewhere/feed.jsonl")


# -- enqueue --------------------------------------------------------------------------


def test_enqueue_is_idempotent_per_object_version(
    aws_env: local_aws.LocalAws, queue_of: JobsSettings
) -> None:
    bucket = queue_of.bucket
    put(aws_env, bucket, "raw/text/a.jsonl", jsonl(articles("a", 2)))
    put(aws_env, bucket, "raw/text/b/c.jsonl.gz", jsonl(articles("c", 2)))
    put(aws_env, bucket, "raw/text/.tmp/d.jsonl", jsonl(articles("d", 2)))
    put(aws_env, bucket, "raw/text/readme.txt", b"not news")

    first = enqueue_new_files(queue_of)
    again = enqueue_new_files(queue_of)

    assert sorted(job["key"] for job in first) == ["raw/text/a.jsonl", "raw/text/b/c.jsonl.gz"]
    assert again == []
    jobs = all_jobs(aws_env, queue_of.table)
    assert sorted(jobs) == ["raw/text/a.jsonl", "raw/text/b/c.jsonl.gz"]
    assert {job.status for job in jobs.values()} == {PENDING}
    assert all(job.bucket == bucket for job in jobs.values())

    put(aws_env, bucket, "raw/text/a.jsonl", jsonl(articles("a", 3)))  # a new version
    assert [job["key"] for job in enqueue_new_files(queue_of)] == ["raw/text/a.jsonl"]


# -- the worker -----------------------------------------------------------------------


def test_worker_scores_every_queued_file(
    aws_env: local_aws.LocalAws, queue_of: JobsSettings, lexicon
) -> None:
    bucket = queue_of.bucket
    duplicate = articles("a", 1)[0] | {"headline": "Shares plunge after a fraud probe"}
    files = {
        "raw/text/2024-01-02/a.jsonl.gz": jsonl([*articles("a", 4), duplicate]),
        "raw/text/2024-01-02/b.jsonl": jsonl(articles("b", 3)) + b"{not json\n",
        "raw/text/2024-01-03.jsonl.gz": jsonl(articles("c", 5)),
    }
    for key, body in files.items():
        put(aws_env, bucket, key, body)
    queued = enqueue_new_files(queue_of)
    log = io.StringIO()

    stats = worker(aws_env, queue_of.table, lexicon, stream=log).run(once=True)

    jobs = all_jobs(aws_env, queue_of.table)
    assert sorted(stats.done) == sorted(job["job_id"] for job in queued)
    assert {key: job.status for key, job in jobs.items()} == dict.fromkeys(files, DONE)
    assert {key: job.record_count for key, job in jobs.items()} == {
        "raw/text/2024-01-02/a.jsonl.gz": 4,
        "raw/text/2024-01-02/b.jsonl": 3,
        "raw/text/2024-01-03.jsonl.gz": 5,
    }
    scores = curated(bucket, "raw/text/2024-01-02/a.jsonl.gz")
    assert list(scores.columns) == CURATED_COLUMNS
    assert scores["article_id"].is_unique and len(scores) == 4
    assert (scores["model_id"] == lexicon.model_id).all()
    assert (scores["source_key"] == "raw/text/2024-01-02/a.jsonl.gz").all()
    assert str(scores["published_at"].dtype) == "datetime64[ns, UTC]"
    assert scores[["p_positive", "p_negative", "p_neutral"]].sum(axis=1).round(6).eq(1).all()
    assert scores.set_index("article_id").loc["a-0", "label"] == "negative"  # last one won
    done_events = [json.loads(line) for line in log.getvalue().splitlines()]
    done_events = [e for e in done_events if e["event"] == "job_done"]
    assert len(done_events) == 3
    assert all(LOG_FIELDS | {"latency_ms"} <= set(event) for event in done_events)


def test_two_workers_never_take_the_same_job(
    aws_env: local_aws.LocalAws, queue_of: JobsSettings, lexicon
) -> None:
    for i in range(8):
        put(aws_env, queue_of.bucket, f"raw/text/f{i}.jsonl", jsonl(articles(f"f{i}", 2)))
    queued = {job["job_id"] for job in enqueue_new_files(queue_of)}
    workers = [worker(aws_env, queue_of.table, lexicon, worker_id=f"w{i}") for i in (1, 2)]
    start = threading.Barrier(len(workers))
    results = {}

    def run(w: Worker) -> None:
        start.wait()
        results[w.config.worker_id] = w.run(once=True)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)

    done_by = {wid: set(stats.done) for wid, stats in results.items()}
    assert done_by["w1"].isdisjoint(done_by["w2"])
    assert done_by["w1"] | done_by["w2"] == queued
    jobs = all_jobs(aws_env, queue_of.table).values()
    assert all(job.status == DONE and job.attempts == 1 for job in jobs)
    assert all(job.job_id in done_by[job.worker_id] for job in jobs)


def test_a_poisoned_file_fails_and_the_others_finish(
    aws_env: local_aws.LocalAws, queue_of: JobsSettings, lexicon
) -> None:
    bucket = queue_of.bucket
    put(aws_env, bucket, "raw/text/good.jsonl.gz", jsonl(articles("g", 3)))
    aws_env.client("s3").put_object(Bucket=bucket, Key="raw/text/bad.jsonl.gz", Body=b"\x00" * 64)
    put(aws_env, bucket, "raw/text/junk.jsonl", b"{oops\n[1, 2]\n")
    queued = enqueue_new_files(queue_of)

    stats = worker(aws_env, queue_of.table, lexicon).run(once=True)

    jobs = all_jobs(aws_env, queue_of.table)
    assert jobs["raw/text/good.jsonl.gz"].status == DONE
    assert jobs["raw/text/bad.jsonl.gz"].status == FAILED
    assert "not_gzip" in jobs["raw/text/bad.jsonl.gz"].error_message
    assert jobs["raw/text/junk.jsonl"].status == FAILED
    assert "invalid_json=1, not_an_object=1" in jobs["raw/text/junk.jsonl"].error_message
    assert len(stats.failed) == 2 and len(stats.done) == 1
    outputs = aws.s3_filesystem().get_file_info(pafs.FileSelector(f"{bucket}/curated/sentiment"))
    assert [info.base_name for info in outputs] == ["good.jsonl.gz.parquet"]
    quarantine = Lake(f"s3://{bucket}").read(tables.quarantine(tables.SILVER_SENTIMENT))
    assert sorted(quarantine["reason"]) == ["invalid_json", "not_an_object", "not_gzip"]
    with pytest.raises(JobsFailedError, match=r"raw/text/bad.jsonl.gz: no valid article"):
        jobs_done(queue_of, queued)


def test_bad_records_are_quarantined_and_the_rest_scored(
    aws_env: local_aws.LocalAws, queue_of: JobsSettings, lexicon
) -> None:
    bucket = queue_of.bucket
    good = articles("m", 50)
    bad = [b"{not json", b'{"headline": ["a list"], "published_at": "2024-01-02T15:00:00Z"}']
    body = jsonl(good[:25]) + b"\n".join(bad) + b"\n" + jsonl(good[25:])
    put(aws_env, bucket, "raw/text/mixed.jsonl.gz", body)
    enqueue_new_files(queue_of)

    stats = worker(aws_env, queue_of.table, lexicon).run(once=True)

    job = all_jobs(aws_env, queue_of.table)["raw/text/mixed.jsonl.gz"]
    assert (job.status, job.record_count, len(stats.done)) == (DONE, 50, 1)
    lake = Lake(f"s3://{bucket}")
    silver = lake.read(tables.SILVER_SENTIMENT)
    assert sorted(silver["article_id"]) == sorted(a["article_id"] for a in good)
    assert (silver["model_id"] == lexicon.model_id).all()
    quarantine = lake.read(tables.quarantine(tables.SILVER_SENTIMENT))
    assert quarantine[["record_number", "reason"]].values.tolist() == [
        [26, "invalid_json"],
        [27, "wrong_type:headline"],
    ]
    assert (quarantine["source_file"] == f"s3://{bucket}/raw/text/mixed.jsonl.gz").all()


def test_files_with_the_same_stem_keep_their_own_outputs(
    aws_env: local_aws.LocalAws, queue_of: JobsSettings, lexicon
) -> None:
    bucket = queue_of.bucket
    files = {
        "raw/text/same.jsonl": jsonl(articles("l", 3)),
        "raw/text/same.jsonl.gz": jsonl(articles("g", 2)),
        "raw/text/same.json": json.dumps(articles("j", 2)).encode(),
    }
    for key, body in files.items():
        put(aws_env, bucket, key, body)
    enqueue_new_files(queue_of)

    worker(aws_env, queue_of.table, lexicon).run(once=True)

    jobs = all_jobs(aws_env, queue_of.table)
    assert {key: (job.status, job.record_count) for key, job in jobs.items()} == {
        "raw/text/same.jsonl": (DONE, 3),
        "raw/text/same.jsonl.gz": (DONE, 2),
        "raw/text/same.json": (DONE, 2),
    }
    for key, tag in (("same.jsonl", "l"), ("same.jsonl.gz", "g"), ("same.json", "j")):
        scores = curated(bucket, f"raw/text/{key}")
        assert scores["article_id"].str.startswith(f"{tag}-").all()
        assert (scores["source_key"] == f"raw/text/{key}").all()
    assert len(Lake(f"s3://{bucket}").read(tables.SILVER_SENTIMENT)) == 7


def test_an_unreadable_file_is_retried_then_failed(
    aws_env: local_aws.LocalAws, queue_of: JobsSettings, lexicon
) -> None:
    put(aws_env, queue_of.bucket, "raw/text/gone.jsonl", jsonl(articles("x", 1)))
    enqueue_new_files(queue_of)
    aws_env.client("s3").delete_object(Bucket=queue_of.bucket, Key="raw/text/gone.jsonl")

    stats = worker(aws_env, queue_of.table, lexicon, max_attempts=2).run(once=True)

    job = all_jobs(aws_env, queue_of.table)["raw/text/gone.jsonl"]
    assert (job.status, job.attempts) == (FAILED, 2)
    assert job.error_message.startswith("gave up after 2 attempts: FileNotFoundError")
    assert len(stats.retried) == 1 and len(stats.failed) == 1


def test_an_expired_lease_is_reclaimed_and_the_old_holder_cannot_finish(
    aws_env: local_aws.LocalAws, queue_of: JobsSettings, lexicon
) -> None:
    put(aws_env, queue_of.bucket, "raw/text/crashed.jsonl", jsonl(articles("x", 2)))
    put(aws_env, queue_of.bucket, "raw/text/busy.jsonl", jsonl(articles("y", 2)))
    enqueue_new_files(queue_of)
    an_hour_ago = JobQueue(aws_env.client("dynamodb"), queue_of.table, lambda: time.time() - 3600)
    alive = queue_for(aws_env, queue_of.table)
    pending = {job.key: job for job in alive.claimable()}
    crashed = an_hour_ago.claim(pending["raw/text/crashed.jsonl"], "dead", lease_seconds=900)
    busy = alive.claim(pending["raw/text/busy.jsonl"], "alive", lease_seconds=900)
    assert crashed is not None and busy is not None

    stats = worker(aws_env, queue_of.table, lexicon, worker_id="rescuer").run(once=True)

    jobs = all_jobs(aws_env, queue_of.table)
    rescued = jobs["raw/text/crashed.jsonl"]
    assert (rescued.status, rescued.worker_id, rescued.attempts) == (DONE, "rescuer", 2)
    assert stats.done == [rescued.job_id]
    assert jobs["raw/text/busy.jsonl"].status == RUNNING  # a live lease is left alone
    assert an_hour_ago.complete(crashed, {"record_count": 0}) is False
    assert all_jobs(aws_env, queue_of.table)["raw/text/crashed.jsonl"].record_count == 2


def test_stop_releases_a_job_that_outlives_the_grace_period(
    aws_env: local_aws.LocalAws, queue_of: JobsSettings, lexicon
) -> None:
    put(aws_env, queue_of.bucket, "raw/text/slow.jsonl", jsonl(articles("s", 2)))
    enqueue_new_files(queue_of)
    scorer = BlockingScorer(lexicon)
    slow = worker(aws_env, queue_of.table, scorer, grace_seconds=0.1)
    runner = threading.Thread(target=slow.run)
    runner.start()
    assert scorer.started.wait(WAIT_S)

    slow.stop()
    runner.join(WAIT_S)
    released = all_jobs(aws_env, queue_of.table)["raw/text/slow.jsonl"]
    scorer.release.set()  # the abandoned job thread now finishes, without its lease
    wait_until(lambda: slow.stats.lost, "the abandoned job to notice its lost lease")

    assert not runner.is_alive()
    assert (released.status, released.worker_id) == (PENDING, None)
    assert slow.stats.released == [released.job_id] and slow.stats.done == []
    assert all_jobs(aws_env, queue_of.table)["raw/text/slow.jsonl"].status == PENDING


def test_sigterm_stops_the_cli_worker_cleanly(
    aws_env: local_aws.LocalAws, queue_of: JobsSettings
) -> None:
    for name in ("a", "b"):
        put(aws_env, queue_of.bucket, f"raw/text/{name}.jsonl", jsonl(articles(name, 2)))
    queued = enqueue_new_files(queue_of)
    command = [sys.executable, "-m", "src_clean", "sentiment-worker", "--table", queue_of.table]
    command += ["--sentiment-model", "lexicon", "--poll-seconds", "0.2", "--worker-id", "sub"]
    process = subprocess.Popen(
        command, cwd=REPO, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_until(lambda: jobs_done(queue_of, queued) is not None, "both jobs to be DONE")
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=WAIT_S)

    assert process.returncode == 0, stderr.decode()
    assert "sentiment-worker sub: done=2 failed=0" in stdout.decode()
    events = [json.loads(line) for line in stderr.decode().splitlines()]
    names = [e["event"] for e in events]
    # the last job's DONE can be seen (and SIGTERM sent) just before its job_done line
    assert names[-1] == "worker_stopped" and "stop_requested" in names[-3:]
    assert {e["worker_id"] for e in events} == {"sub"}
    assert RUNNING not in {job.status for job in all_jobs(aws_env, queue_of.table).values()}


def test_jobs_done_waits_for_every_job(
    aws_env: local_aws.LocalAws, queue_of: JobsSettings, lexicon
) -> None:
    put(aws_env, queue_of.bucket, "raw/text/a.jsonl", jsonl(articles("a", 3)))
    put(aws_env, queue_of.bucket, "raw/text/b.jsonl", jsonl(articles("b", 2)))
    queued = enqueue_new_files(queue_of)
    assert jobs_done(queue_of, queued) is None

    worker(aws_env, queue_of.table, lexicon).run(once=True)

    assert jobs_done(queue_of, queued) == {"jobs": 2, "records": 5}
    with pytest.raises(JobsFailedError, match="job record missing"):
        jobs_done(queue_of, [{"job_id": "nope", "key": "raw/text/x.jsonl"}])


# -- the DAG --------------------------------------------------------------------------

PARSE_PROBE = """
import importlib.util, json, sys
import airflow.sdk
spec = importlib.util.spec_from_file_location("dag_module", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(json.dumps([m for m in sys.argv[2:] if m in sys.modules]))
"""


def test_dag_parses_without_importing_aws_or_data_libraries() -> None:
    heavy = ["boto3", "botocore", "pandas", "pyarrow", "torch", "src_clean.worker.jobs"]
    env = {**os.environ, **airflow_env.AIRFLOW_ENV}
    probe = [sys.executable, "-c", PARSE_PROBE, str(DAG_FILE), *heavy]
    result = subprocess.run(probe, env=env, capture_output=True, text=True, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_dag_structure_and_policy() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags["sp500_sentiment_jobs"]
    sensor = dag.get_task("wait_for_scores")
    assert sensor.upstream_task_ids == {"enqueue_new_files"}
    assert sensor.mode == "reschedule"
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert {"sp500", "sentiment"} <= set(dag.tags)
    assert dag.doc_md and "reschedule" in dag.doc_md
    assert all(task.owner == "sp500-mlops" and task.retries == 2 for task in dag.tasks)
