"""MLflow tracking of a training run: the session (where MLflow tracks, with which
credentials), a parent run with one nested child run per feature set, their params,
metrics, artifacts and models, and the registry (``registry``) told what to register.

Credentials in the tracking URI never reach a param, a log line or stdout: MLflow tracks to
the URI without them (the one its run links and error messages quote), and the session
hands them to MLflow's requests as an ``Authorization`` header, never through the process
environment. The session ends by putting MLflow's tracking URI back as it found it.
"""

from __future__ import annotations

import base64
import contextlib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

import numpy as np
import pandas as pd

from src_clean.defaults import tracking_uri
from src_clean.lake import Lake
from src_clean.redact import redact
from src_clean.training import lineage, plots, registry
from src_clean.training.promotion import (
    DAILY_IC_ARTIFACT,
    WF_METRIC,
    challenger_score,
    daily_by_session,
    promotion_blockers,
)
from src_clean.training.verdict import run_description, verdict_line

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.models.model import ModelInfo

    from src_clean.training.config import TrainConfig
    from src_clean.training.experiment import GoldSnapshot, ModelResult, Outcome

log = logging.getLogger(__name__)

REMOTE_SCHEMES = ("http://", "https://", "databricks")
# loggers that ``import mlflow`` points at its own stderr handler
MLFLOW_LOGGERS = ("mlflow", "alembic", "huey", "sqlalchemy.engine")
MLFLOW_USER_TAG = "mlflow.user"


@dataclass(frozen=True)
class Session:
    """Where MLflow tracks (the URI without credentials) and the user the URI named."""

    uri: str
    user: str | None = None

    def user_tags(self) -> dict[str, str]:
        """``mlflow.user`` of the runs and logged models: the URI's user, as MLflow records
        the user it logs in as (MLFLOW_TRACKING_USERNAME)."""
        return {} if self.user is None else {MLFLOW_USER_TAG: self.user}


@dataclass(frozen=True)
class TrackedRun:
    """Where a run was tracked (URI without credentials) and what the registry decided."""

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


# -- session ------------------------------------------------------------------------


def resolve_tracking_uri(config: TrainConfig, lake: Lake) -> str:
    """``defaults.tracking_uri`` for ``config`` and ``lake`` (a local store's folder made)."""
    uri = tracking_uri(lake.root, config.tracking_uri)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return uri


def split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """``http(s)://user:password@host/...`` -> (URI without ``user:password@``, user, password).

    Database URIs keep their credentials (the driver needs them there); they are only ever
    shown through ``redact``.
    """
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return uri, None, None
    host = parts.netloc.rsplit("@", 1)[1]
    user = None if parts.username is None else unquote(parts.username)
    password = None if parts.password is None else unquote(parts.password)
    return urlunsplit(parts._replace(netloc=host)), user, password


def route_mlflow_logging() -> None:
    """Send MLflow's log records through the application's logging at their own level.

    ``import mlflow`` gives its loggers a handler of their own that writes to stderr, and
    Airflow shows a task's stderr as ERROR: INFO lines ("Creating initial MLflow database
    tables") would read as errors. Without that handler the records propagate to the
    handlers the CLI or Airflow configured, as INFO.
    """
    own = set(logging.getLogger("mlflow").handlers)
    for name in MLFLOW_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [handler for handler in logger.handlers if handler not in own]
        logger.propagate = True


class SessionAuthorization:
    """An MLflow request-header provider (``mlflow.tracking.request_header``): the basic
    credentials of the ``session`` that runs, on every request MLflow sends meanwhile;
    nothing outside a session. Registered once per process."""

    header: str | None = None

    def in_context(self) -> bool:
        return SessionAuthorization.header is not None

    def request_headers(self) -> dict[str, str]:
        header = SessionAuthorization.header
        return {} if header is None else {"Authorization": header}


@contextlib.contextmanager
def _authorization(user: str | None, password: str | None) -> Iterator[None]:
    """MLflow's requests carry ``user:password`` (HTTP basic) inside the block.

    MLflow's own credentials (MLFLOW_TRACKING_USERNAME/PASSWORD, ~/.mlflow/credentials) are
    read from the process environment or the home folder; these travel as a request header
    instead, so no other code in the process (another task of a worker) ever sees them.
    """
    if user is None or password is None:
        yield
        return
    from mlflow.tracking.request_header.registry import _request_header_provider_registry

    if not any(isinstance(p, SessionAuthorization) for p in _request_header_provider_registry):
        _request_header_provider_registry.register(SessionAuthorization)
    before = SessionAuthorization.header
    token = base64.standard_b64encode(f"{user}:{password}".encode()).decode()
    SessionAuthorization.header = f"Basic {token}"
    try:
        yield
    finally:
        SessionAuthorization.header = before


