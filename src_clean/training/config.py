"""What a training run is configured with: the settings (``TrainConfig``) and the feature list
written by the gold layer (``FeatureSpec``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from src_clean.defaults import DEFAULT_REGISTERED_MODEL
from src_clean.errors import UserError
from src_clean.feature_set import FeatureSet
from src_clean.redact import redact

DEFAULT_EXPERIMENT = "sp500-news-signals"


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a run; logged as MLflow params (the tracking URI redacted).

    ``variant`` names a non-canonical feature set (``FeatureSet.name``): the run reads its
    training table and registers under ``<registered_model>-<variant>``.
    ``gold_version`` pins the Delta version of that table (time travel); None reads the latest.
    """

    experiment: str = DEFAULT_EXPERIMENT
    registered_model: str = DEFAULT_REGISTERED_MODEL
    tracking_uri: str | None = None
    variant: str | None = None
    gold_version: int | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    train_frac: float = 0.7
    val_frac: float = 0.15
    embargo_minutes: int = 0
    n_estimators: int = 2000
    early_stopping_rounds: int = 50
    max_depth: int = 4
    learning_rate: float = 0.05
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 10.0
    tree_method: str = "hist"
    n_jobs: int = 2
    seed: int = 7
    classifier: bool = False
    bootstrap: int = 1000
    champion_metric: str = "test_ic"
    champion_higher_is_better: bool = True

    def __post_init__(self) -> None:
        checks = (
            (
                min(self.train_frac, self.val_frac) <= 0 or self.train_frac + self.val_frac >= 1,
                "need 0 < train_frac, 0 < val_frac and train_frac + val_frac < 1",
                "pass --train-frac and --val-frac above 0 that sum to less than 1",
            ),
            (self.bootstrap < 1, "bootstrap needs at least one resample", "pass --bootstrap 1+"),
            (
                self.embargo_minutes < 0,
                "embargo_minutes must be >= 0",
                "pass --embargo-minutes 0 or more",
            ),
            (
                self.gold_version is not None and self.gold_version < 0,
                "gold_version must be >= 0",
                "pass a Delta version (0, 1, ...) to --gold-version",
            ),
        )
        for failed, problem, fix in checks:
            if failed:
                raise UserError(problem, fix)

    @property
    def feature_set(self) -> FeatureSet:
        """The feature set ``variant`` names (the canonical one without a variant)."""
        return FeatureSet.from_name(self.variant)

    @property
    def model_name(self) -> str:
        """Registered-model name: the canonical name, or ``<name>-<variant>`` for a variant."""
        return self.feature_set.registered_model(self.registered_model)

    def embargo(self, horizon_minutes: int) -> int:
        """Embargo in minutes between split parts: at least the label horizon."""
        return max(horizon_minutes, self.embargo_minutes)

    def xgb_params(self) -> dict[str, Any]:
        """Keyword arguments shared by ``XGBRegressor`` and ``XGBClassifier``."""
        return {
            "n_estimators": self.n_estimators,
            "early_stopping_rounds": self.early_stopping_rounds,
            "max_depth": self.max_depth,
            "learning_rate": self.learning_rate,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight,
            "tree_method": self.tree_method,
            "n_jobs": self.n_jobs,
            "random_state": self.seed,
        }

    def to_params(self) -> dict[str, Any]:
        """The settings as MLflow params: credentials in the tracking URI are masked."""
        return asdict(self) | {"tracking_uri": redact(self.tracking_uri)}
