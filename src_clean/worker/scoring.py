"""One queued raw article file to headline sentiment scores in silver and a curated file.

``s3://<bucket>/raw/text/<name>`` (``.json``, ``.jsonl``, ``.ndjson``, optionally ``.gz``) is
parsed with the bronze news parser (same field aliases, timestamps, article ids and
record rules as ``bronze-news``), deduplicated on ``article_id`` (last wins) and scored
on the headline. The scores are upserted into ``silver/news/sentiment`` of the worker's
lake (default ``s3://<bucket>``), keyed on (article_id, model_id) like the batch stage,
and written to ``curated/sentiment/<name>.parquet`` (the whole input name kept, so
``a.jsonl``, ``a.jsonl.gz`` and ``a.json`` never share an output) with the columns of
``silver/news/sentiment`` plus ``source_key``. Rewriting either is idempotent.

Bad records are quarantined in ``quarantine/silver/news/sentiment`` (contract C2) and the
rest scored. A file fails (``PoisonedFileError``) only when it yields no valid article:
it cannot be decompressed or decoded, holds no article, or every record is rejected
(those are quarantined too). A read error (S3, network) is an ``OSError``: retried.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

import pandas as pd

from src_clean import settings, tables
from src_clean.data_pipelines.bronze.news_fields import to_articles
from src_clean.data_pipelines.bronze.news_formats import SUFFIXES, ParsedFile, parse_news_file
from src_clean.data_pipelines.bronze.quarantine import Rejected, write_quarantine
from src_clean.data_pipelines.bronze.sources import list_input_files
from src_clean.data_pipelines.silver.scoring.base import Scorer
from src_clean.data_pipelines.silver.sentiment import (
    SENTIMENT_COLUMNS,
    score_articles,
    store_scores,
)
from src_clean.lake import Lake

CURATED_PREFIX = "curated/sentiment/"
CURATED_COLUMNS = [*SENTIMENT_COLUMNS, "source_key"]
QUARANTINE_TABLE = tables.SILVER_SENTIMENT  # quarantine/silver/news/sentiment
TRANSIENT_FAILURES = ("unreadable",)  # file-level reasons worth another attempt


class PoisonedFileError(ValueError):
    """The file can never be scored (not a news file, not decodable, no valid article)."""


@dataclass(frozen=True)
class ScoredFile:
    """Where the scores went and how many records were scored or rejected."""

    output_key: str
    record_count: int
    rejected_count: int


def curated_key(raw_key: str, raw_prefix: str | None = None) -> str:
    """``raw/text/<name>`` -> ``curated/sentiment/<name>.parquet`` (the whole name kept).

    The raw prefix is ``raw_prefix``, else the run's setting (``SP500_RAW_TEXT_PREFIX``,
    default ``raw/text/``): the prefix the Airflow side queues files under.
    """
    prefix = raw_prefix or settings.current().raw_text_prefix
    if not raw_key.startswith(prefix) or raw_key == prefix:
        raise PoisonedFileError(f"{raw_key} is not a file under {prefix}")
    return f"{CURATED_PREFIX}{raw_key.removeprefix(prefix)}.parquet"


def _rejection_summary(reasons: Counter[str]) -> str:
    if not reasons:
        return "nothing decodable (empty file)"
    counts = ", ".join(f"{reason}={count}" for reason, count in sorted(reasons.items()))
    return f"{reasons.total()} record(s) rejected ({counts})"


def _parse(uri: str) -> ParsedFile:
    files = list_input_files(uri, SUFFIXES)
    if not files:
        raise PoisonedFileError(f"{uri}: not a news file (expected one of {', '.join(SUFFIXES)})")
    parsed = parse_news_file(files[0])
    if parsed.failure and parsed.failure.reason in TRANSIENT_FAILURES:
        raise OSError(f"{uri}: {parsed.failure.reason}: {parsed.failure.raw}")
    return parsed


def read_articles(bucket: str, key: str) -> tuple[pd.DataFrame, list[Rejected]]:
    """The valid articles of one raw file (unique ids) and its rejections (records, and
    the file-level entry of a damaged file). Raises ``PoisonedFileError`` when no article
    is valid, after the caller had no chance to quarantine: see ``score_file``."""
    uri = f"s3://{bucket}/{key}"
    parsed = _parse(uri)
    articles, invalid = to_articles(parsed.rows)
    rejected = [*parsed.rejected, *invalid]
    entries = [e for e in (parsed.failure, parsed.truncated) if e is not None]
    if articles.empty:
        detail = (
            f"{parsed.failure.reason}: {parsed.failure.raw}"
            if parsed.failure
            else parsed.skipped or _rejection_summary(Counter(r.reason for r in rejected))
        )
        raise _Unscorable(f"no valid article in {uri}: {detail}", [*rejected, *entries])
    return articles.drop_duplicates("article_id", keep="last"), [*rejected, *entries]


class _Unscorable(PoisonedFileError):
    """A poisoned file whose rejections still need to be quarantined."""

    def __init__(self, message: str, rejected: list[Rejected]) -> None:
        super().__init__(message)
        self.rejected = rejected


def score_file(
    bucket: str,
    key: str,
    scorer: Scorer,
    lake: Lake | None = None,
    run_ts: dt.datetime | None = None,
) -> ScoredFile:
    """Score the headlines of ``s3://bucket/key`` into silver and the curated file.

    ``lake`` defaults to ``s3://bucket``; rejected records are quarantined there even
    when the file fails.
    """
    output_key = curated_key(key)
    lake = lake or Lake(f"s3://{bucket}")
    run_ts = run_ts or dt.datetime.now(dt.UTC)
    try:
        articles, rejected = read_articles(bucket, key)
    except _Unscorable as exc:
        write_quarantine(lake, QUARANTINE_TABLE, exc.rejected, run_ts)
        raise
    write_quarantine(lake, QUARANTINE_TABLE, rejected, run_ts)
    rows = score_articles(articles, scorer, "headline").assign(source_key=key)
    store_scores(lake, rows[SENTIMENT_COLUMNS])
    Lake(f"s3://{bucket}").files.write_parquet(output_key, rows[CURATED_COLUMNS])
    records = [r for r in rejected if r.record_number > 0]
    return ScoredFile(output_key=output_key, record_count=len(rows), rejected_count=len(records))