@contextlib.contextmanager
def _tracking_to(uri: str) -> Iterator[None]:
    """MLflow's fluent API (``start_run``, ``log_model``) tracks to ``uri`` inside the block,
    and after it to what it tracked to before.

    ``mlflow.set_tracking_uri`` also exports MLFLOW_TRACKING_URI (for subprocesses) and
    resetting it to "unset" removes that variable: both are put back as they were.
    """
    import mlflow
    from mlflow.environment_variables import MLFLOW_TRACKING_URI
    from mlflow.tracking._tracking_service import utils as tracking_service

    before, exported = tracking_service._tracking_uri, MLFLOW_TRACKING_URI.get()
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)
        if exported is None:
            MLFLOW_TRACKING_URI.unset()
        else:
            MLFLOW_TRACKING_URI.set(exported)


@contextlib.contextmanager
def session(config: TrainConfig, lake: Lake) -> Iterator[Session]:
    """Point MLflow at the run's tracking URI, with its credentials; yield the ``Session``.

    Credentials inside an http(s) URI leave the URI (``split_credentials``): MLflow's printed
    run links and error messages, which quote the URI, never carry the password.
    """
    route_mlflow_logging()
    uri, user, password = split_credentials(resolve_tracking_uri(config, lake))
    with _authorization(user, password), _tracking_to(uri):
        log.info("MLflow tracking URI %s", redact(uri))
        yield Session(uri, user)


def artifact_location(tracking_uri: str, lake: Lake) -> str | None:
    """``<lake>/mlartifacts`` for a local (database or file) store; a server picks its own."""
    if tracking_uri.startswith(REMOTE_SCHEMES):
        return None
    if lake.is_local:
        return lake.local_path("mlartifacts").as_uri()
    return f"{lake.root.rstrip('/')}/mlartifacts"


