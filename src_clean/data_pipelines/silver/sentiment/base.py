"""The interface every sentiment backend implements, its result frame, and label mapping.

A scorer turns texts into one row per text, in input order, with the probabilities of
the three canonical labels, the winning ``label`` and ``score = p_positive - p_negative``.
Empty or whitespace-only texts get nulls everywhere: no text, no opinion (a fake
"neutral" would dilute every news aggregate downstream).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

import numpy as np
import pandas as pd

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
