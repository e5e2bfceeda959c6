"""``python -m src_clean sentiment-worker``: the long-running scoring worker (GPU boxes).

Polls the DynamoDB table ``--table`` for ``PENDING_SENTIMENT`` jobs, scores each raw file
with one warm model, upserts the scores into ``silver/news/sentiment`` of ``--lake``
(default: the job's bucket) and writes ``curated/sentiment/<name>.parquet`` to the job's
bucket; bad records go to ``quarantine/silver/news/sentiment``.
AWS settings come from the standard environment (``AWS_ENDPOINT_URL`` for MinIO/moto);
logs are JSON lines on stderr, the final summary one line on stdout. SIGTERM and SIGINT
finish the current job (or release it after ``--grace-seconds``) and exit 0. Deployed as
``deploy/systemd/sp500-sentiment-worker.service``.
"""

from __future__ import annotations

import argparse
import os
import socket

from src_clean import aws, settings
from src_clean.cli_args import lake_root
from src_clean.data_pipelines.silver import sentiment as sentiment_stage
from src_clean.data_pipelines.silver.scoring.loading import (
    LEXICON,
    ModelUnavailableError,
    load_scorer,
)
from src_clean.lake import Lake
from src_clean.worker.jobs import JobQueue
from src_clean.worker.logs import JsonLog
from src_clean.worker.runner import Worker, WorkerConfig, stop_on_signals


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--table", required=True, help="DynamoDB jobs table")
    parser.add_argument(
        "--bucket", default=None, help="bucket for jobs that carry no bucket attribute"
    )
    parser.add_argument(
        "--lake",
        type=lake_root,
        default=None,
        help="lake root for silver/news/sentiment and quarantine (default: s3://<job bucket>)",
    )
    parser.add_argument(
        "--sentiment-model",
        default=settings.current().sentiment_model,
        help=f"hub id, local checkpoint folder, or '{LEXICON}' (default: %(default)s)",
    )
    parser.add_argument(
        "--once", action="store_true", help="process the jobs claimable now, then exit"
    )
    parser.add_argument("--poll-seconds", type=float, default=5.0, help="idle wait between polls")
    parser.add_argument(
        "--lease-seconds", type=float, default=900.0, help="claim lease; must exceed a job's time"
    )
    parser.add_argument(
        "--grace-seconds",
        type=float,
        default=30.0,
        help="after SIGTERM, how long the current job may run before it is released",
    )
    parser.add_argument(
        "--max-attempts", type=int, default=3, help="claims of a job before an error fails it"
    )
    parser.add_argument(
        "--worker-id",
        default=f"{socket.gethostname()}-{os.getpid()}",
        help="name in job records and logs (default: host-pid)",
    )
    sentiment_stage.add_batching_arguments(parser)


def main(args: argparse.Namespace) -> int:
    log = JsonLog(worker_id=args.worker_id)
    try:
        options = {**sentiment_stage.batching_options(args), "progress": False}
        scorer = (  # with a fixed lake, the engine its silver scores have (one id per model)
            sentiment_stage.load_recorded_scorer(Lake(args.lake), args.sentiment_model, **options)
            if args.lake
            else load_scorer(args.sentiment_model, **options)
        )
    except ModelUnavailableError as exc:
        log.error("model_unavailable", error=str(exc))
        return 1
    config = WorkerConfig(
        worker_id=args.worker_id,
        lease_seconds=args.lease_seconds,
        poll_seconds=args.poll_seconds,
        grace_seconds=args.grace_seconds,
        max_attempts=args.max_attempts,
        default_bucket=args.bucket,
        lake=args.lake,
    )
    worker = Worker(JobQueue(aws.client("dynamodb"), args.table), scorer, config, log)
    with stop_on_signals(worker):
        stats = worker.run(once=args.once)
    print(stats.summary(args.worker_id))
    return 0
