"""Sentiment scoring: one ``Scorer`` interface, its backends, and how a model is loaded.

Each module does one job; imports only go down this list:

- ``loading``: ``load_scorer``, the entry point (``--sentiment-model`` and a precision to
  a scorer). Torch-free: the lexicon and ONNX Runtime directly, the rest through
  ``torch_loading``, imported by name where torch is installed. The service uses it.
- ``torch_loading``: the torch side of a load (engine choice, missing exports, torch).
- ``engines``: ``--precision auto``, the fastest validated engine here, cached.
- ``export``: a checkpoint to ONNX fp32 and int8, validated (``export-onnx``'s library).
- ``download``: a hub checkpoint saved to a folder (``download-model``'s library).
- ``validation``: agreement with the torch fp32 reference; ``check_texts``: what on.
- ``hardware``: CUDA and CPU flags as torch sees them.
- ``transformers_backend`` (torch, with ``onednn``), ``onnx_backend``, ``lexicon_backend``.
- ``base``: the interface, the result frame, batching, precisions and file primitives.

This package's ``__init__`` imports ``base`` and ``loading`` only: no torch.
"""

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
