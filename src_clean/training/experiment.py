"""What one training run produced, before and after tracking: the data it read
(``GoldSnapshot``), each fitted feature set (``ModelResult``) and the whole ``Outcome``.

The data classes shared by ``train`` (which makes them) and ``tracking`` (which logs
them), in a module of their own so that neither imports the other.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from src_clean.data_pipelines.gold.feature_list import FeatureSpec
from src_clean.training.config import TrainConfig
from src_clean.training.metrics import Forecast
from src_clean.training.splits import ChronologicalSplit

WITH_NEWS = "with_news"
MARKET_ONLY = "market_only"


@dataclass
class ModelResult:
    """One fitted feature set (``x``: its features, all rows), its regressor (and optional
    classifier) and test scores."""

    name: str
    x: pd.DataFrame
    regressor: Any
    forecast: Forecast
    metrics: dict[str, float]
    classifier: Any | None = None
    classifier_metrics: dict[str, float] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        return list(self.x.columns)

    @property
    def best_iteration(self) -> int:
        return int(self.regressor.best_iteration)

    def summary(self) -> dict[str, float]:
        return {**self.metrics, **self.classifier_metrics, "best_iteration": self.best_iteration}


@dataclass
class Outcome:
    """Everything a run produced before tracking: data, split, models, baselines, uplift."""

    spec: FeatureSpec
    config: TrainConfig
    times: pd.Series
    y: np.ndarray
    split: ChronologicalSplit
    models: dict[str, ModelResult]
    baselines: dict[str, dict[str, float]]
    uplift: dict[str, dict[str, float]] | None

    @property
    def test_times(self) -> pd.Series:
        return self.times.iloc[self.split.rows("test")]

    @property
    def y_test(self) -> np.ndarray:
        return self.y[self.split.rows("test")]


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
