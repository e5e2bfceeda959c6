"""What a training run is configured with: the settings (``TrainConfig``), and the ``train``
options generated from them.

Each setting is written once, as a field of ``TrainConfig``; a field with ``option(...)``
metadata is also a ``train`` option (its flag, help text and type come from the field), and
one that a deployment setting can change (``option(setting=...)``) takes its default from
``settings.current()`` when the parser is built.
"""

from __future__ import annotations

import argparse
import datetime as dt
import types
from collections.abc import Sequence
from dataclasses import Field, asdict, dataclass, field, fields
from typing import Any, get_args, get_type_hints

from src_clean.defaults import DEFAULT_REGISTERED_MODEL
from src_clean.errors import UserError
from src_clean.feature_set import FeatureSet
from src_clean.redact import redact
from src_clean.training.costs import DEFAULT_SPREAD_POINTS

DEFAULT_EXPERIMENT = "sp500-news-signals"


@dataclass(frozen=True)
class Option:
    """How a ``TrainConfig`` field is a ``train`` option: ``--<field-name>`` unless ``flag``
    names it; ``setting`` names the ``Settings`` field whose current value is its default."""

    help: str
    flag: str | None = None
    setting: str | None = None
    choices: Sequence[Any] | None = None


def option(
    default: Any,
    help: str,
    *,
    flag: str | None = None,
    setting: str | None = None,
    choices: Sequence[Any] | None = None,
) -> Any:
    """A ``TrainConfig`` field that is also a ``train`` option."""
    return field(default=default, metadata={"option": Option(help, flag, setting, choices)})


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a run; logged as MLflow params (the tracking URI redacted).

    ``variant`` names a non-canonical feature set (``FeatureSet.name``): the run reads its
    training table and registers under ``<registered_model>-<variant>``.
    ``gold_version`` pins the Delta version of that table (time travel); None reads the latest.
    """

    variant: str | None = option(
        None,
        "non-canonical feature set, as gold-training names it (e.g. market_only-w60-h30):"
        " reads gold/variants/<variant>/training and registers <registered-model>-<variant>;"
        " default: the canonical gold/training (news, window 60, horizon 30)",
    )
    gold_version: int | None = option(
        None,
        "Delta version of the training table to read (time travel; the MLflow param "
        "gold_version of an earlier run reproduces its data); default: the latest",
    )
    tracking_uri: str | None = option(
        None,
        "MLflow tracking URI; credentials in it are never logged or printed "
        "(default: $MLFLOW_TRACKING_URI, else sqlite:///<lake>/mlflow.db)",
        flag="--mlflow-tracking-uri",
        setting="mlflow_tracking_uri",
    )
    experiment: str = option(DEFAULT_EXPERIMENT, "MLflow experiment (default: %(default)s)")
    registered_model: str = option(
        DEFAULT_REGISTERED_MODEL,
        "registered-model name of the canonical model; a variant's is <name>-<variant> "
        "(default: %(default)s)",
        setting="registered_model",
    )
    # --start/--end: the date range every stage shares (cli_args.add_date_range)
    start: dt.date | None = None
    end: dt.date | None = None
    n_folds: int = option(
        5, "walk-forward folds before the holdout (default: %(default)s)", flag="--folds"
    )
    holdout_frac: float = option(
        0.15,
        "share of the latest sessions held out, scored once at the end (default: %(default)s)",
    )
    val_frac: float = option(
        0.2,
        "share of each training window's latest sessions that validate (early stopping"
        " and the hyperparameter choice) (default: %(default)s)",
    )
    embargo_minutes: int = option(
        0, "gap dropped between parts; the label horizon if larger (default: %(default)s)"
    )
    # fit on the bars whose minute is a multiple of this: neighbouring bars' labels overlap
    # by all but a minute, so every 5th bar keeps nearly all the information at 1/5 the cost
    fit_stride_minutes: int = option(
        5,
        "models fit (and validate) on the bars whose minute is a multiple of this; the "
        "test scores every bar (default: %(default)s; 1 = every bar)",
    )
    n_seeds: int = option(
        3, "model seeds averaged in the verdict (default: %(default)s)", flag="--seeds"
    )
    null_permutations: int = option(
        199,
        "shuffled-news permutations of the null: p has a resolution of 1 / (1 + this) "
        "(default: %(default)s)",
    )
    null_refits: int | None = option(
        None,
        "of those permutations, how many also refit with_news for the secondary test (the "
        "model uplift), whose p then has a resolution of 1 / (1 + this); the refits are the "
        "null's cost (the primary's permutations are a shuffle and an IC each). Default: "
        "all of them. On years of data, fewer here keeps the run short; more comes from "
        "scaling out (docs/evaluation.md)",
    )
    primary_factor: str = option(
        "news_decay_score",
        "the pre-registered news factor of the primary test, named before any test data "
        "is seen (default: %(default)s)",
    )
    spread_points: float = option(
        DEFAULT_SPREAD_POINTS, "round-trip trading cost in index points (default: %(default)s)"
    )
    news_lags: tuple[int, ...] = (0, 5, 15, 30)
    block_sessions: int = 5
    min_train_sessions: int = 10
    n_estimators: int = option(
        2000, "most boosting rounds; early stopping picks fewer (default: %(default)s)"
    )
    early_stopping_rounds: int = 50
    max_depth: int = 4
    learning_rate: float = 0.05
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 10.0
    tree_method: str = "hist"
    n_jobs: int = option(2, "XGBoost threads (default: %(default)s)")
    bootstrap: int = option(
        1000, "session-bootstrap resamples of the uplift intervals (default: %(default)s)"
    )
    seed: int = option(
        7,
        "first model seed (the others follow it) and the seed of the bootstrap and the "
        "null (default: %(default)s)",
    )

    def min_sessions(self) -> int:
        """The fewest trading sessions a run with these settings trains on end to end: the
        walk-forward's folds before the holdout, and the promotion gate's training size."""
        from src_clean.training.folds import min_sessions

        before = max(2 * (self.n_folds + 1), self.min_train_sessions)
        return min_sessions(before, self.holdout_frac)

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
            (
                self.null_refits is not None
                and not 0 <= self.null_refits <= self.null_permutations,
                "null refits must be between 0 and the null permutations",
                "pass --null-refits 0 to --null-permutations (or leave it out: all of them)",
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


# -- the train options ---------------------------------------------------------------


def _value_type(hint: Any) -> Any:
    """The argparse ``type`` of a field annotated ``hint`` (``X | None`` parses as ``X``)."""
    if isinstance(hint, types.UnionType):
        (hint,) = (member for member in get_args(hint) if member is not type(None))
    return None if hint is str else hint


def _options() -> list[tuple[Field, Option]]:
    return [(f, f.metadata["option"]) for f in fields(TrainConfig) if "option" in f.metadata]


def add_options(parser: argparse.ArgumentParser) -> None:
    """One option per ``TrainConfig`` field with ``option`` metadata, in field order (dest:
    the field's name; default: the field's, or the current value of its setting)."""
    from src_clean import settings

    hints = get_type_hints(TrainConfig)
    current = settings.current()
    for spec, opt in _options():
        default = spec.default if opt.setting is None else getattr(current, opt.setting)
        parser.add_argument(
            opt.flag or f"--{spec.name.replace('_', '-')}",
            dest=spec.name,
            type=_value_type(hints[spec.name]),
            default=default,
            choices=opt.choices,
            help=opt.help,
        )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The ``TrainConfig`` of parsed ``train`` options (each named as its field)."""
    given = vars(args)
    return TrainConfig(**{f.name: given[f.name] for f in fields(TrainConfig) if f.name in given})
