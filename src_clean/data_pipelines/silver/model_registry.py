"""Which ``model_id`` each ``--sentiment-model`` spec resolved to, for gold to find its scores.

``silver-sentiment --sentiment-model ProsusAI/finbert`` scores under the checkpoint's
``model_id`` (``ProsusAI/finbert@<sha>``), or under the lexicon's when a demo fell back;
``gold-news --sentiment-model ProsusAI/finbert`` reads the scores of that same model id.

One small JSON file per spec (``silver/news/sentiment/_models/<sha256 of spec>.json``),
replaced whole by an atomic write: concurrent writers (backfill shards, the daily stage)
never read-modify-write a shared document, so no entry is ever lost, on a local lake or on
S3. The single ``_models.json`` of earlier versions is still read for specs not recorded
since.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from src_clean.lake import Lake
from src_clean.tables import SENTIMENT_MODELS, SILVER_SENTIMENT

log = logging.getLogger(__name__)

REGISTRY = f"{SILVER_SENTIMENT}/_models"


@dataclass(frozen=True)
class ResolvedModel:
    """What one ``--sentiment-model`` resolved to when it was last loaded."""

    sentiment_model: str
    model_id: str
    fell_back_to_lexicon: bool

    def to_json(self) -> dict[str, Any]:
        """The registry file's document (``spec`` names the sentiment model there)."""
        return {
            "spec": self.sentiment_model,
            "model_id": self.model_id,
            "fell_back_to_lexicon": self.fell_back_to_lexicon,
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> ResolvedModel:
        return cls(document["spec"], document["model_id"], document["fell_back_to_lexicon"])


def _path(sentiment_model: str) -> str:
    return f"{REGISTRY}/{hashlib.sha256(sentiment_model.encode()).hexdigest()[:32]}.json"


def record(lake: Lake, resolved: ResolvedModel) -> None:
    """Remember what ``resolved.sentiment_model`` loaded as (one atomic file write)."""
    lake.files.write_json(_path(resolved.sentiment_model), resolved.to_json())


def lookup(lake: Lake, sentiment_model: str) -> ResolvedModel | None:
    """What ``sentiment_model`` last resolved to; None if it was never recorded."""
    if lake.files.exists(_path(sentiment_model)):
        return ResolvedModel.from_json(lake.files.read_json(_path(sentiment_model)))
    return _legacy(lake).get(sentiment_model)


def recorded(lake: Lake) -> dict[str, ResolvedModel]:
    """Every recorded sentiment model."""
    entries = _legacy(lake)
    for path in lake.files.list(REGISTRY):
        entry = ResolvedModel.from_json(lake.files.read_json(path))
        entries[entry.sentiment_model] = entry
    return entries


def model_id_for_spec(lake: Lake, sentiment_model: str) -> str:
    """The ``model_id`` that ``silver-sentiment --sentiment-model <sentiment_model>`` last
    scored with."""
    entry = lookup(lake, sentiment_model)
    if entry is None:
        raise ValueError(
            f"no sentiment run recorded for --sentiment-model {sentiment_model!r} in "
            f"{REGISTRY}; run silver-sentiment with it first (recorded: {sorted(recorded(lake))})"
        )
    if entry.fell_back_to_lexicon:
        log.warning("%r fell back to the lexicon scorer: using %s", sentiment_model, entry.model_id)
    return entry.model_id


def _legacy(lake: Lake) -> dict[str, ResolvedModel]:
    if not lake.files.exists(SENTIMENT_MODELS):
        return {}
    doc = lake.files.read_json(SENTIMENT_MODELS)
    return {
        sentiment_model: ResolvedModel(
            sentiment_model, entry["model_id"], entry["fell_back_to_lexicon"]
        )
        for sentiment_model, entry in doc.items()
    }
