"""The worker loop: poll the queue, claim one job, score it with a warm model, record the result.

Each job runs in a helper thread while the loop watches for a stop request (SIGTERM via
``stop_on_signals``). After a stop request the current job may finish within
``grace_seconds``; past that it is released back to ``PENDING_SENTIMENT`` for another
worker, and the loop exits. Every write that ends a job is conditioned on this worker
still holding the lease it claimed, so a job whose lease expired and was reclaimed
elsewhere is never recorded twice. The lease must therefore exceed the longest job.

Failures: a poisoned file (``PoisonedFileError``) fails at once; any other error (S3 or
network trouble) releases the job for another try until it has been claimed
``max_attempts`` times, then fails it. ``error_message`` says why. If the outcome cannot
be recorded (DynamoDB unreachable), the job stays RUNNING until its lease expires and
another worker takes it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import FrameType

from src_clean.data_pipelines.silver.scoring.base import Scorer
from src_clean.lake import Lake
from src_clean.worker.jobs import Job, JobQueue
from src_clean.worker.logs import JsonLog
from src_clean.worker.scoring import PoisonedFileError, ScoredFile, score_file

WATCH_SECONDS = 0.05  # how often the loop checks a running job against a stop request


@dataclass
class WorkerStats:
    """Job ids by outcome for one run of the worker."""

    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)

    def summary(self, worker_id: str) -> str:
        return (
            f"sentiment-worker {worker_id}: done={len(self.done)} failed={len(self.failed)} "
            f"retried={len(self.retried)} released={len(self.released)} lost={len(self.lost)}"
        )


@dataclass(frozen=True)
class WorkerConfig:
    """How one worker claims and runs jobs."""

    worker_id: str
    lease_seconds: float = 900.0
    poll_seconds: float = 5.0
    grace_seconds: float = 30.0
    max_attempts: int = 3
    default_bucket: str | None = None
    lake: str | None = None  # lake root for silver and quarantine; None: s3://<job bucket>


def _aws_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return BotoCoreError, ClientError


class Worker:
    """Scores queued files one at a time with one warm ``scorer``."""

    def __init__(
        self, queue: JobQueue, scorer: Scorer, config: WorkerConfig, log: JsonLog | None = None
    ) -> None:
        self.queue = queue
        self.scorer = scorer
        self.config = config
        self.log = log or JsonLog(worker_id=config.worker_id)
        self.stats = WorkerStats()
        self._stop = threading.Event()
        self._stop_requested_at: float | None = None

    def stop(self) -> None:
        """Ask the loop to finish the current job (within the grace period) and exit."""
        if not self._stop.is_set():
            self._stop_requested_at = time.monotonic()
            self._stop.set()
            self.log.info("stop_requested", grace_seconds=self.config.grace_seconds)

    def run(self, *, once: bool = False) -> WorkerStats:
        """Work until stopped; with ``once``, until no job is claimable."""
        self.log.info("worker_started", model_id=self.scorer.model_id, table=self.queue.table)
        while not self._stop.is_set():
            job = self._poll(once=once)
            if job is not None:
                self._run_job(job)
            elif once:
                break
            else:
                self._stop.wait(self.config.poll_seconds)
        self.log.info("worker_stopped", **{k: len(v) for k, v in vars(self.stats).items()})
        return self.stats

    def _poll(self, *, once: bool) -> Job | None:
        """Claim the first claimable job; queue errors are logged (raised with ``once``)."""
        try:
            return self._claim_next()
        except _aws_errors() as exc:
            if once:
                raise
            self.log.error("poll_failed", error=f"{type(exc).__name__}: {exc}")
            return None

    def _claim_next(self) -> Job | None:
        for candidate in self.queue.claimable():
            job = self.queue.claim(candidate, self.config.worker_id, self.config.lease_seconds)
            if job is not None:
                self.log.info("job_claimed", **_job_fields(job), attempt=job.attempts)
                return job
        return None

    def _grace_expired(self) -> bool:
        started = self._stop_requested_at
        return started is not None and time.monotonic() - started > self.config.grace_seconds

    def _run_job(self, job: Job) -> None:
        """Run ``job`` in a helper thread; release it if a stop's grace period runs out."""
        finished = threading.Event()
        thread = threading.Thread(
            target=self._process, args=(job, finished), name=f"job-{job.job_id[:8]}", daemon=True
        )
        thread.start()
        while not finished.wait(WATCH_SECONDS):
            if self._grace_expired():
                released = self.queue.release(job)
                self._record(job, released, "job_released", self.stats.released, "WARNING")
                return

    def _process(self, job: Job, finished: threading.Event) -> None:
        """Score one job and record the outcome (runs in the job thread)."""
        try:
            self._score_and_record(job)
        except _aws_errors() as exc:  # the job stays RUNNING; its lease expires, then a retry
            self.log.error(
                "record_failed", **_job_fields(job), error=f"{type(exc).__name__}: {exc}"
            )
        finally:
            finished.set()

    def _score_and_record(self, job: Job) -> None:
        began = time.perf_counter()
        try:
            bucket = job.bucket or self.config.default_bucket
            if not bucket:
                raise PoisonedFileError("job has no bucket and the worker has no --bucket")
            lake = Lake(self.config.lake) if self.config.lake else None
            scored = score_file(bucket, job.key, self.scorer, lake)
        except PoisonedFileError as exc:
            self._fail(job, str(exc))
        except Exception as exc:  # any other error: retry, then fail (module doc)
            self._retry_or_fail(job, f"{type(exc).__name__}: {exc}")
        else:
            self._complete(job, scored, latency_ms=round((time.perf_counter() - began) * 1000))

    def _complete(self, job: Job, scored: ScoredFile, latency_ms: int) -> None:
        results = {
            "record_count": scored.record_count,
            "rejected_count": scored.rejected_count,
            "latency_ms": latency_ms,
            "output_key": scored.output_key,
            "model_id": self.scorer.model_id,
        }
        ok = self.queue.complete(job, results)
        self._record(job, ok, "job_done", self.stats.done, **results)

    def _fail(self, job: Job, message: str) -> None:
        ok = self.queue.fail(job, message)
        self._record(job, ok, "job_failed", self.stats.failed, "ERROR", error_message=message)

    def _retry_or_fail(self, job: Job, message: str) -> None:
        if job.attempts >= self.config.max_attempts:
            self._fail(job, f"gave up after {job.attempts} attempts: {message}")
            return
        ok = self.queue.release(job)
        self._record(job, ok, "job_retry", self.stats.retried, "WARNING", error_message=message)

    def _record(
        self,
        job: Job,
        ok: bool,
        event: str,
        outcome: list[str],
        level: str = "INFO",
        **fields: object,
    ) -> None:
        """Log ``event`` and count the job, or log that its lease was lost meanwhile."""
        if ok:
            outcome.append(job.job_id)
            self.log.emit(level, event, **_job_fields(job), **fields)
            return
        self.stats.lost.append(job.job_id)
        self.log.warning("lease_lost", **_job_fields(job), attempted=event)


def _job_fields(job: Job) -> dict[str, str | None]:
    return {"job_id": job.job_id, "s3_key": job.key, "bucket": job.bucket}


@contextlib.contextmanager
def stop_on_signals(worker: Worker) -> Iterator[None]:
    """Route SIGTERM and SIGINT to ``worker.stop()`` (main thread only); restore on exit."""

    def handle(signum: int, frame: FrameType | None) -> None:
        worker.stop()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
