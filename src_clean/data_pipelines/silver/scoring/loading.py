"""Resolve ``--sentiment-model`` (hub id, local folder or ``lexicon``) and a precision to a scorer.

Precision picks the backend: ``fp32``/``bf16``/``fp16`` run the checkpoint in torch
(``TransformersScorer``); ``onnx``/``onnx-fp32``/``onnx-int8`` serve its export with ONNX
Runtime (``OnnxScorer``, no torch), built first if missing. ``auto`` is
``engines.choose_engine``: fp16 on CUDA, else the fastest engine measured on this CPU among
the validated ones (exports built and cached on the first run). Without torch installed
only an ONNX export already there can be served, the fastest validated one.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from src_clean.data_pipelines.silver.scoring.base import (
    ONNX_PRECISIONS,
    Precision,
    Scorer,
    TextMode,
    cpu_flags,
)
from src_clean.data_pipelines.silver.scoring.onnx_backend import OnnxScorer, read_manifest
from src_clean.defaults import DEFAULT_SENTIMENT_MODEL as DEFAULT_SENTIMENT_MODEL
from src_clean.errors import UserError

logger = logging.getLogger(__name__)

TORCH_ONLY_OPTIONS = ("revision", "cache_dir", "fuse_cpu_linears")

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
    text_mode: TextMode = "headline",
    model_cache: str | os.PathLike[str] | None = None,
    sample_texts: Sequence[str] | None = None,
    **opts: Any,
) -> Scorer:
    """The scorer for ``model``: ``"lexicon"``, a local checkpoint folder, or a hub id.

    ``opts`` go to the backend (batch_size, max_batch_tokens, num_threads, progress; and
    revision, cache_dir for ``TransformersScorer``). ``auto`` measures the engines on
    ``sample_texts`` (texts the run will score; else the check texts of ``text_mode``);
    exports live next to the checkpoint or under ``model_cache``.
    If the checkpoint cannot be loaded, ``demo_fallback`` logs a loud warning and returns
    the lexicon scorer; otherwise ``ModelUnavailableError`` says how to fix it. A
    checkpoint that loads but is not a sentiment classifier raises ``ValueError`` either way.
    """
    from src_clean.data_pipelines.silver.scoring.lexicon_backend import LexiconScorer

    if model == LEXICON:
        return LexiconScorer()
    if looks_like_folder(model) and not Path(model).expanduser().is_dir():
        error = ModelUnavailableError(f"model folder {model} does not exist", FIX_HINT)
        if not demo_fallback:
            raise error
        logger.warning(fallback_banner(model, error))
        return LexiconScorer()
    try:
        return neural_scorer(model, precision, device, opts, text_mode, model_cache, sample_texts)
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


def neural_scorer(
    model: str,
    precision: Precision,
    device: str,
    opts: dict[str, Any],
    text_mode: TextMode = "headline",
    model_cache: str | os.PathLike[str] | None = None,
    sample_texts: Sequence[str] | None = None,
) -> Scorer:
    """The scorer of ``model`` at ``precision``; ``auto`` resolved by ``choose_engine``
    (its ``EngineChoice`` is the scorer's ``engine`` attribute, else None)."""
    if not torch_installed():
        return backend_scorer(model, onnx_only(precision), device, opts)
    from src_clean.data_pipelines.silver.scoring.engines import ExportCache, choose_engine

    engine = None
    folder = None
    if precision == "auto":

        def load(candidate: Precision, export: Path) -> Scorer:
            return backend_scorer(model, candidate, device, {**opts, "progress": False}, export)

        engine = choose_engine(
            model,
            load,
            text_mode=text_mode,
            device=device,
            model_cache=model_cache,
            sample=sample_texts,
            **opts,
        )
        logger.info(engine.line(model))
        precision, folder = engine.precision, engine.folder
    elif is_onnx(precision) and (model_cache is not None or not read_manifest(model)):
        cache = ExportCache.locate(model, model_cache, opts)
        if not read_manifest(cache.folder):  # an export there is used as it is, as asked
            cache.ensure()
        folder = cache.folder
    scorer = backend_scorer(model, precision, device, opts, folder)
    scorer.engine = engine
    return scorer


def backend_scorer(
    model: str,
    precision: Precision,
    device: str,
    opts: dict[str, Any],
    export: str | os.PathLike[str] | None = None,
) -> Scorer:
    """``OnnxScorer`` on ``export`` (else ``model``'s own) for an ONNX precision, else
    ``TransformersScorer``."""
    if is_onnx(precision):
        onnx_opts = {k: v for k, v in opts.items() if k not in TORCH_ONLY_OPTIONS}
        return OnnxScorer(export or model, precision=precision, **onnx_opts)
    from src_clean.data_pipelines.silver.scoring.transformers_backend import TransformersScorer

    return TransformersScorer(model, precision=precision, device=device, **opts)


def is_onnx(precision: Precision) -> bool:
    return precision == "onnx" or precision in ONNX_PRECISIONS


def onnx_only(precision: Precision) -> Precision:
    """Without torch: ``auto`` is the fastest validated export; torch precisions fail."""
    if precision == "auto":
        return "onnx"
    if not is_onnx(precision):
        raise ImportError(f"--precision {precision} runs in torch, which is not installed")
    return precision


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def torch_hardware(device: str) -> tuple[bool, frozenset[str]]:
    """(CUDA will be used, CPU flags) as torch sees them; (False, {}) without torch."""
    if not torch_installed():
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
