"""ONNX Runtime serving of a checkpoint exported by ``export-onnx``: no torch needed.

``python -m src_clean export-onnx --model models/ProsusAI__finbert`` writes::

    models/ProsusAI__finbert/onnx/
        model.onnx          fp32 graph, opset 23 (ONNX's fused Attention), dynamic axes
        model.int8.onnx     int8 weights, one scale per output channel; --no-int8 skips it
        tokenizer.json, tokenizer_config.json, config.json (id2label)
        reference.npy       torch fp32 probabilities of the check texts
        export.json         source checkpoint id, cache key, file hashes, agreement with fp32

The folder is self-contained: an image with onnxruntime and tokenizers (no torch, no
transformers) scores with it. ``export.json`` records, per file, the label agreement
and largest probability gap against the torch fp32 model measured at export time;
``precision="onnx"``/``"auto"`` only pick a file whose agreement is at least
``MIN_LABEL_AGREEMENT``. The model id is the checkpoint's id ``@onnx-fp32`` or
``@onnx-int8``, so ONNX scores are stored apart from each other and from torch's.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from src_clean.data_pipelines.silver.scoring.base import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_BATCH_TOKENS,
    MAX_TOKENS,
    ONNX_PRECISIONS,
    BatchedClassifier,
    Precision,
    TextEncoder,
    engine_model_id,
)

ONNX_DIR = "onnx"
ONNX_FILES: dict[Precision, str] = {"onnx-fp32": "model.onnx", "onnx-int8": "model.int8.onnx"}
MANIFEST = "export.json"
REFERENCE = "reference.npy"
MIN_LABEL_AGREEMENT = 0.995


def onnx_folder(model: str | os.PathLike[str]) -> Path:
    """The ``onnx/`` folder of a checkpoint folder (or ``model`` itself if it is one)."""
    folder = Path(model)
    exported = (folder / MANIFEST).is_file() or (folder / ONNX_FILES["onnx-fp32"]).is_file()
    return folder if exported else folder / ONNX_DIR


def read_manifest(model: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``export.json`` of a checkpoint's ONNX export; ``{}`` if there is none, or if it
    is damaged (truncated, not an object): then no variant counts as validated, so the
    export is made again (``export-onnx``, ``--export-onnx``, ``auto``), never trusted."""
    path = onnx_folder(model) / MANIFEST
    if not path.is_file():
        return {}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        logging.getLogger(__name__).warning(
            "%s is damaged (%s): the export counts as missing and is made again", path, exc
        )
        return {}
    if not isinstance(manifest, dict) or not isinstance(manifest.get("variants", {}), dict):
        logging.getLogger(__name__).warning(
            "%s is not an export manifest: the export counts as missing and is made again", path
        )
        return {}
    return manifest


def safe_onnx_precisions(model: str | os.PathLike[str]) -> list[Precision]:
    """Exported ONNX precisions whose export-time label agreement passed, fastest first."""
    variants = read_manifest(model).get("variants", {})
    folder = onnx_folder(model)
    return [
        precision
        for precision in ONNX_PRECISIONS
        if isinstance(variants.get(precision), dict)
        and isinstance(variants[precision].get("label_agreement"), int | float)
        and variants[precision]["label_agreement"] >= MIN_LABEL_AGREEMENT
        and (folder / ONNX_FILES[precision]).is_file()
    ]


def resolve_onnx_precision(model: str | os.PathLike[str], precision: Precision) -> Precision:
    """``onnx`` is the fastest safe export; ``onnx-fp32``/``onnx-int8`` are taken as forced."""
    if precision in ONNX_PRECISIONS:
        return precision
    if precision != "onnx":
        raise ValueError(f"precision must be onnx or one of {ONNX_PRECISIONS}, got {precision!r}")
    safe = safe_onnx_precisions(model)
    if not safe:
        raise FileNotFoundError(
            f"no validated ONNX export in {onnx_folder(model)}: run "
            f"`python -m src_clean export-onnx --model {model}`"
        )
    return safe[0]


def cores_present() -> int:
    """The CPUs this process may run on (its affinity: a container's quota, not the host's)."""
    return len(os.sched_getaffinity(0))


def session_options(num_threads: int | None = None) -> Any:
    """ONNX Runtime options: all graph optimizations; ``num_threads`` intra-op threads
    (default: the cores present; ONNX Runtime's own default counts physical cores, which
    halves the threads on a VM whose vCPUs are hyperthreads)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = num_threads or cores_present()
    return options


class OnnxScorer(BatchedClassifier):
    """An ``export-onnx`` folder served by ONNX Runtime on CPU, same contract as torch.

    Tokenization (``tokenizers``), batching, label mapping and blank handling are the
    ones of the transformers backend (``BatchedClassifier``); only the forward pass differs.
    """

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        precision: Precision = "onnx",
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_batch_tokens: int | None = DEFAULT_MAX_BATCH_TOKENS,
        num_threads: int | None = None,
        progress: bool = True,
        source_model_id: str | None = None,
    ) -> None:
        """``source_model_id`` (the checkpoint's id) defaults to the one in ``export.json``."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = onnx_folder(model)
        self.precision = resolve_onnx_precision(model, precision)
        path = folder / ONNX_FILES[self.precision]
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: run export-onnx (--int8 for int8)")
        config = json.loads((folder / "config.json").read_text())
        tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        encoder = TextEncoder(
            tokenizer,
            max_length=min(MAX_TOKENS, tokenizer_config.get("model_max_length", MAX_TOKENS)),
            pad_id=tokenizer.token_to_id(tokenizer_config["pad_token"]),
        )
        super().__init__(
            encoder,
            {int(index): label for index, label in config["id2label"].items()},
            batch_size=batch_size,
            max_batch_tokens=max_batch_tokens,
            progress=progress,
        )
        self.session = ort.InferenceSession(
            str(path), session_options(num_threads), providers=["CPUExecutionProvider"]
        )
        self.input_names = [node.name for node in self.session.get_inputs()]
        source_model_id = source_model_id or read_manifest(folder).get("source_model_id")
        if not source_model_id:  # OSError: load_scorer says it in one line with its fix
            raise FileNotFoundError(
                f"{folder / MANIFEST} is missing or damaged: run export-onnx again"
            )
        self.model_id = engine_model_id(source_model_id, self.precision)

    def batch_logits(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        feeds = {name: inputs[name] for name in self.input_names}
        return self.session.run(None, feeds)[0]


# ``load_scorer`` options that only the torch backend takes
TORCH_ONLY_OPTIONS = ("revision", "cache_dir", "fuse_cpu_linears")


def onnx_scorer(
    model: str | os.PathLike[str], precision: Precision, opts: dict[str, Any]
) -> OnnxScorer:
    """``OnnxScorer`` of ``model`` (an export or a checkpoint folder) with the
    ``load_scorer`` options it takes (``opts`` less the torch-only ones)."""
    kept = {k: v for k, v in opts.items() if k not in TORCH_ONLY_OPTIONS}
    return OnnxScorer(model, precision=precision, **kept)
