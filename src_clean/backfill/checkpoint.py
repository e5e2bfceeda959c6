"""A shard's checkpoint (progress, rewritten after every chunk) and its failures manifest.

The checkpoint reports progress; it is not what makes a resume safe. Scores are upserted
into silver/news/sentiment keyed on (article_id, model_id) before the checkpoint that
counts them is written, and a resumed shard skips every article that already has a row
for its model, so a kill at any point loses nothing and rescores at most the chunk that
was in flight.

``failures.jsonl`` is a log: one line per article the scorer failed on, over every attempt
of the run (an article that fails again on a resume gets a second line, with its ``ts``).
Failed articles have no silver row, so a resume tries them again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Literal

from src_clean.backfill.state import checkpoint_path, failures_path, read_jsonl, write_jsonl
from src_clean.lake import Lake

Status = Literal["running", "complete", "failed"]
MESSAGE_CHARS = 500


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """Progress of one shard attempt.

    ``articles_done`` counts the shard's articles with a silver row for ``model_id``
    (scored before this run included); ``failures`` the articles this attempt failed on.
    A ``complete`` shard has ``articles_done + failures == articles_total``.
    """

    run_id: str
    shard_id: str
    start: str
    end: str
    model_id: str | None
    status: Status
    articles_total: int
    articles_done: int
    failures: int
    last_article_id: str | None
    reason: str | None
    updated_at: str


@dataclasses.dataclass(frozen=True)
class Failure:
    """One article the scorer raised on."""

    article_id: str
    error_type: str
    message: str
    ts: str

    @classmethod
    def of(cls, article_id: str, error: BaseException) -> Failure:
        message = str(error)[:MESSAGE_CHARS]
        return cls(str(article_id), type(error).__name__, message, utc_now())


class ShardState:
    """The checkpoint and failures manifest of one shard of one run."""

    def __init__(
        self,
        lake: Lake,
        run_id: str,
        shard_id: str,
        previous: Checkpoint | None,
        failures: list[Failure],
    ) -> None:
        self.lake = lake
        self.checkpoint_path = checkpoint_path(run_id, shard_id)
        self.failures_path = failures_path(run_id, shard_id)
        self.previous = previous
        self.failures = failures
        self._unsaved_failures = False

    @classmethod
    def open(cls, lake: Lake, run_id: str, shard_id: str) -> ShardState:
        """The shard's state as earlier attempts left it: last checkpoint, failures logged."""
        previous = load_checkpoint(lake, run_id, shard_id)
        return cls(lake, run_id, shard_id, previous, load_failures(lake, run_id, shard_id))

    def add_failure(self, failure: Failure) -> None:
        self.failures.append(failure)
        self._unsaved_failures = True

    def save(self, checkpoint: Checkpoint) -> None:
        """Write the failures manifest (when it changed), then the checkpoint."""
        if self._unsaved_failures:
            write_jsonl(self.lake, self.failures_path, map(dataclasses.asdict, self.failures))
            self._unsaved_failures = False
        self.lake.files.write_json(self.checkpoint_path, dataclasses.asdict(checkpoint))


def load_checkpoint(lake: Lake, run_id: str, shard_id: str) -> Checkpoint | None:
    """The shard's last checkpoint, or None if it never started."""
    path = checkpoint_path(run_id, shard_id)
    return Checkpoint(**lake.files.read_json(path)) if lake.files.exists(path) else None


def load_failures(lake: Lake, run_id: str, shard_id: str) -> list[Failure]:
    """Every failure logged for the shard, oldest first."""
    return [Failure(**record) for record in read_jsonl(lake, failures_path(run_id, shard_id))]
