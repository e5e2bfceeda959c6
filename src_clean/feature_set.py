"""A feature set: whether a training set holds news, its news window and its label horizon,
and everything named after it: its variant name, tables, side files and registered model.

The canonical feature set (news, a 60-minute window, a 30-minute horizon) writes
``gold/training`` and registers ``sp500-news-xgb``. Any other is a **variant**
(``market_only-w60-h30``, ``news-w30-h15``) with its own tables under ``gold/variants/``,
its own training summary under ``reports/variants/`` and its own registered model, so a
variant never touches the canonical outputs. This is the one place a variant name is built
or parsed; the horizon is ``horizon_minutes`` everywhere behind the CLI flags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from src_clean.errors import UserError
from src_clean.tables import (
    CANONICAL_HORIZON,
    CANONICAL_WINDOW,
    GOLD_SIGNALS,
    GOLD_TRAINING,
    REPORTS,
    TRAINING_SUMMARY,
    VARIANTS,
)


class UnknownVariantError(UserError, ValueError):
    """A variant name that names no feature set (or the canonical one)."""


_NAME = re.compile(r"(?P<kind>market_only|news)-w(?P<window>[1-9]\d*)-h(?P<horizon>[1-9]\d*)")
CANONICAL_NAME = "canonical"  # how lineage tags name the canonical feature set


@dataclass(frozen=True)
class FeatureSet:
    """What a training set is made of; its name and paths follow from it."""

    skip_news: bool = False
    window_minutes: int = CANONICAL_WINDOW
    horizon_minutes: int = CANONICAL_HORIZON

    @classmethod
    def from_name(cls, name: str | None) -> FeatureSet:
        """The feature set a variant name (or None / ``canonical``) stands for."""
        if name in (None, "", CANONICAL_NAME):
            return cls()
        match = _NAME.fullmatch(name)
        if match is None:
            raise UnknownVariantError(
                f"{name!r} is not a feature variant",
                "name one as market_only-w<window>-h<horizon> or news-w<window>-h<horizon>, "
                "e.g. market_only-w60-h30",
            )
        feature_set = cls(
            skip_news=match["kind"] == "market_only",
            window_minutes=int(match["window"]),
            horizon_minutes=int(match["horizon"]),
        )
        if feature_set.is_canonical:
            raise UnknownVariantError(
                f"{name!r} is the canonical feature set", "train without --variant"
            )
        return feature_set

    @property
    def is_canonical(self) -> bool:
        return (
            not self.skip_news
            and self.window_minutes == CANONICAL_WINDOW
            and self.horizon_minutes == CANONICAL_HORIZON
        )

    @property
    def name(self) -> str | None:
        """The variant name (``market_only-w60-h30``); None for the canonical feature set."""
        if self.is_canonical:
            return None
        kind = "market_only" if self.skip_news else "news"
        return f"{kind}-w{self.window_minutes}-h{self.horizon_minutes}"

    @property
    def label(self) -> str:
        """The name, or ``canonical``: how MLflow tags and run names call it."""
        return self.name or CANONICAL_NAME

    @property
    def training_table(self) -> str:
        """``gold/training``, or the variant's ``gold/variants/<name>/training``."""
        return GOLD_TRAINING if self.name is None else f"{VARIANTS}/{self.name}/training"

    @property
    def feature_list(self) -> str:
        """The ``_features.json`` beside the training table."""
        return f"{self.training_table}/_features.json"

    @property
    def signals_table(self) -> str:
        """The news signals of this window: ``gold/news/signals`` for the canonical window,
        ``gold/variants/news-w<window>/signals`` for another (the horizon plays no part)."""
        if self.window_minutes == CANONICAL_WINDOW:
            return GOLD_SIGNALS
        return f"{VARIANTS}/news-w{self.window_minutes}/signals"

    @property
    def training_summary(self) -> str:
        """``reports/training_summary.json``, or ``reports/variants/<name>/...``."""
        if self.name is None:
            return TRAINING_SUMMARY
        return f"{REPORTS}/variants/{self.name}/training_summary.json"

    def registered_model(self, base: str) -> str:
        """``base`` for the canonical feature set, ``<base>-<name>`` for a variant."""
        return base if self.name is None else f"{base}-{self.name}"
