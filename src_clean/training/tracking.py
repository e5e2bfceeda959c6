"""MLflow tracking of a training run: a parent run with one nested child run per feature set,
the with_news model (market_only when news is skipped) registered as the challenger, and the
champion alias moved only when the challenger beats the champion's declared metric."""

from __future__ import annotations

import logging
import math
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from src_clean.lake import Lake
from src_clean.training import plots
from src_clean.training.metrics import sign_strategy_curves

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from src_clean.training.config import TrainConfig
    from src_clean.training.train import ModelResult, Outcome

log = logging.getLogger(__name__)

CHALLENGER = "challenger"
CHAMPION = "champion"
REMOTE_SCHEMES = ("http://", "https://", "databricks")


@dataclass(frozen=True)
class TrackedRun:
    """Where a run was tracked and what the registry decided."""

    tracking_uri: str
    run_id: str
    registered_model_version: str
    champion_decision: dict[str, Any]

    def to_summary(self) -> dict[str, Any]:
        return {
            "mlflow_run_id": self.run_id,
            "registered_model_version": self.registered_model_version,
            "champion_decision": self.champion_decision,
        }


# -- setup --------------------------------------------------------------------------


def resolve_tracking_uri(config: TrainConfig, lake: Lake) -> str:
    """``config.tracking_uri``, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<lake>/mlflow.db``."""
    uri = config.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    if not lake.is_local:
        raise ValueError(f"{lake} is not local: pass --mlflow-tracking-uri")
    db = lake.local_path("mlflow.db")
    db.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{db}"


def artifact_location(tracking_uri: str, lake: Lake) -> str | None:
    """``<lake>/mlartifacts`` for a local (database or file) store; a server picks its own."""
    if tracking_uri.startswith(REMOTE_SCHEMES):
        return None
    if lake.is_local:
        return lake.local_path("mlartifacts").as_uri()
    return f"{lake.root.rstrip('/')}/mlartifacts"


def ensure_experiment(client: MlflowClient, name: str, location: str | None) -> str:
    """Id of experiment ``name``, created with ``location`` as artifact root if missing."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=location)


def git_commit() -> str:
    """HEAD of the repository this code runs from, or "unknown"."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"


# -- artifacts ----------------------------------------------------------------------


def feature_importance(model: Any, features: list[str]) -> pd.DataFrame:
    """Gain importance per feature (0 for features no split used), largest first."""
    gain = pd.Series(model.get_booster().get_score(importance_type="gain"), dtype=np.float64)
    table = gain.reindex(features, fill_value=0.0).rename_axis("feature").reset_index(name="gain")
    return table.sort_values("gain", ascending=False, ignore_index=True)


def feature_profile(x: pd.DataFrame) -> pd.DataFrame:
    """Per-feature count, NaN share, mean and std (on the training rows)."""
    profile = pd.DataFrame(
        {"count": x.count(), "nan_share": x.isna().mean(), "mean": x.mean(), "std": x.std()}
    )
    return profile.rename_axis("feature").reset_index()


def run_params(outcome: Outcome) -> dict[str, Any]:
    """Parent-run params: config, data ranges and sizes, feature contract, code version."""
    spec = outcome.spec
    return {
        **outcome.config.to_params(),
        **outcome.split.to_params(outcome.times),
        "feature_list_hash": spec.feature_list_hash,
        "n_market_features": len(spec.market_features),
        "n_news_features": len(spec.news_features) if spec.has_news else 0,
        "sentiment_model_id": spec.sentiment_model_id,
        "skip_news": not spec.has_news,
        "window_minutes": spec.window_minutes,
        "horizon_minutes": spec.horizon_minutes,
        "bootstrap_block_bars": spec.horizon_minutes,
        "git_commit": git_commit(),
    }


def run_metrics(outcome: Outcome) -> dict[str, float]:
    """Parent-run metrics: every model and baseline, and the uplift with its interval."""
    metrics: dict[str, float] = {}
    for name, result in outcome.models.items():
        metrics |= {f"{name}_{key}": value for key, value in result.summary().items()}
    for name, scores in outcome.baselines.items():
        metrics |= {f"baseline_{name}_{key}": value for key, value in scores.items()}
    for name, ci in (outcome.uplift or {}).items():
        metrics |= {f"uplift_{name}": ci["estimate"]}
        metrics |= {f"uplift_{name}_{bound}": ci[bound] for bound in ("ci_low", "ci_high")}
    return metrics


def _log_model(model: Any, name: str, example: pd.DataFrame, output: np.ndarray) -> str:
    """Log an XGBoost estimator with its signature and input example; return its model URI."""
    import mlflow
    import mlflow.xgboost
    from mlflow.models import infer_signature

    info = mlflow.xgboost.log_model(
        model,
        name=name,
        signature=infer_signature(example, output),
        input_example=example,
        pip_requirements=mlflow.xgboost.get_default_pip_requirements(),
    )
    return info.model_uri


