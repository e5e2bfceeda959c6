"""Resolve ``--sentiment-model`` (hub id, local folder or ``lexicon``) and a precision to a scorer.

Precision picks the backend: ``fp32``/``bf16``/``fp16`` run the checkpoint in torch
(``TransformersScorer``); ``onnx``/``onnx-fp32``/``onnx-int8`` serve its ``export-onnx``
folder with ONNX Runtime (``OnnxScorer``, no torch). ``auto`` is ``choose_precision`` on
this hardware: fp16 on CUDA, bf16 on CPUs with AMX/AVX512-BF16, else the fastest
validated ONNX export in ``<folder>/onnx`` when there is one, else torch fp32. Without
torch installed only an ONNX export can be served.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

from src_clean.data_pipelines.silver.sentiment.base import (
    ONNX_PRECISIONS,
    Precision,
    Scorer,
    choose_precision,
    cpu_flags,
)
from src_clean.defaults import DEFAULT_SENTIMENT_MODEL as DEFAULT_SENTIMENT_MODEL
from src_clean.errors import UserError

logger = logging.getLogger(__name__)

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


def looks_like_folder(model: str) -> bool:
    """Whether ``model`` names a local folder rather than a hub id (``org/name``)."""
    path = Path(model).expanduser()
    if path.exists() or model.startswith(("/", ".", "~")) or model.count("/") != 1:
        return True
    return Path(model.split("/")[0]).is_dir()


def load_scorer(
    model: str,
    *,
    demo_fallback: bool = False,
    precision: Precision = "auto",
    device: str = "auto",
    **opts: Any,
) -> Scorer:
    """The scorer for ``model``: ``"lexicon"``, a local checkpoint folder, or a hub id.

    ``opts`` go to the backend (batch_size, max_batch_tokens, num_threads, progress; and
    revision, cache_dir for ``TransformersScorer``). If the checkpoint cannot be loaded,
    ``demo_fallback`` logs a loud warning and returns the lexicon scorer; otherwise
    ``ModelUnavailableError`` says how to fix it. A checkpoint that loads but is not a
    sentiment classifier raises ``ValueError`` either way.
    """
    from src_clean.data_pipelines.silver.sentiment.lexicon_backend import LexiconScorer

    if model == LEXICON:
        return LexiconScorer()
    if looks_like_folder(model) and not Path(model).expanduser().is_dir():
        error = ModelUnavailableError(f"model folder {model} does not exist", FIX_HINT)
        if not demo_fallback:
            raise error
        logger.warning(fallback_banner(model, error))
        return LexiconScorer()
    try:
        return neural_scorer(model, resolve_precision(model, precision, device), device, opts)
    except (OSError, ImportError) as exc:
        if not demo_fallback:
            first_line = (
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            raise ModelUnavailableError(
                f"cannot load sentiment model {model!r}: {first_line}", FIX_HINT
            ) from exc
        logger.warning(fallback_banner(model, exc))
        return LexiconScorer()


def neural_scorer(model: str, precision: Precision, device: str, opts: dict[str, Any]) -> Scorer:
    """``OnnxScorer`` for an ONNX precision (or ``onnx``), else ``TransformersScorer``."""
    if precision == "onnx" or precision in ONNX_PRECISIONS:
        from src_clean.data_pipelines.silver.sentiment.onnx_backend import OnnxScorer

        return OnnxScorer(model, precision=precision, **opts)
    from src_clean.data_pipelines.silver.sentiment.transformers_backend import TransformersScorer

    return TransformersScorer(model, precision=precision, device=device, **opts)


def resolve_precision(model: str, precision: Precision, device: str = "auto") -> Precision:
    """``auto`` becomes ``choose_precision`` for this machine and ``model``'s ONNX exports."""
    if precision != "auto":
        return precision
    from src_clean.data_pipelines.silver.sentiment.onnx_backend import safe_onnx_precisions

    cuda, flags = torch_hardware(device)
    return choose_precision(cuda=cuda, cpu_flags=flags, onnx_exported=safe_onnx_precisions(model))


def torch_hardware(device: str) -> tuple[bool, frozenset[str]]:
    """(CUDA will be used, CPU flags) as torch sees them; (False, {}) without torch."""
    if importlib.util.find_spec("torch") is None:
        return False, frozenset()
    if device == "cpu":
        return False, cpu_flags()
    import torch

    cuda = torch.cuda.is_available() if device == "auto" else torch.device(device).type == "cuda"
    return cuda, cpu_flags()


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
