"""What the ``sp500_sentiment_jobs`` DAG runs: queue new raw files, then check their jobs.

``queue_new_files`` and ``scores_done`` are the bodies of its tasks ``enqueue_new_files``
and ``wait_for_scores``. Settings are read when a task runs (never at DAG parse):
``SP500_SENTIMENT_BUCKET``, ``SP500_SENTIMENT_JOBS_TABLE`` and ``SP500_RAW_TEXT_PREFIX``
(default ``raw/text/``). AWS clients come from ``src_clean.aws`` (Airflow's
``aws_default`` connection inside a task, else the environment) and are created inside
the functions; nothing AWS-related or heavy is imported with this module, which the DAG
file imports when it is parsed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from src_clean.orchestration.airflow_lookups import runtime_settings
from src_clean.settings import Settings


class JobsFailedError(RuntimeError):
    """At least one job ended FAILED (or vanished): the sensor must fail, not wait."""


@dataclass(frozen=True)
class JobsSettings:
    """Where raw files land and where their jobs are queued."""

    bucket: str = Settings.model_fields["sentiment_bucket"].default
    table: str = Settings.model_fields["sentiment_jobs_table"].default
    prefix: str = Settings.model_fields["raw_text_prefix"].default

    @classmethod
    def from_settings(cls, settings: Settings) -> JobsSettings:
        return cls(
            settings.sentiment_bucket, settings.sentiment_jobs_table, settings.raw_text_prefix
        )


def raw_objects(s3: Any, bucket: str, prefix: str) -> Iterator[tuple[str, str]]:
    """(key, etag) of every raw news object (``.json``, ``.jsonl``, ``.ndjson``, optionally
    gzipped) under ``prefix``; hidden names skipped."""
    from src_clean.data_pipelines.bronze.news_formats import SUFFIXES as RAW_SUFFIXES

    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            hidden = any(part.startswith(".") for part in key.removeprefix(prefix).split("/"))
            if key.endswith(RAW_SUFFIXES) and not hidden:
                yield key, obj["ETag"]


def enqueue_new_files(settings: JobsSettings) -> list[dict[str, str]]:
    """Queue a job for each raw object version not queued before; the new jobs' keys.

    Idempotent: the job id hashes bucket, key and ETag and the put is conditional, so a
    rerun (or an overlapping run) queues nothing twice.
    """
    from src_clean import aws
    from src_clean.worker.jobs import JobQueue

    queue = JobQueue(aws.client("dynamodb"), settings.table)
    objects = raw_objects(aws.client("s3"), settings.bucket, settings.prefix)
    jobs = (queue.enqueue(settings.bucket, key, etag) for key, etag in objects)
    return [{"job_id": job.job_id, "key": job.key} for job in jobs if job is not None]


def jobs_done(settings: JobsSettings, jobs: Sequence[dict[str, str]]) -> dict[str, Any] | None:
    """A summary once every job is DONE; ``None`` while some are not; raises on a failure."""
    from src_clean import aws
    from src_clean.worker.jobs import DONE, FAILED, JobQueue

    queue = JobQueue(aws.client("dynamodb"), settings.table)
    states = [queue.get(job["job_id"], job["key"]) for job in jobs]
    problems = [
        f"{job['key']}: {state.error_message if state else 'job record missing'}"
        for job, state in zip(jobs, states, strict=True)
        if state is None or state.status == FAILED
    ]
    if problems:
        raise JobsFailedError(f"{len(problems)} sentiment job(s) failed: " + "; ".join(problems))
    if any(state.status != DONE for state in states if state is not None):
        return None
    return {"jobs": len(jobs), "records": sum(state.record_count or 0 for state in states if state)}


def queue_new_files() -> list[dict[str, str]]:
    """Queue a scoring job for every raw file version not queued before."""
    return enqueue_new_files(JobsSettings.from_settings(runtime_settings()))


def scores_done(jobs: list[dict[str, str]]) -> Any:
    """Done when every queued job is DONE; fails without retry when one FAILED."""
    from airflow.sdk import PokeReturnValue
    from airflow.sdk.exceptions import AirflowFailException

    try:
        summary = jobs_done(JobsSettings.from_settings(runtime_settings()), jobs)
    except JobsFailedError as exc:
        raise AirflowFailException(str(exc)) from exc
    return PokeReturnValue(is_done=summary is not None, xcom_value=summary)