# MLflow 3's UI opens an experiment without this tag in GenAI mode (traces, "Detect
# Issues"); with it, on the runs table with their metrics.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def ensure_experiment(client: MlflowClient, name: str, location: str | None) -> str:
    """Id of experiment ``name`` (created with ``location`` as artifact root if missing),
    marked as model training so the UI opens on the runs and their metrics."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return client.create_experiment(name, artifact_location=location, tags=EXPERIMENT_KIND)
    for key, value in EXPERIMENT_KIND.items():
        if experiment.tags.get(key) != value:
            client.set_experiment_tag(experiment.experiment_id, key, value)
    return experiment.experiment_id


# -- artifacts ----------------------------------------------------------------------


def feature_importance(booster: Any, features: list[str]) -> pd.DataFrame:
    """Gain importance per feature (0 for features no split used), largest first."""
    gain = pd.Series(booster.get_score(importance_type="gain"), dtype=np.float64)
    table = gain.reindex(features, fill_value=0.0).rename_axis("feature").reset_index(name="gain")
    return table.sort_values("gain", ascending=False, ignore_index=True)


def feature_profile(x: pd.DataFrame) -> pd.DataFrame:
    """Per-feature count, NaN share, mean and std (on the training rows)."""
    profile = pd.DataFrame(
        {"count": x.count(), "nan_share": x.isna().mean(), "mean": x.mean(), "std": x.std()}
    )
    return profile.rename_axis("feature").reset_index()


def _log_model(
    model: Any, name: str, example: pd.DataFrame, output: np.ndarray, tags: dict[str, str]
) -> ModelInfo:
    """Log an XGBoost estimator with its signature and input example (``tags`` on the logged
    model, besides MLflow's own)."""
    import mlflow
    import mlflow.xgboost
    from mlflow.models import infer_signature

    return mlflow.xgboost.log_model(
        model,
        name=name,
        signature=infer_signature(example, output),
        input_example=example,
        pip_requirements=mlflow.xgboost.get_default_pip_requirements(),
        tags=tags or None,
    )


def log_child_run(result: ModelResult, outcome: Outcome, model_tags: dict[str, str]) -> ModelInfo:
    """Metrics, diagnostics and the final model of one feature set (inside a child run)."""
    import mlflow

    cols = outcome.data.columns(result.name)
    x_train = pd.DataFrame(
        outcome.data.x[outcome.train_rows, cols], columns=result.features, copy=False
    )
    x_test = outcome.data.x[outcome.plan.holdout.test, cols]
    predicted = result.booster.inplace_predict(
        x_test, iteration_range=(0, result.best_iteration + 1)
    )
    importance = feature_importance(result.booster, result.features)
    mlflow.log_params({"model": result.name, "n_features": len(result.features)})
    mlflow.log_metrics(result.summary())
    mlflow.log_dict(result.metrics, "holdout_scores.json")
    mlflow.log_text(importance.to_csv(index=False), "feature_importance.csv")
    mlflow.log_text(feature_profile(x_train).to_csv(index=False), "data_profile.csv")
    figures = {
        "feature_importance.png": plots.importance_figure(importance, f"{result.name}: gain"),
        "plots/predictions_vs_actual.png": plots.predictions_figure(
            outcome.y_test, predicted, f"{result.name}: holdout"
        ),
    }
    for path, figure in figures.items():
        mlflow.log_figure(figure, path)
    # Served inputs come from the float64 gold table, so the signature declares doubles.
    example = x_train.head(5).astype(np.float64)
    output = result.booster.inplace_predict(example.to_numpy())
    return _log_model(result.booster, "model", example, output, model_tags)


def verdict_figures(outcome: Outcome) -> dict[str, Any]:
    """The verdict's pictures by file name: fold uplift, null, equity curves, lag curve."""
    walk = outcome.verdict.summary
    figures = {
        "equity_curves.png": plots.equity_figure(
            outcome.verdict.curve_times, outcome.verdict.curves, walk["pnl"]["spread_points"]
        )
    }
    if "uplift_ic" in walk["pooled"]:
        figures["fold_uplift.png"] = plots.fold_uplift_figure(
            walk["folds"], walk["pooled"]["uplift_ic"]
        )
        figures["lag_curve.png"] = plots.lag_figure(walk["lag_curve"])
        if walk["null"]["uplift_ic"]:
            figures["null_distribution.png"] = plots.null_figure(walk["null"])
    return figures


def log_figures(run: TrackedRun, outcome: Outcome, lake: Lake) -> None:
    """The verdict's pictures on the parent run and under ``reports/`` (a variant's own)."""
    from mlflow import MlflowClient

    client = MlflowClient(run.tracking_uri)
    folder = outcome.config.feature_set.training_summary.rsplit("/", 1)[0]
    for name, figure in verdict_figures(outcome).items():
        client.log_figure(run.run_id, figure, f"verdict/{name}")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        lake.files.write_bytes(f"{folder}/plots/{name}", buffer.getvalue())


# -- run ----------------------------------------------------------------------------


def track(
    outcome: Outcome, snapshot: GoldSnapshot, lake: Lake, session: Session, fingerprint: str
) -> TrackedRun:
    """Log the parent and child runs with their lineage, register the challenger, decide
    the champion (inside ``session``)."""
    import mlflow
    from mlflow import MlflowClient

    uri = session.uri
    client = MlflowClient(uri)
    experiment_id = ensure_experiment(
        client, outcome.config.experiment, artifact_location(uri, lake)
    )
    tags = lineage.lineage_tags(outcome, snapshot) | {"fingerprint": fingerprint}
    dataset = lineage.training_dataset(snapshot)
    registered = outcome.registered
    name = lineage.run_name(outcome, snapshot, f"train {outcome.config.feature_set.label}")
    # created with the training's start time, so the run shows the real duration
    created = client.create_run(
        experiment_id,
        start_time=outcome.started_ms or None,
        tags=tags
        | session.user_tags()
        | {"mlflow.note.content": run_description(outcome), "verdict": claim_words(outcome)},
        run_name=name,
    )
    with mlflow.start_run(run_id=created.info.run_id) as parent:
        mlflow.log_params(lineage.run_params(outcome, snapshot, uri))
        metrics = lineage.run_metrics(outcome)
        metrics[WF_METRIC] = challenger_score(outcome)
        mlflow.log_metrics(metrics)
        mlflow.log_dict(outcome.verdict.summary, "walk_forward.json")
        mlflow.log_dict(daily_by_session(outcome), DAILY_IC_ARTIFACT)
        client.log_inputs(parent.info.run_id, datasets=[dataset])
        models = {}
        for feature_set, result in outcome.models.items():
            child_tags = {**tags, "feature_set": feature_set}
            with mlflow.start_run(
                experiment_id=experiment_id,
                run_name=lineage.run_name(outcome, snapshot, feature_set),
                nested=True,
                tags=child_tags | session.user_tags(),
            ) as child:
                client.log_inputs(child.info.run_id, datasets=[dataset])
                models[feature_set] = log_child_run(result, outcome, session.user_tags())
        blockers = promotion_blockers(lake, snapshot.last_date)
        decision = registry.register_and_promote(
            client,
            models[registered],
            outcome,
            snapshot,
            {**tags, "feature_set": registered},
            blockers,
        )
        mlflow.set_tag("champion_decision", decision["reason"])
        mlflow.log_dict(decision, "champion_decision.json")
    log.info("champion decision: %s", decision["reason"])
    return TrackedRun(uri, parent.info.run_id, decision["challenger_version"], decision)


def claim_words(outcome: Outcome) -> str:
    """The verdict's claim alone, for the runs list's ``verdict`` column."""
    return verdict_line(outcome.verdict.summary, outcome.holdout).split(". ", 1)[0]


def log_tear_sheet(run: TrackedRun, html: str) -> None:
    """The verdict tear sheet on the parent run (``verdict/tear_sheet.html``), where the
    MLflow UI shows it in the artifact view."""
    from mlflow import MlflowClient

    MlflowClient(run.tracking_uri).log_text(run.run_id, html, "verdict/tear_sheet.html")


def log_summary(run: TrackedRun, summary: dict[str, Any]) -> None:
    """Attach the final training summary to the (finished) parent run."""
    from mlflow import MlflowClient

    MlflowClient(run.tracking_uri).log_dict(run.run_id, summary, "training_summary.json")
