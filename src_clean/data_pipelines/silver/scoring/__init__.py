"""Sentiment scoring: one ``Scorer`` interface, a transformers and a lexicon backend."""

from __future__ import annotations

from src_clean.data_pipelines.silver.scoring.base import (
    LABELS,
    RESULT_COLUMNS,
    TEXT_MODES,
    Scorer,
    TextMode,
    article_texts,
)
from src_clean.data_pipelines.silver.scoring.loading import (
    DEFAULT_SENTIMENT_MODEL,
    LEXICON,
    ModelUnavailableError,
    load_scorer,
)

__all__ = [
    "DEFAULT_SENTIMENT_MODEL",
    "LABELS",
    "LEXICON",
    "RESULT_COLUMNS",
    "TEXT_MODES",
    "ModelUnavailableError",
    "Scorer",
    "TextMode",
    "article_texts",
    "load_scorer",
]
