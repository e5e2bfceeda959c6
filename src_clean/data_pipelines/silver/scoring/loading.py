"""Resolve ``--sentiment-model`` (hub id, local folder or ``lexicon``) and a precision to a scorer.

Precision picks the backend: ``fp32``/``bf16``/``fp16`` run the checkpoint in torch
(``TransformersScorer``); ``onnx``/``onnx-fp32``/``onnx-int8`` serve its export with ONNX
Runtime (``OnnxScorer``, no torch), built first if missing. ``auto`` is
``engines.choose_engine``: fp16 on CUDA, else the fastest engine measured on this CPU among
the validated ones (exports built and cached on the first run). Without torch installed
only an ONNX export already there can be served, the fastest validated one.

This module imports no torch, directly or through another module: the service imports it
(contract "Torch never reaches the service"). Everything that needs torch (engine choice,
export, the torch backend) is ``torch_loading``, which ``torch_path`` imports by name, and
only where torch is installed.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from src_clean.data_pipelines.silver.scoring.base import (
    Precision,
    Scorer,
    TextMode,
    is_onnx,
    torch_installed,
)
from src_clean.data_pipelines.silver.scoring.onnx_backend import onnx_scorer
from src_clean.defaults import DEFAULT_SENTIMENT_MODEL as DEFAULT_SENTIMENT_MODEL
from src_clean.errors import UserError

logger = logging.getLogger(__name__)

TORCH_PATH = "src_clean.data_pipelines.silver.scoring.torch_loading"

LEXICON = "lexicon"
FIX_HINT = (
    "run `python -m src_clean download-model --model ProsusAI/finbert --out models/` on a "
    "machine with internet, then pass `--sentiment-model models/ProsusAI__finbert`, or set "
    "HF_HUB_OFFLINE=1 with a populated HF cache; for a demo without the model, score with the "
    "lexicon: `--sentiment-model lexicon` (Airflow: trigger with sentiment_model=lexicon, or "
    "SP500_DEMO_FALLBACK=true)"
)


class ModelUnavailableError(UserError):
    """The requested checkpoint cannot be loaded here (not cached, no network, no torch)."""


MISSING_FOLDER_FIX = (
    "get a checkpoint: `python -m src_clean download-model --model ProsusAI/finbert --out "
    "models/` where there is internet (then copy models/ here); or pass an existing "
    "checkpoint folder with --sentiment-model PATH; or, for a demo, --demo-fallback (the "
    "lexicon scorer, with a warning)"
)


def looks_like_folder(sentiment_model: str) -> bool:
    """Whether ``sentiment_model`` names a local folder rather than a hub id (``org/name``):
    it exists, is a path (``/``, ``.``, ``~``, not one slash), its first part is a folder
    here, or its name is ``download-model``'s ``org__name`` layout."""
    path = Path(sentiment_model).expanduser()
    if (
        path.exists()
        or sentiment_model.startswith(("/", ".", "~"))
        or sentiment_model.count("/") != 1
        or "__" in path.name
    ):
        return True
    return Path(sentiment_model.split("/")[0]).is_dir()


def missing_folder(sentiment_model: str) -> ModelUnavailableError | None:
    """The error for a model folder that is not there (None when it is, or for a hub id)."""
    if looks_like_folder(sentiment_model) and not Path(sentiment_model).expanduser().is_dir():
        return ModelUnavailableError(
            f"the model folder {sentiment_model} is missing", MISSING_FOLDER_FIX
        )
    return None


def load_scorer(
    sentiment_model: str,
    *,
    demo_fallback: bool = False,
    precision: Precision = "auto",
    device: str = "auto",
    text_mode: TextMode = "headline",
    model_cache: str | os.PathLike[str] | None = None,
    sample_texts: Sequence[str] | None = None,
    **opts: Any,
) -> Scorer:
    """The scorer for ``sentiment_model``: ``"lexicon"``, a local checkpoint folder, or a
    hub id.

    ``opts`` go to the backend (batch_size, max_batch_tokens, num_threads, progress; and
    revision, cache_dir for ``TransformersScorer``). ``auto`` measures the engines on
    ``sample_texts`` (texts the run will score; else the check texts of ``text_mode``);
    exports live next to the checkpoint or under ``model_cache``.
    If the checkpoint cannot be loaded, ``demo_fallback`` logs a loud warning and returns
    the lexicon scorer; otherwise ``ModelUnavailableError`` says how to fix it. A
    checkpoint that loads but is not a sentiment classifier raises ``ValueError`` either way.
    """
    from src_clean.data_pipelines.silver.scoring.lexicon_backend import LexiconScorer

    if sentiment_model == LEXICON:
        return LexiconScorer()
    error = missing_folder(sentiment_model)
    if error is not None:
        if not demo_fallback:
            raise error
        logger.warning(fallback_banner(sentiment_model, error))
        return LexiconScorer()
    try:
        return neural_scorer(
            sentiment_model, precision, device, opts, text_mode, model_cache, sample_texts
        )
    except (OSError, ImportError) as exc:
        if not demo_fallback:
            first_line = (
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            raise ModelUnavailableError(
                f"cannot load sentiment model {sentiment_model!r}: {first_line}", FIX_HINT
            ) from exc
        logger.warning(fallback_banner(sentiment_model, exc))
        return LexiconScorer()


def neural_scorer(
    sentiment_model: str,
    precision: Precision,
    device: str,
    opts: dict[str, Any],
    text_mode: TextMode = "headline",
    model_cache: str | os.PathLike[str] | None = None,
    sample_texts: Sequence[str] | None = None,
) -> Scorer:
    """The scorer of ``sentiment_model`` at ``precision``: without torch, its validated ONNX
    export; with torch, ``torch_loading.neural_scorer`` (``auto`` resolved by
    ``choose_engine``, whose ``EngineChoice`` is the scorer's ``engine`` attribute)."""
    if not torch_installed():
        return onnx_scorer(sentiment_model, onnx_only(precision), opts)
    scorer = torch_path().neural_scorer(
        sentiment_model, precision, device, opts, text_mode, model_cache, sample_texts
    )
    engine = getattr(scorer, "engine", None)
    if engine is not None:
        logger.info(engine.line(sentiment_model))
    return scorer


def onnx_only(precision: Precision) -> Precision:
    """Without torch: ``auto`` is the fastest validated export; torch precisions fail."""
    if precision == "auto":
        return "onnx"
    if not is_onnx(precision):
        raise ImportError(f"--precision {precision} runs in torch, which is not installed")
    return precision


def torch_path() -> ModuleType:
    """``torch_loading``, imported by name when a load needs torch (which must be
    installed): no import statement leads from here, or from the service, to torch."""
    return importlib.import_module(TORCH_PATH)


def export_onnx(model: str, **options: Any) -> Any:
    """``export.export_onnx(model, **options)`` (needs torch): the service's ``--export-onnx``
    on start, reached through ``torch_path`` like every other use of torch."""
    return torch_path().export_onnx(model, **options)


def fallback_banner(sentiment_model: str, error: BaseException) -> str:
    """The multi-line warning logged when the demo falls back to the lexicon scorer."""
    rule = "!" * 78
    return "\n".join(
        [
            rule,
            f"SENTIMENT MODEL {sentiment_model!r} IS NOT AVAILABLE: {type(error).__name__}: "
            f"{error}",
            "FALLING BACK TO THE LEXICON SCORER (VADER + Loughran-McDonald) FOR A DEMO RUN.",
            "Its scores are a weak baseline, stored under their own model_id, not FinBERT's.",
            f"Fix: {FIX_HINT}.",
            rule,
        ]
    )
