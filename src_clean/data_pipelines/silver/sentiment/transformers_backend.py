"""Hugging Face sequence classifiers (FinBERT and friends) behind the ``Scorer`` interface.

Loading is offline-safe: a local folder is read with ``local_files_only`` and never
touches the network; a hub id does too when ``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE``
is set (read at call time, so it also works after ``huggingface_hub`` was imported).
Texts are scored in batches over length-sorted texts with per-batch padding, then
scattered back to input order. torch and transformers are imported inside functions.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from src_clean.data_pipelines.silver.sentiment.base import (
    LABELS,
    blank_mask,
    canonical_labels,
    result_frame,
)

if TYPE_CHECKING:
    import torch

Precision = Literal["auto", "fp32", "bf16", "fp16"]
PRECISIONS: tuple[Precision, ...] = ("auto", "fp32", "bf16", "fp16")
MAX_TOKENS = 512
HASH_CHARS = 12
_TRUE = {"1", "true", "yes", "on"}


def offline_mode() -> bool:
    """Whether ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` asks for no network."""
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return any(flag.strip().lower() in _TRUE for flag in flags)


def cpu_supports_bf16() -> bool:
    """oneDNN is available and the CPU has native bf16 (AMX or AVX512-BF16)."""
    import torch

    if not torch.backends.mkldnn.is_available():
        return False
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return re.search(r"\b(?:amx_bf16|avx512_bf16)\b", cpuinfo) is not None


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` is CUDA when available, else CPU; anything else is passed to torch."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def auto_precision(device: torch.device) -> Precision:
    """fp16 on CUDA, bf16 on a CPU with native bf16, fp32 otherwise."""
    if device.type == "cuda":
        return "fp16"
    return "bf16" if cpu_supports_bf16() else "fp32"


def resolve_dtype(precision: Precision, device: torch.device) -> torch.dtype:
    """The torch dtype for ``precision`` (``auto``: see ``auto_precision``)."""
    import torch

    if precision == "auto":
        precision = auto_precision(device)
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    if precision not in dtypes:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return dtypes[precision]


def weights_sha256(folder: Path) -> str:
    """SHA-256 of the weight files in ``folder`` (safetensors first, as transformers loads).

    For a single weights file this equals the file's own sha256 (the hub shows it).
    """
    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin"))
    if not files:
        raise FileNotFoundError(f"no *.safetensors or pytorch_model*.bin weights in {folder}")
    digest = hashlib.sha256()
    for path in files:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def checkpoint_id(model: str, hub_kwargs: dict[str, Any]) -> str:
    """``path:<folder>@sha256:<hash>`` for a local folder, ``<hub id>@<commit>`` for the hub."""
    if Path(model).is_dir():
        folder = Path(model).resolve()
        return f"path:{folder.name}@sha256:{weights_sha256(folder)[:HASH_CHARS]}"
    from transformers.utils.hub import cached_file, extract_commit_hash

    config_path = cached_file(model, "config.json", **{**hub_kwargs, "local_files_only": True})
    commit = extract_commit_hash(config_path, None)
    if commit:
        return f"{model}@{commit}"
    return f"{model}@sha256:{weights_sha256(Path(config_path).parent)[:HASH_CHARS]}"


class TransformersScorer:
    """A sequence-classification checkpoint whose ``id2label`` names the three sentiments.

    The label order comes from ``config.id2label`` (ProsusAI/finbert is positive, negative,
    neutral; yiyanghkust/finbert-tone is neutral, positive, negative): never hard-coded.
    """

    def __init__(
        self,
        model: str,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 64,
        device: str = "auto",
        precision: Precision = "auto",
        num_threads: int | None = None,
        progress: bool = True,
    ) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        hub_kwargs = {
            "revision": revision,
            "cache_dir": cache_dir,
            "local_files_only": Path(model).is_dir() or offline_mode(),
        }
        self.tokenizer = AutoTokenizer.from_pretrained(model, **hub_kwargs)
        network = AutoModelForSequenceClassification.from_pretrained(model, **hub_kwargs)
        labels = canonical_labels(network.config.id2label)
        self._canonical_order = [labels.index(label) for label in LABELS]
        if num_threads:
            torch.set_num_threads(num_threads)
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(precision, self.device)
        self.model = network.to(device=self.device, dtype=self.dtype).eval()
        self.max_length = min(MAX_TOKENS, self.tokenizer.model_max_length)
        self.batch_size = batch_size
        self.progress = progress
        self.model_id = checkpoint_id(model, hub_kwargs)

    def score(self, texts: Sequence[str]) -> pd.DataFrame:
        valid = ~blank_mask(texts)
        kept = np.asarray(list(texts), dtype=object)[valid].tolist()
        return result_frame(valid, self.probabilities(kept))

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """Softmax probabilities, columns in ``LABELS`` order, rows in input order."""
        import torch
        from tqdm.auto import tqdm

        out = np.empty((len(texts), len(LABELS)))
        if not texts:
            return out
        # Longest first: similar lengths share a batch (little padding), and a batch that
        # does not fit in memory fails at once rather than at the end.
        order = np.argsort(-self.token_lengths(texts), kind="stable")
        show = self.progress and sys.stderr.isatty()
        with torch.inference_mode(), tqdm(total=len(texts), unit="text", disable=not show) as bar:
            for start in range(0, len(texts), self.batch_size):
                rows = order[start : start + self.batch_size]
                out[rows] = self._batch_probabilities([texts[i] for i in rows])
                bar.update(len(rows))
        return out[:, self._canonical_order]

    def token_lengths(self, texts: list[str]) -> np.ndarray:
        """Token count of each text after truncation (one fast tokenizer pass, no padding)."""
        encoded = self.tokenizer(
            texts, truncation=True, max_length=self.max_length, return_length=True
        )
        return np.asarray(encoded["length"])

    def _batch_probabilities(self, texts: list[str]) -> np.ndarray:
        import torch

        batch = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        ).to(self.device)
        logits = self.model(**batch).logits.float()
        return torch.softmax(logits, dim=-1).cpu().numpy()
