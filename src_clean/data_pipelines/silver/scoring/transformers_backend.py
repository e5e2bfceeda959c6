"""Hugging Face sequence classifiers (FinBERT and friends) behind the ``Scorer`` interface.

Loading is offline-safe: a local folder is read with ``local_files_only`` and never
touches the network; a hub id does too when ``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE``
is set (read at call time, so it also works after ``huggingface_hub`` was imported), or
when a 3-second TCP probe cannot reach the hub.
Texts are scored by ``BatchedClassifier`` (length-sorted batches, per-batch padding,
input order restored). torch and transformers are imported inside functions.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np

from src_clean.data_pipelines.silver.scoring.base import (
    BF16_CPU_FLAGS,
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_BATCH_TOKENS,
    HASH_CHARS,
    MAX_TOKENS,
    PRECISIONS,
    TORCH_PRECISIONS,
    BatchedClassifier,
    Precision,
    TextEncoder,
    choose_precision,
    cpu_flags,
    engine_model_id,
    files_sha256,
)

if TYPE_CHECKING:
    import torch

__all__ = ["PRECISIONS", "Precision", "TransformersScorer"]

logger = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}


def offline_mode() -> bool:
    """Whether ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` asks for no network."""
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return any(flag.strip().lower() in _TRUE for flag in flags)


@functools.cache
def hub_reachable(timeout_s: float = 3.0) -> bool:
    """A TCP connection to the hub (``HF_ENDPOINT``) opens within ``timeout_s``.

    Without it a hub id is loaded from the local cache only, so an offline machine fails
    (or falls back) in seconds instead of after the hub client's retries.
    """
    url = urlsplit(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout_s):
            return True
    except OSError:
        logger.warning("Hugging Face hub %s unreachable: using the local cache only", url.netloc)
        return False


def cpu_supports_bf16() -> bool:
    """oneDNN is available and the CPU has native bf16 (AMX or AVX512-BF16)."""
    import torch

    return torch.backends.mkldnn.is_available() and bool(BF16_CPU_FLAGS & cpu_flags())


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` is CUDA when available, else CPU; anything else is passed to torch."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def auto_precision(device: torch.device) -> Precision:
    """fp16 on CUDA, bf16 on a CPU with native bf16, fp32 otherwise (see ``choose_precision``)."""
    return choose_precision(cuda=device.type == "cuda", cpu_flags=cpu_flags())


def resolve_dtype(precision: Precision, device: torch.device) -> torch.dtype:
    """The torch dtype for ``precision`` (``auto``: see ``auto_precision``)."""
    if precision == "auto":
        precision = auto_precision(device)
    dtypes = {name: dtype for dtype, name in dtype_names().items()}
    if precision not in dtypes:
        raise ValueError(
            f"precision must be one of {TORCH_PRECISIONS} or auto for the transformers "
            f"backend, got {precision!r} (ONNX precisions are served by OnnxScorer)"
        )
    return dtypes[precision]


def dtype_names() -> dict[torch.dtype, Precision]:
    """The precision name of each torch dtype the backend runs."""
    import torch

    return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}


def weights_sha256(folder: Path) -> str:
    """SHA-256 of the weight files in ``folder`` (safetensors first, as transformers loads).

    For a single weights file this equals the file's own sha256 (the hub shows it).
    """
    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin"))
    if not files:
        raise FileNotFoundError(f"no *.safetensors or pytorch_model*.bin weights in {folder}")
    return files_sha256(files)


def hub_kwargs(
    model: str, revision: str | None = None, cache_dir: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """``from_pretrained`` keywords: a folder, offline mode or an unreachable hub read the
    local files only."""
    local = Path(model).is_dir() or offline_mode() or not hub_reachable()
    return {"revision": revision, "cache_dir": cache_dir, "local_files_only": local}


def checkpoint_folder(
    model: str, revision: str | None = None, cache_dir: str | os.PathLike[str] | None = None
) -> Path:
    """The local folder holding ``model``'s files (a hub id's snapshot in the HF cache)."""
    if Path(model).is_dir():
        return Path(model)
    from transformers.utils.hub import cached_file

    return Path(cached_file(model, "config.json", **hub_kwargs(model, revision, cache_dir))).parent


def checkpoint_id(model: str, kwargs: dict[str, Any]) -> str:
    """``path:<folder>@sha256:<hash>`` for a local folder, ``<hub id>@<commit>`` for the hub."""
    if Path(model).is_dir():
        folder = Path(model).resolve()
        return f"path:{folder.name}@sha256:{weights_sha256(folder)[:HASH_CHARS]}"
    from transformers.utils.hub import cached_file, extract_commit_hash

    config_path = cached_file(model, "config.json", **{**kwargs, "local_files_only": True})
    commit = extract_commit_hash(config_path, None)
    if commit:
        return f"{model}@{commit}"
    return f"{model}@sha256:{weights_sha256(Path(config_path).parent)[:HASH_CHARS]}"


class TransformersScorer(BatchedClassifier):
    """A sequence-classification checkpoint whose ``id2label`` names the three sentiments.

    The label order comes from ``config.id2label`` (ProsusAI/finbert is positive, negative,
    neutral; yiyanghkust/finbert-tone is neutral, positive, negative): never hard-coded.
    A batch holds at most ``batch_size`` texts and ``max_batch_tokens`` padded tokens.
    On CPU the linear layers run fused with their bias and activation (``onednn``)
    unless ``fuse_cpu_linears`` is false.
    """

    def __init__(
        self,
        model: str,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_batch_tokens: int | None = DEFAULT_MAX_BATCH_TOKENS,
        device: str = "auto",
        precision: Precision = "auto",
        num_threads: int | None = None,
        fuse_cpu_linears: bool = True,
        progress: bool = True,
    ) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        kwargs = hub_kwargs(model, revision, cache_dir)
        tokenizer = AutoTokenizer.from_pretrained(model, **kwargs)
        network = AutoModelForSequenceClassification.from_pretrained(model, **kwargs)
        encoder = TextEncoder(
            tokenizer.backend_tokenizer,
            max_length=min(MAX_TOKENS, tokenizer.model_max_length),
            pad_id=tokenizer.pad_token_id,
        )
        super().__init__(
            encoder,
            network.config.id2label,
            batch_size=batch_size,
            max_batch_tokens=max_batch_tokens,
            progress=progress,
        )
        if num_threads:
            torch.set_num_threads(num_threads)
        self.input_names = list(tokenizer.model_input_names)
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(precision, self.device)
        self.model = network.to(device=self.device, dtype=self.dtype).eval()
        if fuse_cpu_linears and self.device.type == "cpu":
            self.fuse_linears()
        self.checkpoint_id = checkpoint_id(model, kwargs)
        self.precision = dtype_names()[self.dtype]
        self.model_id = engine_model_id(self.checkpoint_id, self.precision)

    def fuse_linears(self) -> None:
        """Run the linear layers as oneDNN primitives with bias and activation fused."""
        from src_clean.data_pipelines.silver.scoring.onednn import (
            fuse_linears,
            fused_linear_available,
        )

        if not fused_linear_available(self.dtype):
            logger.info("no oneDNN fused linear for %s here: plain nn.Linear kept", self.dtype)
            return
        counts = fuse_linears(self.model)
        logger.info("oneDNN fused linears by activation: %s", counts)

    def batch_logits(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        tensors = {
            name: torch.from_numpy(inputs[name]).to(self.device) for name in self.input_names
        }
        with torch.inference_mode():
            return self.model(**tensors).logits.float().cpu().numpy()
