"""The silver sentiment scorers behind the service: one call scores a batch of texts.

The scorer is silver's (``load_scorer``): ONNX Runtime on an ``export-onnx`` folder by
default, torch for ``fp32``/``bf16``/``fp16``; labels come from the model's
``config.id2label`` and ``model_version`` is silver's ``model_id``, so a served prediction
and a stored silver score of the same model carry the same id.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from src_clean.data_pipelines.silver.scoring import LABELS, ModelUnavailableError, load_scorer
from src_clean.data_pipelines.silver.scoring.base import TORCH_PRECISIONS
from src_clean.data_pipelines.silver.scoring.loading import LEXICON
from src_clean.data_pipelines.silver.scoring.onnx_backend import onnx_folder, safe_onnx_precisions

if TYPE_CHECKING:
    from src_clean.data_pipelines.silver.scoring import Scorer
    from src_clean.settings import Settings


log = logging.getLogger(__name__)


def needs_export(settings: Settings) -> bool:
    """A checkpoint folder served with ``--precision onnx`` that has no validated export."""
    folder = Path(settings.sentiment_model).expanduser()
    return (
        settings.precision == "onnx"
        and (folder / "config.json").is_file()
        and not safe_onnx_precisions(folder)
    )


def check_servable(settings: Settings) -> None:
    """Refuse a missing model folder, and, with both ways out, a checkpoint that ONNX
    Runtime cannot serve yet (unless the demo falls back to the lexicon scorer)."""
    from src_clean.data_pipelines.silver.scoring.loading import missing_folder

    missing = missing_folder(settings.sentiment_model)
    if missing is not None and not settings.demo_fallback:
        raise missing  # at once, not a service that is never ready
    if needs_export(settings) and not settings.demo_fallback:
        raise ModelUnavailableError(
            f"{settings.sentiment_model} is a checkpoint without a validated ONNX export "
            f"({onnx_folder(settings.sentiment_model)})",
            "start with --export-onnx to export and check it now (ONNX fp32 + int8; needs "
            "torch), or with --precision fp32 to serve the checkpoint with torch (slower)",
        )


@dataclass(frozen=True)
class Scored:
    """One text's label and probabilities (of ``LABELS``)."""

    label: str
    scores: dict[str, float]

    @property
    def confidence(self) -> float:
        return self.scores[self.label]


class SentimentModel:
    """A loaded scorer and its id; ``predict`` is synchronous (run it in a worker thread).
    ``fallback`` says why the lexicon scorer serves instead of the model asked for."""

    def __init__(self, scorer: Scorer, fallback: str | None = None) -> None:
        self.scorer = scorer
        self.model_version = scorer.model_id
        self.fallback = fallback

    @classmethod
    def load(cls, settings: Settings) -> SentimentModel:
        """The scorer of ``settings``; a checkpoint without an ONNX export is exported first
        with ``export_onnx``, else refused (``check_servable``)."""
        if needs_export(settings) and settings.export_onnx:
            from src_clean.data_pipelines.silver.scoring.loading import export_onnx

            log.warning(
                "%s has no validated ONNX export: exporting it now (fp32 + int8, checked "
                "against torch fp32) into %s",
                settings.sentiment_model,
                onnx_folder(settings.sentiment_model),
            )
            log.info("%s", export_onnx(settings.sentiment_model, int8=True).summary())
        check_servable(settings)
        if settings.precision in TORCH_PRECISIONS:
            log.warning(
                "serving %s with torch %s: ONNX Runtime is faster on CPU (start with "
                "--export-onnx, or run export-onnx --model %s --int8, then --precision onnx)",
                settings.sentiment_model,
                settings.precision,
                settings.sentiment_model,
            )
        scorer = load_scorer(
            settings.sentiment_model,
            precision=settings.precision,
            demo_fallback=settings.demo_fallback,
            device="cpu",
            num_threads=settings.num_threads,
            progress=False,
        )
        fell_back = settings.sentiment_model != LEXICON and scorer.model_id.startswith(LEXICON)
        fallback = (
            f"demo fallback: {settings.sentiment_model} could not be loaded, the lexicon "
            "scorer serves (a weak baseline, not FinBERT)"
            if fell_back
            else None
        )
        return cls(scorer, fallback)

    def predict(self, texts: list[str]) -> list[Scored]:
        """One ``Scored`` per text, in order. Texts must not be blank (the API rejects them)."""
        frame = self.scorer.score(texts)
        results = []
        for row in frame.itertuples(index=False):
            scores = {label: float(getattr(row, f"p_{label}")) for label in LABELS}
            if any(math.isnan(value) for value in scores.values()):
                raise ValueError("the scorer returned no probabilities for a text")
            results.append(Scored(str(row.label), scores))
        return results
