"""What one training run produced, before and after tracking: the data it read
(``GoldSnapshot``), each final model (``ModelResult``) and the whole ``Outcome``.

The data classes ``train`` makes and ``tracking``, ``registry``, ``promotion``, ``lineage``
and ``verdict`` read, in a module of their own so that none of those imports ``train``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from src_clean.data_pipelines.gold.feature_list import FeatureSpec
from src_clean.training.config import TrainConfig
from src_clean.training.folds import FoldPlan
from src_clean.training.walk_forward import (
    MARKET_ONLY,
    WITH_NEWS,
    Data,
    FoldResult,
    Verdict,
)

__all__ = ["MARKET_ONLY", "WITH_NEWS", "GoldSnapshot", "ModelResult", "Outcome"]


@dataclass
class ModelResult:
    """One final model (first seed, trained on every pre-holdout session) and its holdout
    scores."""

    name: str
    features: list[str]
    booster: Any
    best_iteration: int
    metrics: dict[str, Any]

    def summary(self) -> dict[str, float]:
        """The numeric holdout metrics (P&L sections left out) and the boosting rounds."""
        numbers = {k: v for k, v in self.metrics.items() if isinstance(v, int | float)}
        return {**numbers, "best_iteration": self.best_iteration}


@dataclass
class Outcome:
    """Everything a run produced before tracking."""

    spec: FeatureSpec
    config: TrainConfig
    data: Data
    plan: FoldPlan
    verdict: Verdict
    holdout: dict[str, Any]
    final: FoldResult
    started_ms: int = 0  # when the experiment began (epoch ms): the parent run's start

    @property
    def times(self) -> pd.Series:
        return self.data.times

    @property
    def models(self) -> dict[str, ModelResult]:
        cols = {name: self.data.columns(name) for name in self.final.fitted}
        return {
            name: ModelResult(
                name,
                self.data.features[cols[name]],
                fitted[0].booster,
                fitted[0].best_iteration,
                self.holdout["models"][name],
            )
            for name, fitted in self.final.fitted.items()
        }

    @property
    def registered(self) -> str:
        """The model the evidence supports: with_news only when it was trained and the
        verdict calls news significant; else market_only (a skip_news variant too)."""
        significant = bool(self.verdict.summary.get("significant"))
        return WITH_NEWS if WITH_NEWS in self.final.fitted and significant else MARKET_ONLY

    @property
    def test_times(self) -> pd.Series:
        return self.times.iloc[self.plan.holdout.test]

    @property
    def y_test(self) -> np.ndarray:
        return self.data.y[self.plan.holdout.test]

    @property
    def train_rows(self) -> slice:
        return self.plan.holdout.train


@dataclass(frozen=True)
class GoldSnapshot:
    """The rows a run trains on and exactly where they came from: the gold training table,
    its URI and the Delta version read (``train --gold-version`` reads it again)."""

    table: str
    uri: str
    version: int
    frame: pd.DataFrame

    @property
    def first_date(self) -> dt.date:
        return self.frame["time"].iloc[0].date()

    @property
    def last_date(self) -> dt.date:
        return self.frame["time"].iloc[-1].date()

    def label(self) -> str:
        """``gold/training@v7``: table and version in one string."""
        return f"{self.table}@v{self.version}"
