"""Validation against torch fp32: how far an engine's probabilities are from the reference.

The reference is the torch fp32 model's probabilities of the check texts
(``reference.npy``, written by the export). An exported file passes when its labels agree
on at least ``MIN_LABEL_AGREEMENT`` of the texts (``VariantCheck``, recorded in
``export.json``); ``auto`` applies the same bar to bf16 and to exports validated on
another CPU (``engines.measure``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from src_clean.data_pipelines.silver.scoring.base import Precision, files_sha256
from src_clean.data_pipelines.silver.scoring.onnx_backend import (
    MIN_LABEL_AGREEMENT,
    ONNX_FILES,
    OnnxScorer,
)


@dataclass(frozen=True)
class VariantCheck:
    """One exported file, the graph it holds and how it agrees with the torch fp32 model."""

    file: str
    sha256: str
    graph: str
    label_agreement: float
    max_abs_dp: float
    texts: int

    @property
    def passed(self) -> bool:
        return self.label_agreement >= MIN_LABEL_AGREEMENT


def label_agreement(probabilities: np.ndarray, reference: np.ndarray) -> float:
    """Share of rows whose argmax matches the reference's."""
    return float(np.mean(probabilities.argmax(1) == reference.argmax(1)))


def check_variant(
    folder: Path, precision: Precision, graph: str, texts: list[str], reference: np.ndarray
) -> VariantCheck:
    """Label agreement and max |probability gap| of one exported file against ``reference``."""
    scorer = OnnxScorer(folder, precision=precision, progress=False, source_model_id="check")
    probabilities = scorer.probabilities(texts)
    path = folder / ONNX_FILES[precision]
    return VariantCheck(
        file=path.name,
        sha256=files_sha256([path]),
        graph=graph,
        label_agreement=label_agreement(probabilities, reference),
        max_abs_dp=float(np.abs(probabilities - reference).max()),
        texts=len(texts),
    )
