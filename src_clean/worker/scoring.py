"""One queued raw article file to one curated Parquet file of headline sentiment scores.

``s3://<bucket>/raw/text/<stem>.jsonl[.gz]`` is parsed with the bronze news parser (same
field aliases, timestamps and article ids as ``bronze-news``), deduplicated on
``article_id`` (last wins), scored on the headline and written to
``s3://<bucket>/curated/sentiment/<stem>.parquet`` with the columns of
``silver/news/sentiment`` plus ``source_key``. Rewriting the output is idempotent.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pandas as pd

from src_clean.data_pipelines.bronze.news_fields import to_articles
from src_clean.data_pipelines.bronze.news_formats import SUFFIXES, parse_news_file
from src_clean.data_pipelines.bronze.sources import list_input_files
from src_clean.data_pipelines.silver.sentiment.base import Scorer
from src_clean.data_pipelines.silver.sentiment_stage import SENTIMENT_COLUMNS, score_articles
from src_clean.lake import Lake
from src_clean.orchestration.settings import Settings

RAW_PREFIX = Settings.model_fields["raw_text_prefix"].default
CURATED_PREFIX = "curated/sentiment/"
CURATED_COLUMNS = [*SENTIMENT_COLUMNS, "source_key"]


class PoisonedFileError(ValueError):
    """The file can never be scored (not a news file, not decodable, no valid article)."""


@dataclass(frozen=True)
class ScoredFile:
    """Where the scores went and how many records were scored or rejected."""

    output_key: str
    record_count: int
    rejected_count: int


def curated_key(raw_key: str) -> str:
    """``raw/text/<stem>.jsonl.gz`` -> ``curated/sentiment/<stem>.parquet``."""
    if not raw_key.startswith(RAW_PREFIX):
        raise PoisonedFileError(f"{raw_key} is not under {RAW_PREFIX}")
    stem = raw_key.removeprefix(RAW_PREFIX)
    suffix = next((s for s in sorted(SUFFIXES, key=len, reverse=True) if stem.endswith(s)), "")
    return f"{CURATED_PREFIX}{stem.removesuffix(suffix)}.parquet"


def _rejection_summary(reasons: Counter[str]) -> str:
    if not reasons:
        return "nothing decodable (empty file or invalid gzip)"
    counts = ", ".join(f"{reason}={count}" for reason, count in sorted(reasons.items()))
    return f"{reasons.total()} record(s) rejected ({counts})"


def read_articles(bucket: str, key: str) -> tuple[pd.DataFrame, int]:
    """The valid articles of one raw file (unique ids) and the number of rejected records."""
    uri = f"s3://{bucket}/{key}"
    files = list_input_files(uri, SUFFIXES)
    if not files:
        raise PoisonedFileError(f"{uri}: not a news file (expected one of {', '.join(SUFFIXES)})")
    parsed = parse_news_file(files[0])
    articles, invalid = to_articles(parsed.rows)
    rejected = [*parsed.rejected, *invalid]
    if articles.empty:
        detail = parsed.skipped or _rejection_summary(Counter(r.reason for r in rejected))
        raise PoisonedFileError(f"no valid article in {uri}: {detail}")
    return articles.drop_duplicates("article_id", keep="last"), len(rejected)


def score_file(bucket: str, key: str, scorer: Scorer) -> ScoredFile:
    """Score the headlines of ``s3://bucket/key`` and write the curated Parquet file."""
    output_key = curated_key(key)
    articles, rejected = read_articles(bucket, key)
    rows = score_articles(articles, scorer, "headline").assign(source_key=key)
    Lake(f"s3://{bucket}").write_parquet(output_key, rows[CURATED_COLUMNS])
    return ScoredFile(output_key=output_key, record_count=len(rows), rejected_count=rejected)
