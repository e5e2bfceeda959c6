"""The torch side of ``load_scorer``: what a checkpoint runs as where torch is installed.

``auto`` is ``engines.choose_engine`` (fp16 on CUDA, else the fastest validated engine
measured on this CPU, exports built and cached on the first run); an ONNX precision whose
export is missing (or asked for under ``--model-cache``) is exported first; ``fp32``,
``bf16`` and ``fp16`` run the checkpoint in torch (``TransformersScorer``).

``loading`` reaches this module by name, only with torch installed: the service imports
``loading`` and must reach no torch (the API image has none). The silver stage, the
worker and the backfill get here through ``loading`` as well.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from src_clean.data_pipelines.silver.scoring.base import Precision, Scorer, TextMode, is_onnx
from src_clean.data_pipelines.silver.scoring.engines import ExportCache, choose_engine
from src_clean.data_pipelines.silver.scoring.export import export_onnx as export_onnx
from src_clean.data_pipelines.silver.scoring.onnx_backend import onnx_scorer, read_manifest
from src_clean.data_pipelines.silver.scoring.transformers_backend import TransformersScorer


def neural_scorer(
    sentiment_model: str,
    precision: Precision,
    device: str,
    opts: dict[str, Any],
    text_mode: TextMode = "headline",
    model_cache: str | os.PathLike[str] | None = None,
    sample_texts: Sequence[str] | None = None,
) -> Scorer:
    """The scorer of ``sentiment_model`` at ``precision``; ``auto`` resolved by
    ``choose_engine`` (its ``EngineChoice`` is the scorer's ``engine`` attribute, else None;
    ``load_scorer`` logs it)."""
    engine = None
    folder = None
    if precision == "auto":

        def load(candidate: Precision, export: Path) -> Scorer:
            return backend_scorer(
                sentiment_model, candidate, device, {**opts, "progress": False}, export
            )

        engine = choose_engine(
            sentiment_model,
            load,
            text_mode=text_mode,
            device=device,
            model_cache=model_cache,
            sample=sample_texts,
            **opts,
        )
        precision, folder = engine.precision, engine.folder
    elif is_onnx(precision) and (model_cache is not None or not read_manifest(sentiment_model)):
        cache = ExportCache.locate(sentiment_model, model_cache, opts)
        if not read_manifest(cache.folder):  # an export there is used as it is, as asked
            cache.ensure()
        folder = cache.folder
    scorer = backend_scorer(sentiment_model, precision, device, opts, folder)
    scorer.engine = engine
    return scorer


def backend_scorer(
    sentiment_model: str,
    precision: Precision,
    device: str,
    opts: dict[str, Any],
    export: str | os.PathLike[str] | None = None,
) -> Scorer:
    """``OnnxScorer`` on ``export`` (else the model's own) for an ONNX precision, else
    ``TransformersScorer``."""
    if is_onnx(precision):
        return onnx_scorer(export or sentiment_model, precision, opts)
    return TransformersScorer(sentiment_model, precision=precision, device=device, **opts)
