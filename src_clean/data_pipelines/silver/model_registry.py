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
from dataclasses import asdict, dataclass

from src_clean.lake import Lake
from src_clean.tables import SENTIMENT_MODELS, SILVER_SENTIMENT

log = logging.getLogger(__name__)

REGISTRY = f"{SILVER_SENTIMENT}/_models"


@dataclass(frozen=True)
class ResolvedModel:
    """What one spec resolved to when it was last loaded."""

    spec: str
    model_id: str
    fell_back_to_lexicon: bool


def _path(spec: str) -> str:
    return f"{REGISTRY}/{hashlib.sha256(spec.encode()).hexdigest()[:32]}.json"


def record(lake: Lake, resolved: ResolvedModel) -> None:
    """Remember what ``resolved.spec`` loaded as (one atomic file write)."""
    lake.files.write_json(_path(resolved.spec), asdict(resolved))


def lookup(lake: Lake, spec: str) -> ResolvedModel | None:
    """What ``spec`` last resolved to; None if it was never recorded."""
    if lake.files.exists(_path(spec)):
        return ResolvedModel(**lake.files.read_json(_path(spec)))
    return _legacy(lake).get(spec)


def recorded(lake: Lake) -> dict[str, ResolvedModel]:
    """Every recorded spec."""
    entries = _legacy(lake)
    for path in lake.files.list(REGISTRY):
        entry = ResolvedModel(**lake.files.read_json(path))
        entries[entry.spec] = entry
    return entries


def model_id_for_spec(lake: Lake, spec: str) -> str:
    """The ``model_id`` that ``silver-sentiment --sentiment-model spec`` last scored with."""
    entry = lookup(lake, spec)
    if entry is None:
        raise ValueError(
            f"no sentiment run recorded for --sentiment-model {spec!r} in {REGISTRY}; "
            f"run silver-sentiment with it first (recorded: {sorted(recorded(lake))})"
        )
    if entry.fell_back_to_lexicon:
        log.warning("%r fell back to the lexicon scorer: using %s", spec, entry.model_id)
    return entry.model_id


def _legacy(lake: Lake) -> dict[str, ResolvedModel]:
    if not lake.files.exists(SENTIMENT_MODELS):
        return {}
    doc = lake.files.read_json(SENTIMENT_MODELS)
    return {spec: ResolvedModel(spec, **entry) for spec, entry in doc.items()}
