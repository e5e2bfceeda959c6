"""Precision: the ``auto`` rule as a pure function, CPU flags, and bf16 agreement with fp32."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from tiny_bert import build_tiny_bert

from src_clean.data_pipelines.silver.scoring.base import (
    LABELS,
    ONNX_PRECISIONS,
    choose_precision,
    cpu_flags,
)
from src_clean.data_pipelines.silver.scoring.loading import load_scorer
from src_clean.data_pipelines.silver.scoring.transformers_backend import (
    TransformersScorer,
    cpu_supports_bf16,
    resolve_dtype,
)
from src_clean.sample_data.news import generate_articles

SAPPHIRE_RAPIDS = {"avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "amx_int8"}
ICE_LAKE = {"avx2", "avx512f", "avx512_vnni"}
ZEN3 = {"avx2", "fma"}
FINE_TUNE_STEPS = 100


def sample_texts(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """``n`` sample-data headlines and their planted sentiment as a ``LABELS`` index."""
    articles = generate_articles(np.random.default_rng(seed), dt.date(2024, 1, 1), 1, 2 * n)
    articles = articles.head(n)
    labels = articles["sentiment"].map({1: 0, -1: 1, 0: 2}).to_numpy()
    return articles["headline"].tolist(), labels


def fine_tuned_tiny_bert(folder: Path, labels: tuple[str, ...] = LABELS) -> Path:
    """A tiny BERT trained a few steps on sample-data headlines: a real, decisive classifier.

    Random weights give near-tied logits, on which any precision check passes or fails
    by chance; a trained model has the margins of a real one.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    build_tiny_bert(folder, labels, seed=7)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).train()
    texts, targets = sample_texts(400, seed=1)
    # planted sentiment index (LABELS order) -> this model's class index
    targets = torch.tensor([labels.index(LABELS[t]) for t in targets])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    for _ in range(FINE_TUNE_STEPS):
        rows = rng.choice(len(texts), 32, replace=False)
        batch = tokenizer([texts[i] for i in rows], padding=True, return_tensors="pt")
        model(**batch, labels=targets[rows]).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval().save_pretrained(folder)
    return folder


# -- auto ----------------------------------------------------------------------------


@pytest.mark.parametrize("flags", [SAPPHIRE_RAPIDS, ICE_LAKE, ZEN3, set()])
def test_torch_auto_is_fp16_on_cuda(flags: set[str]) -> None:
    assert choose_precision(cuda=True, cpu_flags=flags) == "fp16"


@pytest.mark.parametrize("flag", ["amx_bf16", "avx512_bf16"])
def test_torch_auto_is_bf16_on_a_native_bf16_cpu(flag: str) -> None:
    assert choose_precision(cuda=False, cpu_flags={"avx2", flag}) == "bf16"


@pytest.mark.parametrize("flags", [ICE_LAKE, ZEN3, set()])
def test_torch_auto_is_fp32_elsewhere(flags: set[str]) -> None:
    assert choose_precision(cuda=False, cpu_flags=flags) == "fp32"


def test_cpu_flags_parse_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Xeon\nflags\t\t: fpu avx2 amx_bf16 avx512f\n\n"
        "processor\t: 1\nflags\t\t: fpu avx2 amx_bf16 avx512f\n"
    )
    assert cpu_flags(cpuinfo) == {"fpu", "avx2", "amx_bf16", "avx512f"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_onnx_precisions_are_not_torch_dtypes() -> None:
    import torch

    for precision in ("onnx", *ONNX_PRECISIONS):
        with pytest.raises(ValueError, match="OnnxScorer"):
            resolve_dtype(precision, torch.device("cpu"))


# -- bf16 against fp32 -------------------------------------------------------------------


@pytest.mark.skipif(not cpu_supports_bf16(), reason="CPU has no native bf16 (AMX/AVX512-BF16)")
def test_bf16_labels_agree_with_fp32_on_a_trained_model(tmp_path: Path) -> None:
    folder = str(fine_tuned_tiny_bert(tmp_path / "tiny-trained"))
    texts, planted = sample_texts(300, seed=2)
    fp32 = load_scorer(folder, precision="fp32", progress=False)
    bf16 = load_scorer(folder, precision="bf16", progress=False)
    assert isinstance(bf16, TransformersScorer)
    assert str(bf16.model.dtype) == "torch.bfloat16"
    reference, reduced = fp32.probabilities(texts), bf16.probabilities(texts)
    assert np.mean(reference.argmax(1) == planted) > 0.5  # chance is 0.35
    assert len(np.unique(reference.argmax(1))) > 1  # labels depend on the text
    assert 0 < np.abs(reduced - reference).max() < 0.05  # bf16 really ran, and stays close
    assert np.mean(reduced.argmax(1) == reference.argmax(1)) >= 0.995
