"""The check texts: what an export is validated on against torch fp32, and what ``auto``
times the engines on when a run has too few texts of its own.

Deterministic sample-data articles (``src_clean.sample_data.news``): ``n`` headlines and
``n`` headline + body texts. ``export.json`` records ``n``; every check text in one list,
mode after mode, is the row order of ``reference.npy``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from src_clean.data_pipelines.silver.scoring.base import TEXT_MODES, article_texts

CHECK_SEED = 11
DEFAULT_CHECK_TEXTS = 256


def check_texts(n: int) -> dict[str, list[str]]:
    """``n`` sample-data headlines and ``n`` headline + body texts (deterministic)."""
    from src_clean.sample_data.news import generate_articles

    rng = np.random.default_rng(CHECK_SEED)
    articles = generate_articles(rng, dt.date(2024, 1, 1), 1, 2 * n + 10).head(n)
    return {mode: article_texts(articles, mode).tolist() for mode in TEXT_MODES}


def every_check_text(checks: dict[str, list[str]]) -> list[str]:
    """The check texts of every mode in one list: the row order of ``reference.npy``."""
    return [text for texts in checks.values() for text in texts]
