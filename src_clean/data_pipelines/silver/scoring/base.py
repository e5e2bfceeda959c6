"""The interface every sentiment backend implements, its result frame, and label mapping.

A scorer turns texts into one row per text, in input order, with the probabilities of
the three canonical labels, the winning ``label`` and ``score = p_positive - p_negative``.
Empty or whitespace-only texts get nulls everywhere: no text, no opinion (a fake
"neutral" would dilute every news aggregate downstream).

The neural backends (torch and ONNX Runtime) share ``TextEncoder`` (one tokenization for
both, so they see identical inputs) and ``BatchedClassifier`` (length-sorted batches with
per-batch padding under a token budget, scattered back to input order). Precision names
the model id of a checkpoint run at a precision, and the torch-only ``choose_precision``
rule live here too, with ``torch_installed``, so loading can pick a backend without
importing torch; and the file primitives of exports and caches (hashes, atomic JSON).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import pandas as pd

from src_clean.defaults import Precision

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer

LABELS = ("positive", "negative", "neutral")
PROBABILITY_COLUMNS = ("p_positive", "p_negative", "p_neutral")
RESULT_COLUMNS = (*PROBABILITY_COLUMNS, "label", "score")
LABEL_ALIASES = {
    "positive": "positive",
    "pos": "positive",
    "negative": "negative",
    "neg": "negative",
    "neutral": "neutral",
    "neu": "neutral",
}

TextMode = Literal["headline", "headline_body"]
TEXT_MODES: tuple[TextMode, ...] = ("headline", "headline_body")
BODY_CHARS = 2000
MAX_TOKENS = 512
HASH_CHARS = 12
# A batch holds at most this many texts and padded tokens: 4096 tokens beat 8192 and 16384
# by 10-30% on 300-token texts with bert-base on CPU and tie on headlines (benchmarks/).
DEFAULT_BATCH_SIZE = 64
DEFAULT_MAX_BATCH_TOKENS = 4096

TORCH_PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16", "fp16")
ENGINE_SEPARATOR = "@"
# Fastest first: ``onnx`` and ``auto`` take the first one exported.
ONNX_PRECISIONS: tuple[Precision, ...] = ("onnx-int8", "onnx-fp32")
PRECISIONS: tuple[Precision, ...] = ("auto", *TORCH_PRECISIONS, "onnx", *ONNX_PRECISIONS)
BF16_CPU_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})


class Scorer(Protocol):
    """A sentiment model: ``model_id`` names it down to the weights, ``score`` applies it."""

    model_id: str

    def score(self, texts: Sequence[str]) -> pd.DataFrame:
        """One row per text, in input order, with the columns of ``RESULT_COLUMNS``."""
        ...


def canonical_labels(id2label: Mapping[int, str]) -> list[str]:
    """The canonical label of each class index, from a model's ``config.id2label``.

    Matching is case-insensitive and accepts pos/neg/neu; anything that is not exactly
    the three sentiment classes (e.g. ``LABEL_0..2``) raises, naming the labels found.
    """
    found = [str(id2label[i]) for i in sorted(id2label)]
    mapped = [LABEL_ALIASES.get(name.strip().lower()) for name in found]
    if sorted(label or "" for label in mapped) != sorted(LABELS):
        raise ValueError(
            f"model config.id2label has labels {found}; expected positive/negative/neutral "
            "(pos/neg/neu accepted, any case)"
        )
    return [label for label in mapped if label]


def blank_mask(texts: Sequence[str]) -> np.ndarray:
    """True where a text is missing, empty or whitespace only."""
    return pd.Series(list(texts), dtype="str").fillna("").str.strip().eq("").to_numpy()


def result_frame(
    valid: np.ndarray, probabilities: np.ndarray, labels: np.ndarray | None = None
) -> pd.DataFrame:
    """Scatter the rows scored for ``valid`` texts back into one row per input.

    ``probabilities`` has one row per valid text and columns in ``LABELS`` order;
    ``labels`` defaults to the argmax. Rows of invalid (blank) texts are all null.
    """
    if labels is None:
        labels = np.asarray(LABELS, dtype=object)[probabilities.argmax(axis=1)]
    full = np.full((len(valid), len(LABELS)), np.nan)
    full[valid] = probabilities
    label = np.full(len(valid), None, dtype=object)
    label[valid] = labels
    frame = pd.DataFrame(full, columns=list(PROBABILITY_COLUMNS))
    frame["label"] = pd.Series(label, dtype="str")
    frame["score"] = frame["p_positive"] - frame["p_negative"]
    return frame


def article_texts(articles: pd.DataFrame, mode: TextMode = "headline") -> pd.Series:
    """The text to score for each article.

    ``headline`` (the default) matches what FinBERT was fine-tuned on: sentence-level
    financial phrases. ``headline_body`` appends the first ``BODY_CHARS`` characters of
    the body (the tokenizer truncates at 512 tokens anyway), joined by ". ".
    """
    if mode not in TEXT_MODES:
        raise ValueError(f"text mode must be one of {TEXT_MODES}, got {mode!r}")
    headline = articles["headline"].astype("str").fillna("").str.strip()
    if mode == "headline":
        return headline
    body = articles["body"].astype("str").fillna("").str.strip().str[:BODY_CHARS]
    joined = headline + ". " + body
    return joined.where(body != "", headline).where(headline != "", body)


def files_sha256(paths: Sequence[Path]) -> str:
    """SHA-256 of the concatenated bytes of ``paths`` (of the file itself for one path).

    Memoized per file identity (path, inode, size, mtime, ctime): loading a checkpoint
    names it, keys its export and checks the export's files, and each of those would
    otherwise read the same hundreds of MB again. A rewritten file gets a new identity.
    """
    return _sha256_of(tuple(_identity(Path(path)) for path in paths))


def _identity(path: Path) -> tuple[str, int, int, int, int]:
    stat = path.stat()
    return (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


@functools.lru_cache(maxsize=64)
def _sha256_of(identities: tuple[tuple[str, int, int, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for path, *_ in identities:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` whole (temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


# -- precision -----------------------------------------------------------------------


def is_onnx(precision: Precision) -> bool:
    """Whether ``precision`` is served by ONNX Runtime (``onnx`` or an exported file)."""
    return precision == "onnx" or precision in ONNX_PRECISIONS


def torch_installed() -> bool:
    """Whether torch can be imported here (the API image has none); imports nothing."""
    return importlib.util.find_spec("torch") is not None


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU feature flags (``amx_bf16``, ``avx512_bf16``, ...); empty if unknown."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return frozenset(line.partition(":")[2].split())


def engine_model_id(checkpoint_id: str, precision: Precision) -> str:
    """The ``model_id`` of a checkpoint run by one engine at one precision: the checkpoint's
    id (hub id and commit, or folder and weights hash) ``@`` the precision, e.g.
    ``ProsusAI/finbert@4556d13@onnx-int8``. fp32 and int8 scores never share a key."""
    return f"{checkpoint_id}{ENGINE_SEPARATOR}{precision}"


def split_model_id(model_id: str) -> tuple[str, Precision | None]:
    """(checkpoint id, precision) of a model id; precision None for ids without one (the
    lexicon's, and neural scores stored before engines were named)."""
    checkpoint, _, precision = model_id.rpartition(ENGINE_SEPARATOR)
    if checkpoint and precision in (*TORCH_PRECISIONS, *ONNX_PRECISIONS):
        return checkpoint, precision
    return model_id, None


def choose_precision(*, cuda: bool, cpu_flags: Collection[str]) -> Precision:
    """The torch precision of ``TransformersScorer(precision="auto")`` without measuring:
    fp16 on CUDA, bf16 on a CPU with native bf16 (AMX or AVX512-BF16), else fp32.
    ``load_scorer``'s ``auto`` measures instead (``engines.choose_engine``)."""
    if cuda:
        return "fp16"
    if BF16_CPU_FLAGS & set(cpu_flags):
        return "bf16"
    return "fp32"


# -- shared batching -------------------------------------------------------------------


def length_batches(
    lengths: np.ndarray, batch_size: int, max_batch_tokens: int | None = None
) -> list[np.ndarray]:
    """Row indices of each batch: longest texts first, similar lengths together.

    A batch holds at most ``batch_size`` texts and, with ``max_batch_tokens``, at most
    that many tokens once padded to its longest text (a longer text goes alone).
    Longest first also makes a batch that does not fit in memory fail at once.
    """
    order = np.argsort(-np.asarray(lengths), kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    while start < len(order):
        size = batch_size
        if max_batch_tokens is not None:
            size = max(1, min(batch_size, max_batch_tokens // int(lengths[order[start]])))
        batches.append(order[start : start + size])
        start += size
    return batches


def encoding_lengths(encodings: Sequence[Encoding]) -> np.ndarray:
    """Token count of each encoding (int64)."""
    return np.fromiter(map(len, encodings), np.int64, len(encodings))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64."""
    shifted = np.asarray(logits, dtype=np.float64)
    shifted = shifted - shifted.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


class TextEncoder:
    """A ``tokenizers.Tokenizer`` that truncates at ``max_length``; padding is per batch.

    Both neural backends encode through it, so torch and ONNX Runtime see the same ids.
    """

    def __init__(self, tokenizer: Tokenizer, max_length: int, pad_id: int) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.pad_id = pad_id
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_length)

    def encode(self, texts: list[str]) -> list[Encoding]:
        """One truncated, unpadded encoding per text (one parallel Rust pass)."""
        return self.tokenizer.encode_batch(texts)

    def pad(self, encodings: Sequence[Encoding]) -> dict[str, np.ndarray]:
        """int64 ``input_ids``, ``token_type_ids`` and ``attention_mask``, padded to the longest."""
        lengths = encoding_lengths(encodings)
        mask = np.arange(lengths.max(initial=0)) < lengths[:, None]

        def padded(values: list[list[int]], fill: int) -> np.ndarray:
            out = np.full(mask.shape, fill, dtype=np.int64)
            out[mask] = np.concatenate(values) if values else []
            return out

        return {
            "input_ids": padded([e.ids for e in encodings], self.pad_id),
            "token_type_ids": padded([e.type_ids for e in encodings], 0),
            "attention_mask": mask.astype(np.int64),
        }


class BatchedClassifier(ABC):
    """The scoring loop shared by the neural backends.

    Texts are encoded once, cut into longest-first batches (``length_batches``), padded
    per batch, run through ``batch_logits`` and scattered back to input order; class
    columns are reordered from the model's ``id2label`` to ``LABELS``.
    """

    model_id: str

    def __init__(
        self,
        encoder: TextEncoder,
        id2label: Mapping[int, str],
        *,
        batch_size: int,
        max_batch_tokens: int | None,
        progress: bool,
    ) -> None:
        labels = canonical_labels(id2label)
        self.canonical_order = [labels.index(label) for label in LABELS]
        self.encoder = encoder
        self.max_length = encoder.max_length
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.progress = progress

    @abstractmethod
    def batch_logits(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Logits (texts x classes, in the model's class order) of one padded batch."""

    def score(self, texts: Sequence[str]) -> pd.DataFrame:
        valid = ~blank_mask(texts)
        kept = np.asarray(list(texts), dtype=object)[valid].tolist()
        return result_frame(valid, self.probabilities(kept))

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """Softmax probabilities, columns in ``LABELS`` order, rows in input order."""
        from tqdm.auto import tqdm

        logits = np.empty((len(texts), len(LABELS)))
        encodings = self.encoder.encode(texts)
        lengths = encoding_lengths(encodings)
        show = self.progress and sys.stderr.isatty()
        with tqdm(total=len(texts), unit="text", disable=not show) as bar:
            for rows in length_batches(lengths, self.batch_size, self.max_batch_tokens):
                logits[rows] = self.batch_logits(self.encoder.pad([encodings[i] for i in rows]))
                bar.update(len(rows))
        return softmax(logits)[:, self.canonical_order]

    def token_lengths(self, texts: list[str]) -> np.ndarray:
        """Token count of each text after truncation."""
        return encoding_lengths(self.encoder.encode(texts))
