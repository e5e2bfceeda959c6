"""
### S&P 500 sentiment backfill

Scores the whole article history with a sentiment model, one shard (calendar month) per
mapped task, resumably.

1. `plan` cuts `start..end` into month shards, counts each shard's bronze articles and
   writes the shard manifest `_state/backfill/<run_id>/shards.jsonl` in the lake (months
   without articles are listed with `n_articles = 0`, status `empty`, and not mapped).
2. `shard.score_shard` runs once per non-empty shard (dynamic task mapping):
   `python -m src_clean backfill-shard`. It scores in chunks of `checkpoint_every` articles,
   upserting each chunk into `silver/news/sentiment` and rewriting
   `<shard_id>.checkpoint.json`, so a retry (or a rerun with the same run id) resumes
   without rescoring. Articles the model raises on go to `<shard_id>.failures.jsonl`; a
   circuit breaker fails the shard on a critical error (model load, out of memory, lake
   I/O), `SP500_CB_MAX_CONSECUTIVE` consecutive failures (20) or a failure rate above
   `SP500_CB_MAX_FAILURE_RATE` (0.05) after `SP500_CB_MIN_ARTICLES` articles (200).
3. `summarize` (runs even when shards failed) writes each shard's final status into the
   manifest.

**Execution** (`SP500_BACKFILL_EXECUTION`, else `SP500_EXECUTION`, read when the file is
parsed): `local` (in the worker), `docker` (ETL image, DockerOperator) or `batch` (AWS Batch
job: queue and job definition from the Airflow Variables `sp500_batch_job_queue` and
`sp500_batch_job_definition`; the lake must be on S3). The argv is the same in all three.
At most `SP500_BACKFILL_CONCURRENCY` shards (2) of a run score at once. A failed shard
retries (twice) from its checkpoint; a new run over the same dates scores only what is
still missing, the articles that failed before included.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from airflow.sdk import Param, TriggerRule, dag, task, task_group

from src_clean.orchestration import backfill_tasks
from src_clean.orchestration.backfill_tasks import SHARD_UNITS, BackfillParams
from src_clean.orchestration.dag_settings import parse_settings
from src_clean.orchestration.stage_task import stage_task
from src_clean.orchestration.task_policy import default_args

EXECUTION = backfill_tasks.execution_mode()
CONCURRENCY = backfill_tasks.shard_concurrency()
SETTINGS = parse_settings(validate=False)  # the shards' mode is EXECUTION, checked by plan
DEFAULTS = BackfillParams()
SHARD_DOC = (
    "Score one shard with `backfill-shard` (checkpointed, resumable, circuit breaker); "
    f"execution mode `{EXECUTION}`."
)


def shard_task(argv: Any) -> Any:
    """The task scoring one shard in the configured execution mode."""
    return stage_task(
        "score_shard",
        argv,
        settings=SETTINGS,
        execution=EXECUTION,
        doc_md=SHARD_DOC,
        max_active_tis_per_dagrun=CONCURRENCY,
    )


@dag(
    dag_id="sp500_sentiment_backfill",
    schedule=None,
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["sp500", "sentiment", "backfill", EXECUTION],
    doc_md=__doc__,
    params={
        "start": Param(
            DEFAULTS.start,
            type=["null", "string"],
            format="date",
            description="First UTC date to score (inclusive); required.",
        ),
        "end": Param(
            DEFAULTS.end,
            type=["null", "string"],
            format="date",
            description="Last UTC date to score (inclusive); required.",
        ),
        "sentiment_model": Param(
            DEFAULTS.sentiment_model,
            type=["null", "string"],
            description="Hub id, local folder or `lexicon`; empty: SP500_SENTIMENT_MODEL.",
        ),
        "checkpoint_every": Param(
            DEFAULTS.checkpoint_every,
            type="integer",
            minimum=1,
            description="Articles per chunk: scores and checkpoint are written after each.",
        ),
        "shard": Param(
            DEFAULTS.shard, enum=list(SHARD_UNITS), description="Shard length: month or day."
        ),
    },
)
def sp500_sentiment_backfill() -> None:
    plan = task(backfill_tasks.plan)(EXECUTION)

    @task_group
    def shard(argv: Sequence[str]) -> None:
        """One mapped group per shard (the argv is resolved when the task runs)."""
        shard_task(argv)

    summarize = task(trigger_rule=TriggerRule.ALL_DONE)(backfill_tasks.summarize)()
    shard.expand(argv=plan) >> summarize


sp500_sentiment_backfill()
