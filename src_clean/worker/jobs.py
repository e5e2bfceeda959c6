"""The DynamoDB job queue of raw article files waiting for sentiment scores.

Table layout (``create_jobs_table``; the same call creates the production table):

- ``pk`` (hash key): the job id, ``sha256(bucket, key, etag)`` truncated, so enqueueing the
  same object version twice is a no-op (conditional put ``attribute_not_exists(pk)``)
  while a rewritten object gets a new job.
- ``sk`` (range key): the S3 key of the raw JSONL / JSONL.gz file under ``raw/text/``.
- ``bucket``, ``etag``, ``status``, ``created_at`` (ISO 8601 UTC), ``updated_at``,
  ``attempts``; while running ``worker_id`` and ``lease_expires_at`` (epoch seconds);
  when done ``record_count``, ``rejected_count``, ``latency_ms``, ``output_key``; when
  failed ``error_message``.
- Global secondary index ``status-index``: hash ``status``, range ``created_at``, all
  attributes projected. Workers query it for ``PENDING_SENTIMENT`` jobs, oldest first,
  and for ``RUNNING`` jobs whose lease has expired, instead of scanning the table. A
  status-keyed index concentrates reads on a few keys, which is fine for a queue of
  files (tens of writes a minute, not thousands a second). The index is eventually
  consistent: it only nominates candidates, and every claim is a conditional update
  on the table itself.

Status transitions, each a conditional update, so exactly one worker wins a job:
``PENDING_SENTIMENT -> RUNNING`` (claim), ``RUNNING -> RUNNING`` (reclaim after the lease
expired, conditioned on the old lease), and ``RUNNING -> DONE | FAILED | PENDING_SENTIMENT``
(complete, fail, release), conditioned on the worker still holding the same lease.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

PENDING = "PENDING_SENTIMENT"
RUNNING = "RUNNING"
DONE = "DONE"
FAILED = "FAILED"
STATUS_INDEX = "status-index"
MAX_ERROR_CHARS = 2000
CANDIDATES_PER_POLL = 25
STATUS_NAME = {"#status": "status"}  # "status" is a DynamoDB reserved word


def make_job_id(bucket: str, key: str, etag: str) -> str:
    """The id of one version of one object: stable across reruns, new when the file changes."""
    version = etag.strip('"')
    return hashlib.sha256(f"{bucket}\n{key}\n{version}".encode()).hexdigest()[:32]


def _iso(epoch_seconds: float) -> str:
    return dt.datetime.fromtimestamp(epoch_seconds, dt.UTC).isoformat(timespec="microseconds")


_SERIALIZER, _DESERIALIZER = TypeSerializer(), TypeDeserializer()


def _typed_values(values: Mapping[str, str | float]) -> dict[str, dict[str, str]]:
    """DynamoDB attribute values (boto3's serializer; it takes numbers as ``Decimal``)."""
    return {
        name: _SERIALIZER.serialize(Decimal(repr(value)) if isinstance(value, float) else value)
        for name, value in values.items()
    }


def _plain(value: Mapping[str, str]) -> str | float:
    """The Python value of one DynamoDB attribute (numbers: ``int`` or ``float``)."""
    plain = _DESERIALIZER.deserialize(value)
    if isinstance(plain, Decimal):
        return int(plain) if plain == plain.to_integral_value() else float(plain)
    return plain


@dataclass(frozen=True)
class Job:
    """One queued file and where it stands."""

    job_id: str
    key: str
    bucket: str | None
    status: str
    created_at: str = ""
    attempts: int = 0
    worker_id: str | None = None
    lease_expires_at: float | None = None
    record_count: int | None = None
    error_message: str | None = None

    @classmethod
    def from_item(cls, item: Mapping[str, Mapping[str, str]]) -> Job:
        values = {name: _plain(value) for name, value in item.items()}
        return cls(
            job_id=values["pk"],
            key=values["sk"],
            bucket=values.get("bucket"),
            status=values["status"],
            created_at=values.get("created_at", ""),
            attempts=values.get("attempts", 0),
            worker_id=values.get("worker_id"),
            lease_expires_at=values.get("lease_expires_at"),
            record_count=values.get("record_count"),
            error_message=values.get("error_message"),
        )

    @property
    def primary_key(self) -> dict[str, dict[str, str]]:
        return {"pk": {"S": self.job_id}, "sk": {"S": self.key}}


def create_jobs_table(client: Any, name: str) -> None:
    """Create the jobs table with its ``status-index`` (on-demand billing) and wait for it."""
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": attribute, "AttributeType": "S"}
            for attribute in ("pk", "sk", "status", "created_at")
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": STATUS_INDEX,
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    client.get_waiter("table_exists").wait(TableName=name)


class JobQueue:
    """Enqueue, find, claim and finish jobs in one DynamoDB table (one client per thread)."""

    def __init__(self, client: Any, table: str, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.table = table
        self.clock = clock

    def enqueue(self, bucket: str, key: str, etag: str) -> Job | None:
        """Queue one object version; ``None`` when that version was queued before."""
        now = _iso(self.clock())
        job = Job(make_job_id(bucket, key, etag), key, bucket, PENDING, created_at=now)
        item = {"pk": job.job_id, "sk": key, "bucket": bucket, "etag": etag}
        item |= {"status": PENDING, "created_at": now, "updated_at": now, "attempts": 0}
        try:
            self.client.put_item(
                TableName=self.table,
                Item=_typed_values(item),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return job

    def get(self, job_id: str, key: str) -> Job | None:
        """The job's current state (strongly consistent read)."""
        primary_key = {"pk": {"S": job_id}, "sk": {"S": key}}
        response = self.client.get_item(TableName=self.table, Key=primary_key, ConsistentRead=True)
        return Job.from_item(response["Item"]) if "Item" in response else None

    def _by_status(
        self, status: str, values: Mapping[str, str | float] | None = None, **query: Any
    ) -> list[Job]:
        """Jobs with ``status`` from the index, oldest first (``query``: Limit, filters)."""
        response = self.client.query(
            TableName=self.table,
            IndexName=STATUS_INDEX,
            KeyConditionExpression="#status = :status",
            ExpressionAttributeNames=STATUS_NAME,
            ExpressionAttributeValues=_typed_values({":status": status, **(values or {})}),
            **query,
        )
        return [Job.from_item(item) for item in response["Items"]]

    def claimable(self, limit: int = CANDIDATES_PER_POLL) -> list[Job]:
        """Pending jobs (oldest first), then running jobs whose lease has expired."""
        pending = self._by_status(PENDING, Limit=limit)
        expired = self._by_status(
            RUNNING, {":now": self.clock()}, FilterExpression="lease_expires_at < :now"
        )
        return pending + expired

    def _transition(
        self,
        job: Job,
        condition: str,
        update: str,
        values: Mapping[str, str | float],
        names: Mapping[str, str] | None = None,
    ) -> bool:
        """Apply ``update`` if ``condition`` holds; False when another writer got there first."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=job.primary_key,
                ConditionExpression=condition,
                UpdateExpression=update,
                ExpressionAttributeNames={**STATUS_NAME, **(names or {})},
                ExpressionAttributeValues=_typed_values(values),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def claim(self, job: Job, worker_id: str, lease_seconds: float) -> Job | None:
        """Take ``job`` for ``worker_id`` until the lease expires; ``None`` if someone else did."""
        now = self.clock()
        values: dict[str, str | float] = {":running": RUNNING, ":worker": worker_id}
        lease = round(now + lease_seconds, 3)
        values |= {":lease": lease, ":now": _iso(now), ":one": 1}
        if job.status == PENDING:
            condition = "#status = :pending"
            values[":pending"] = PENDING
        elif job.status == RUNNING and job.lease_expires_at is not None:
            condition = "#status = :running AND lease_expires_at = :old AND lease_expires_at < :t"
            values |= {":old": job.lease_expires_at, ":t": now}
        else:
            return None
        update = (
            "SET #status = :running, worker_id = :worker, lease_expires_at = :lease, "
            "updated_at = :now ADD attempts :one"
        )
        if not self._transition(job, condition, update, values):
            return None
        return replace(
            job,
            status=RUNNING,
            attempts=job.attempts + 1,
            worker_id=worker_id,
            lease_expires_at=lease,
        )

    def _finish(
        self,
        job: Job,
        update: str,
        values: Mapping[str, str | float],
        names: Mapping[str, str] | None = None,
    ) -> bool:
        """Apply ``update`` only while ``job`` (as claimed) still holds its lease."""
        condition = "#status = :running AND worker_id = :worker AND lease_expires_at = :lease"
        held = {":running": RUNNING, ":worker": job.worker_id or "", ":now": _iso(self.clock())}
        held[":lease"] = job.lease_expires_at or 0.0
        return self._transition(job, condition, update, {**held, **values}, names)

    def complete(self, job: Job, results: Mapping[str, str | float]) -> bool:
        """Mark ``job`` DONE with ``results`` (record_count, latency_ms, ...)."""
        placeholders = [f"r{i}" for i in range(len(results))]
        assignments = ", ".join(f"#{p} = :{p}" for p in placeholders)
        update = f"SET #status = :done, updated_at = :now, {assignments} REMOVE lease_expires_at"
        names = {f"#{p}": name for p, name in zip(placeholders, results, strict=True)}
        values = {f":{p}": value for p, value in zip(placeholders, results.values(), strict=True)}
        return self._finish(job, update, {":done": DONE, **values}, names)

    def fail(self, job: Job, message: str) -> bool:
        """Mark ``job`` FAILED with ``message`` (truncated)."""
        update = (
            "SET #status = :failed, updated_at = :now, error_message = :error "
            "REMOVE lease_expires_at"
        )
        values = {":failed": FAILED, ":error": message[:MAX_ERROR_CHARS] or "unknown error"}
        return self._finish(job, update, values)

    def release(self, job: Job) -> bool:
        """Hand ``job`` back to the queue (status PENDING_SENTIMENT) for another worker."""
        update = "SET #status = :pending, updated_at = :now REMOVE worker_id, lease_expires_at"
        return self._finish(job, update, {":pending": PENDING})
