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
    n_folds: int = 5
    holdout_frac: float = 0.15
    val_frac: float = 0.2
    embargo_minutes: int = 0
    # fit on the bars whose minute is a multiple of this: neighbouring bars' labels overlap
    # by all but a minute, so every 5th bar keeps nearly all the information at 1/5 the cost
    fit_stride_minutes: int = 5
    n_seeds: int = 3
    null_permutations: int = 20
    spread_points: float = 0.5
    news_lags: tuple[int, ...] = (0, 5, 15, 30)
    block_sessions: int = 5
    min_train_sessions: int = 10
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
    bootstrap: int = 1000

    def __post_init__(self) -> None:
        checks = (
            (
                not (0 < self.holdout_frac < 0.5 and 0 < self.val_frac < 0.5),
                "need 0 < holdout_frac < 0.5 and 0 < val_frac < 0.5",
                "pass --holdout-frac and --val-frac between 0 and 0.5",
            ),
            (self.n_folds < 2, "walk-forward needs at least 2 folds", "pass --folds 2+"),
            (self.n_seeds < 1, "need at least one seed", "pass --seeds 1+ (3+ for a verdict)"),
            (
                self.null_permutations < 0 or self.spread_points < 0,
                "null permutations and the spread cannot be negative",
                "pass --null-permutations 0+ and --spread-points 0+",
            ),
            (self.bootstrap < 1, "bootstrap needs at least one resample", "pass --bootstrap 1+"),
            (
                self.embargo_minutes < 0,
                "embargo_minutes must be >= 0",
                "pass --embargo-minutes 0 or more",
            ),
            (
                not 1 <= self.fit_stride_minutes <= 60,
                "fit_stride_minutes must be between 1 and 60",
                "pass --fit-stride-minutes 1 (every bar) to 60",
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

    @property
    def seed_list(self) -> tuple[int, ...]:
        """The model seeds: ``seed``, ``seed + 1``, ... (``n_seeds`` of them)."""
        return tuple(self.seed + i for i in range(self.n_seeds))

    def embargo(self, horizon_minutes: int) -> int:
        """Embargo in minutes between split parts: at least the label horizon."""
        return max(horizon_minutes, self.embargo_minutes)

    def to_params(self) -> dict[str, Any]:
        """The settings as MLflow params: credentials in the tracking URI are masked."""
        return asdict(self) | {"tracking_uri": redact(self.tracking_uri)}

    def fingerprint_params(self) -> dict[str, Any]:
        """The settings that change a result (not where it is tracked)."""
        skip = {"tracking_uri", "experiment", "registered_model", "n_jobs"}
        return {k: v for k, v in asdict(self).items() if k not in skip}