def log_child_run(result: ModelResult, outcome: Outcome) -> str:
    """Metrics, diagnostics and the model of one feature set (inside an active child run)."""
    import mlflow

    x_train = result.x.iloc[outcome.split.rows("train")]
    importance = feature_importance(result.regressor, result.features)
    curves = sign_strategy_curves(
        outcome.y_test, result.forecast.direction, outcome.spec.horizon_minutes
    )
    mlflow.log_params({"model": result.name, "n_features": len(result.features)})
    mlflow.log_metrics(result.summary())
    mlflow.log_text(importance.to_csv(index=False), "feature_importance.csv")
    mlflow.log_text(feature_profile(x_train).to_csv(index=False), "data_profile.csv")
    figures = {
        "feature_importance.png": plots.importance_figure(importance, f"{result.name}: gain"),
        "plots/predictions_vs_actual.png": plots.predictions_figure(
            outcome.y_test, result.forecast.value, f"{result.name}: test set"
        ),
        "plots/cumulative_return.png": plots.cumulative_figure(
            outcome.test_times, curves, f"{result.name}: sign strategy vs buy-and-hold (test)"
        ),
    }
    for path, figure in figures.items():
        mlflow.log_figure(figure, path)
    # Served inputs come from the float64 gold table, so the signature declares doubles.
    example = x_train.head(5).astype(np.float64)
    if result.classifier is not None:
        _log_model(
            result.classifier, "classifier", example, result.classifier.predict_proba(example)
        )
    return _log_model(result.regressor, "model", example, result.regressor.predict(example))


# -- registry -----------------------------------------------------------------------


def decide_champion(
    challenger: float, champion: float | None, higher_is_better: bool
) -> tuple[bool, str]:
    """Whether the challenger replaces the champion, and why (strict improvement only)."""
    if champion is None or math.isnan(champion):
        return True, "no champion with the metric yet"
    if math.isnan(challenger):
        return False, "challenger metric is NaN"
    better = challenger > champion if higher_is_better else challenger < champion
    verdict = "beats" if better else "does not beat"
    direction = "higher" if higher_is_better else "lower"
    return (
        better,
        f"challenger {challenger:.6g} {verdict} champion {champion:.6g} ({direction} wins)",
    )


def current_champion(client: MlflowClient, name: str, metric: str) -> tuple[str | None, float]:
    """Version holding the champion alias and its run's ``metric`` (NaN if none)."""
    version = client.get_registered_model(name).aliases.get(CHAMPION)
    if version is None:
        return None, math.nan
    run_id = client.get_model_version(name, version).run_id
    return str(version), client.get_run(run_id).data.metrics.get(metric, math.nan)


def register_and_promote(
    client: MlflowClient, model_uri: str, challenger_value: float, config: TrainConfig
) -> dict[str, Any]:
    """Register ``model_uri`` as the challenger; move the champion alias if it is better."""
    import mlflow

    name, metric = config.registered_model, config.champion_metric
    version = str(mlflow.register_model(model_uri, name).version)
    client.set_registered_model_alias(name, CHALLENGER, version)
    champion_version, champion_value = current_champion(client, name, metric)
    promote, reason = decide_champion(
        challenger_value, champion_value, config.champion_higher_is_better
    )
    if promote:
        client.set_registered_model_alias(name, CHAMPION, version)
    decision = {
        "registered_model": name,
        "challenger_version": version,
        "metric": metric,
        "higher_is_better": config.champion_higher_is_better,
        "challenger_value": challenger_value,
        "previous_champion_version": champion_version,
        "previous_champion_value": None if math.isnan(champion_value) else champion_value,
        "promoted": promote,
        "champion_version": version if promote else champion_version,
        "reason": f"{'promoted' if promote else 'kept champion'}: {reason}",
    }
    client.set_model_version_tag(name, version, "champion_decision", decision["reason"])
    return decision


# -- run ----------------------------------------------------------------------------


def track(outcome: Outcome, lake: Lake) -> TrackedRun:
    """Log the parent and child runs, register the challenger, decide the champion."""
    import mlflow
    from mlflow import MlflowClient

    from src_clean.training.train import MARKET_ONLY, WITH_NEWS

    uri = resolve_tracking_uri(outcome.config, lake)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    experiment_id = ensure_experiment(
        client, outcome.config.experiment, artifact_location(uri, lake)
    )
    registered = WITH_NEWS if WITH_NEWS in outcome.models else MARKET_ONLY
    run_name = f"xgb-h{outcome.spec.horizon_minutes}m"
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as parent:
        mlflow.log_params(run_params(outcome))
        mlflow.log_metrics(run_metrics(outcome))
        model_uris = {}
        for name, result in outcome.models.items():
            with mlflow.start_run(experiment_id=experiment_id, run_name=name, nested=True):
                model_uris[name] = log_child_run(result, outcome)
        challenger_value = outcome.models[registered].metrics[outcome.config.champion_metric]
        decision = register_and_promote(
            client, model_uris[registered], challenger_value, outcome.config
        )
        mlflow.set_tag("champion_decision", decision["reason"])
        mlflow.log_dict(decision, "champion_decision.json")
    log.info("champion decision: %s", decision["reason"])
    return TrackedRun(uri, parent.info.run_id, decision["challenger_version"], decision)


def log_summary(run: TrackedRun, summary: dict[str, Any]) -> None:
    """Attach the final training summary to the (finished) parent run."""
    from mlflow import MlflowClient

    MlflowClient(run.tracking_uri).log_dict(run.run_id, summary, "training_summary.json")
