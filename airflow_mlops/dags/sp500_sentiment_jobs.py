"""
### S&P 500 sentiment scoring jobs

Hands raw article files to the GPU scoring workers and waits for their scores.

Settings (`SP500_SENTIMENT_BUCKET`, `SP500_SENTIMENT_JOBS_TABLE`, `SP500_RAW_TEXT_PREFIX`)
come from the environment or an Airflow Variable of the same name.

1. `enqueue_new_files` lists `s3://$SP500_SENTIMENT_BUCKET/raw/text/` (`.jsonl`,
   `.jsonl.gz`) and puts one `PENDING_SENTIMENT` job per new object version into the
   DynamoDB table `$SP500_SENTIMENT_JOBS_TABLE`. Idempotent: the job id hashes bucket, key
   and ETag, and the put is conditional (`attribute_not_exists(pk)`).
2. `wait_for_scores` waits until every job queued by this run is `DONE` (the workers,
   `python -m src_clean sentiment-worker`, run outside Airflow on GPU boxes and write
   `curated/sentiment/<name>.parquet`), and fails at once, without retries, when one is
   `FAILED`, naming the file and the worker's `error_message`.

The sensor runs in **reschedule** mode: between pokes it gives its worker slot back. A
trigger-based deferrable sensor would need an async DynamoDB client (aiobotocore) in the
triggerer and saves little at one poke a minute.

AWS access: the `aws_default` connection (falls back to the standard AWS environment).
Nothing AWS-related is imported when the file is parsed.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag, task

from src_clean.orchestration import worker_tasks
from src_clean.orchestration.task_policy import default_args

POKE_SECONDS = 60
WAIT_HOURS = 6


@dag(
    dag_id="sp500_sentiment_jobs",
    schedule="*/15 * * * *",
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(retry_delay=dt.timedelta(minutes=2)),
    tags=["sp500", "sentiment", "worker"],
    doc_md=__doc__,
)
def sp500_sentiment_jobs() -> None:
    jobs = task(task_id="enqueue_new_files")(worker_tasks.queue_new_files)()
    task.sensor(
        task_id="wait_for_scores",
        poke_interval=POKE_SECONDS,
        timeout=WAIT_HOURS * 3600,
        mode="reschedule",
    )(worker_tasks.scores_done)(jobs)


sp500_sentiment_jobs()
