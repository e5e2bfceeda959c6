"""Resolve ``--sentiment-model`` (hub id, local folder or ``lexicon``) to a scorer."""

from __future__ import annotations

import logging
from typing import Any

from src_clean.data_pipelines.silver.sentiment.base import Scorer

logger = logging.getLogger(__name__)

DEFAULT_SENTIMENT_MODEL = "ProsusAI/finbert"
LEXICON = "lexicon"
FIX_HINT = (
    "run `python -m src_clean download-model --model ProsusAI/finbert --out models/` on a "
    "machine with internet, then pass `--sentiment-model models/ProsusAI__finbert`, or set "
    "HF_HUB_OFFLINE=1 with a populated HF cache"
)


class ModelUnavailableError(RuntimeError):
    """The requested checkpoint cannot be loaded here (not cached, no network, no torch)."""


def load_scorer(model: str, *, demo_fallback: bool = False, **opts: Any) -> Scorer:
    """The scorer for ``model``: ``"lexicon"``, a local checkpoint folder, or a hub id.

    ``opts`` go to ``TransformersScorer`` (batch_size, device, precision, revision, ...).
    If the checkpoint cannot be loaded, ``demo_fallback`` logs a loud warning and returns
    the lexicon scorer; otherwise ``ModelUnavailableError`` says how to fix it. A checkpoint
    that loads but is not a sentiment classifier raises ``ValueError`` either way.
    """
    from src_clean.data_pipelines.silver.sentiment.lexicon_backend import LexiconScorer

    if model == LEXICON:
        return LexiconScorer()
    try:
        from src_clean.data_pipelines.silver.sentiment.transformers_backend import (
            TransformersScorer,
        )

        return TransformersScorer(model, **opts)
    except (OSError, ImportError) as exc:
        if not demo_fallback:
            raise ModelUnavailableError(
                f"cannot load sentiment model {model!r}: {exc}\nFix: {FIX_HINT}"
            ) from exc
        logger.warning(fallback_banner(model, exc))
        return LexiconScorer()


def fallback_banner(model: str, error: BaseException) -> str:
    """The multi-line warning logged when the demo falls back to the lexicon scorer."""
    rule = "!" * 78
    return "\n".join(
        [
            rule,
            f"SENTIMENT MODEL {model!r} IS NOT AVAILABLE: {type(error).__name__}: {error}",
            "FALLING BACK TO THE LEXICON SCORER (VADER + Loughran-McDonald) FOR A DEMO RUN.",
            "Its scores are a weak baseline, stored under their own model_id, not FinBERT's.",
            f"Fix: {FIX_HINT}.",
            rule,
        ]
    )
