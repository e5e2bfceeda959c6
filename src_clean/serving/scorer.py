"""The silver sentiment scorers behind the service: one call scores a batch of texts.

The scorer is silver's (``load_scorer``): ONNX Runtime on an ``export-onnx`` folder by
default, torch for ``fp32``/``bf16``/``fp16``; labels come from the model's
``config.id2label`` and ``model_version`` is silver's ``model_id``, so a served prediction
and a stored silver score of the same model carry the same id.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from src_clean.data_pipelines.silver.sentiment import LABELS, load_scorer

if TYPE_CHECKING:
    from src_clean.data_pipelines.silver.sentiment import Scorer
    from src_clean.serving.settings import ServeSettings


@dataclass(frozen=True)
class Scored:
    """One text's label and probabilities (of ``LABELS``)."""

    label: str
    scores: dict[str, float]

    @property
    def confidence(self) -> float:
        return self.scores[self.label]


class SentimentModel:
    """A loaded scorer and its id; ``predict`` is synchronous (run it in a worker thread)."""

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer
        self.model_version = scorer.model_id

    @classmethod
    def load(cls, settings: ServeSettings) -> SentimentModel:
        scorer = load_scorer(
            settings.sentiment_model,
            precision=settings.precision,
            demo_fallback=settings.demo_fallback,
            device="cpu",
            num_threads=settings.num_threads,
            progress=False,
        )
        return cls(scorer)

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
