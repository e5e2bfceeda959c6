"""MLflow tracking of a training run: a parent run with one nested child run per feature set,
the with_news model (market_only when news is skipped) registered as the challenger, and the
champion alias moved on evidence only: the gates (training size, a non-degenerate model)
and a better walk-forward daily IC than the champion on the same folds of the same gold
version (or on walk-forward sessions the champion never trained on). A rerun on the same
gold version, settings and code registers nothing ("unchanged").

Every run carries its lineage: the gold table, URI and Delta version it read (a param, tags
and a logged dataset input), the Airflow dag/run/logical date/try that ran it, the sentiment
model and the git commit. Credentials in the tracking URI never reach a param, a log line or
stdout: MLflow gets them from MLFLOW_TRACKING_USERNAME/PASSWORD, never inside the URI.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import math
import os
import subprocess
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock
from urllib.parse import unquote, urlsplit, urlunsplit

import numpy as np
import pandas as pd

from src_clean.defaults import tracking_uri
from src_clean.lake import Lake
from src_clean.monitoring.summary import promotion_blockers
from src_clean.redact import redact
from src_clean.training import plots
from src_clean.training.experiment import MARKET_ONLY, WITH_NEWS

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import DatasetInput, Run
    from mlflow.models.model import ModelInfo

    from src_clean.training.config import TrainConfig
    from src_clean.training.experiment import GoldSnapshot, ModelResult, Outcome

log = logging.getLogger(__name__)

CHALLENGER = "challenger"
CHAMPION = "champion"
REMOTE_SCHEMES = ("http://", "https://", "databricks")
# the environment Airflow gives a task (ops passes it on to containers) -> run tag
AIRFLOW_TAGS = {
    "AIRFLOW_CTX_DAG_ID": "airflow.dag_id",
    "AIRFLOW_CTX_DAG_RUN_ID": "airflow.dag_run_id",
    "AIRFLOW_CTX_LOGICAL_DATE": "airflow.logical_date",
    "AIRFLOW_CTX_TRY_NUMBER": "airflow.try_number",
    "AIRFLOW_CTX_TASK_ID": "airflow.task_id",
}
SCHEMA_SAMPLE_ROWS = 1000
DIGEST_CHARS = 16  # of the sha256 of the row hashes: the same rows, the same digest
CREDENTIAL_VARIABLES = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
# loggers that ``import mlflow`` points at its own stderr handler
MLFLOW_LOGGERS = ("mlflow", "alembic", "huey", "sqlalchemy.engine")


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


# -- setup --------------------------------------------------------------------------


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


@contextlib.contextmanager
def session(config: TrainConfig, lake: Lake) -> Iterator[str]:
    """Point MLflow at the run's tracking URI; yield that URI without credentials.

    Credentials inside an http(s) URI move to MLFLOW_TRACKING_USERNAME/PASSWORD for the
    session (and are restored after), so MLflow's printed run links and error messages, which
    quote the URI, never carry the password.
    """
    import mlflow

    route_mlflow_logging()
    uri, user, password = split_credentials(resolve_tracking_uri(config, lake))
    pairs = zip(CREDENTIAL_VARIABLES, (user, password), strict=True)
    with mock.patch.dict(os.environ, {name: value for name, value in pairs if value is not None}):
        mlflow.set_tracking_uri(uri)
        log.info("MLflow tracking URI %s", redact(uri))
        yield uri


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


def git_commit() -> str | None:
    """HEAD of the repository this code runs from; None without git or a repository."""
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
        return None
    return result.stdout.strip() or None


# -- lineage ------------------------------------------------------------------------


def run_name(outcome: Outcome, snapshot: GoldSnapshot, what: str) -> str:
    """``with_news · h30 · 2024-01-01..2024-02-29 · gold v1``: what the run is first (the
    runs list cuts long names), then horizon, dates and the gold table's version (a
    variant's table by its name)."""
    table = outcome.config.variant or "gold"
    return (
        f"{what} · h{outcome.spec.horizon_minutes} · "
        f"{snapshot.first_date}..{snapshot.last_date} · {table} v{snapshot.version}"
    )


def headline_first(uplift: dict[str, dict[str, float]]) -> list[tuple[str, dict[str, float]]]:
    """The uplift per metric, the information coefficient (the headline) first."""
    return sorted(uplift.items(), key=lambda item: item[0] != "ic")


def verdict(outcome: Outcome) -> str:
    """The parent run's description (Markdown): the verdict line first, then per fold."""
    from src_clean.training.train import verdict_line

    walk = outcome.verdict.summary
    lines = [f"**{verdict_line(walk)}**", ""]
    names = [n for n in (WITH_NEWS, MARKET_ONLY) if n in outcome.data.feature_sets]
    lines.append("| fold | " + " | ".join(f"{n} daily IC" for n in names) + " | uplift (95% CI) |")
    lines.append("|---" * (len(names) + 2) + "|")
    for fold in walk["folds"]:
        cells = " | ".join(f"{fold['models'][n]['daily_ic']:+.4f}" for n in names)
        ci = fold.get("uplift_ic")
        uplift = (
            "-" if ci is None else f"{ci['estimate']:+.4f} ({ci['low']:+.4f}, {ci['high']:+.4f})"
        )
        lines.append(f"| {fold['fold']} | {cells} | {uplift} |")
    flagged = [
        f"{n} in {k} of {len(walk['folds'])} folds" for n, k in walk["degenerate"].items() if k
    ]
    if flagged:
        lines.append("")
        lines.append(f"Degenerate (one tree or a constant forecast): {', '.join(flagged)}.")
    return "\n".join(lines)


def airflow_tags() -> dict[str, str]:
    """The Airflow dag id, run id, logical date and try number of the task running this
    (from the ``AIRFLOW_CTX_*`` environment); empty outside Airflow."""
    return {tag: os.environ[name] for name, tag in AIRFLOW_TAGS.items() if os.environ.get(name)}


def lineage_tags(outcome: Outcome, snapshot: GoldSnapshot) -> dict[str, str]:
    """Tags of every run of a training: data snapshot, feature set, Airflow run, code."""
    spec = outcome.spec
    tags = {
        "variant": outcome.config.feature_set.label,
        "gold.table": snapshot.table,
        "gold.table_uri": redact(snapshot.uri),
        "gold.version": str(snapshot.version),
        "gold.date_range": f"{snapshot.first_date}..{snapshot.last_date}",
        "horizon_minutes": str(spec.horizon_minutes),
        "skip_news": str(not spec.has_news).lower(),
        "sentiment_model_id": spec.sentiment_model_id or "none",
        "feature_list_hash": spec.feature_list_hash,
        **airflow_tags(),
    }
    commit = git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    return tags


def training_dataset(snapshot: GoldSnapshot) -> DatasetInput:
    """The rows read as an MLflow dataset input (context ``training``) whose source is the
    Delta table URI and version.

    Built from MLflow's entities rather than ``mlflow.data.from_pandas``, which inspects every
    cell (``DataFrame.map(type)`` and per-value schema checks: minutes for years of bars):
    the digest hashes the rows with pandas' vectorised hash, the schema comes from a sample.
    """
    from mlflow.data.delta_dataset_source import DeltaDatasetSource
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.models import infer_signature
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    frame = snapshot.frame
    source = DeltaDatasetSource(path=redact(snapshot.uri), delta_table_version=snapshot.version)
    with warnings.catch_warnings():
        # the hint that integer columns cannot hold NaN at inference concerns model
        # signatures; the models' signatures declare doubles, this schema only describes data
        warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer", UserWarning)
        schema = infer_signature(frame.head(SCHEMA_SAMPLE_ROWS)).inputs
    rows = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    dataset = Dataset(
        name=snapshot.label(),
        digest=hashlib.sha256(rows.tobytes()).hexdigest()[:DIGEST_CHARS],
        source_type=DeltaDatasetSource._get_source_type(),
        source=source.to_json(),
        schema=json.dumps({"mlflow_colspec": schema.to_dict()}),
        profile=json.dumps({"num_rows": len(frame), "num_elements": int(frame.size)}),
    )
    return DatasetInput(dataset, tags=[InputTag(MLFLOW_DATASET_CONTEXT, "training")])


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


def run_params(outcome: Outcome, snapshot: GoldSnapshot, uri: str) -> dict[str, Any]:
    """Parent-run params: config, data snapshot, ranges and sizes, feature contract, code;
    ``tracking_uri`` is the one MLflow used (without credentials, or redacted)."""
    spec = outcome.spec
    return {
        **outcome.config.to_params(),
        "tracking_uri": redact(uri),
        **plan_params(outcome),
        "registered_model_name": outcome.config.model_name,
        "gold_table": snapshot.table,
        "gold_version": snapshot.version,
        "feature_list_hash": spec.feature_list_hash,
        "n_market_features": len(spec.market_features),
        "n_news_features": len(spec.news_features) if spec.has_news else 0,
        "sentiment_model_id": spec.sentiment_model_id,
        "skip_news": not spec.has_news,
        "window_minutes": spec.window_minutes,
        "horizon_minutes": spec.horizon_minutes,
        "news_time": spec.news_time,
        "git_commit": git_commit() or "unknown",
    }


def plan_params(outcome: Outcome) -> dict[str, Any]:
    """The fold plan as params: sizes and time ranges of the holdout, the folds' count."""
    holdout = outcome.plan.holdout
    params: dict[str, Any] = {f"n_{part}": n for part, n in holdout.sizes().items()}
    for part, (first, last) in holdout.time_ranges(outcome.times).items():
        params[f"{part}_start"], params[f"{part}_end"] = first, last
    params["embargo_minutes_effective"] = int(outcome.plan.embargo / pd.Timedelta(minutes=1))
    params["plan_fingerprint"] = outcome.plan.fingerprint(outcome.times)
    return params


def run_metrics(outcome: Outcome) -> dict[str, float]:
    """Parent-run metrics, headline first: the walk-forward uplift with its interval and
    the null's p, then each model's walk-forward and holdout scores, then the baselines."""
    walk = outcome.verdict.summary
    metrics: dict[str, float] = {}
    uplift = walk["pooled"].get("uplift_ic")
    if uplift is not None:
        metrics |= {
            "uplift_ic": uplift["estimate"],
            "uplift_ic_ci_low": uplift["low"],
            "uplift_ic_ci_high": uplift["high"],
        }
        if walk["null"]["p_value"] is not None:
            metrics["null_p_value"] = walk["null"]["p_value"]
    for name in outcome.data.feature_sets:
        metrics[f"wf_{name}_daily_ic"] = walk["pooled"][f"{name}_daily_ic"]["estimate"]
        sign = walk["pnl"][name]["sign"]
        metrics[f"wf_{name}_net_bps_per_trade"] = sign["net_mean_bps"]
        metrics[f"wf_{name}_net_bps_se"] = sign["net_se_bps"]
    for name, result in outcome.models.items():
        metrics |= {f"{name}_{key}": value for key, value in result.summary().items()}
    for name, scores in outcome.holdout["models"].items():
        if name.startswith("baseline:"):
            key = name.removeprefix("baseline:")
            metrics |= {
                f"baseline_{key}_{m}": v
                for m, v in scores.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
    return {k: float(v) for k, v in metrics.items() if v is not None and not math.isnan(v)}


def _log_model(model: Any, name: str, example: pd.DataFrame, output: np.ndarray) -> ModelInfo:
    """Log an XGBoost estimator with its signature and input example."""
    import mlflow
    import mlflow.xgboost
    from mlflow.models import infer_signature

    return mlflow.xgboost.log_model(
        model,
        name=name,
        signature=infer_signature(example, output),
        input_example=example,
        pip_requirements=mlflow.xgboost.get_default_pip_requirements(),
    )


def log_child_run(result: ModelResult, outcome: Outcome) -> ModelInfo:
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
    return _log_model(result.booster, "model", example, output)


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


# -- registry -----------------------------------------------------------------------


MIN_COMPARE_SESSIONS = 3
WF_METRIC = "wf_registered_daily_ic"  # the registered feature set's walk-forward daily IC


def promotion_gates(outcome: Outcome) -> list[str]:
    """Why the challenger may not become champion whatever it is compared with."""
    problems = []
    sessions = len(np.unique(outcome.data.sessions[outcome.train_rows]))
    if sessions < outcome.config.min_train_sessions:
        problems.append(f"trained on {sessions} sessions (< {outcome.config.min_train_sessions})")
    final = outcome.final.scores[outcome.registered]
    if final["degenerate"]:
        problems.append("degenerate: one tree or a constant forecast")
    return problems


def compare_with_champion(
    client: MlflowClient, name: str, version: str, outcome: Outcome, snapshot: GoldSnapshot
) -> tuple[bool, str]:
    """Challenger against champion on the same walk-forward folds of the same gold version.

    The champion's recorded walk-forward score counts only when it was computed on this
    gold version with this fold plan. Otherwise the champion's model predicts the
    challenger's walk-forward test sessions it never read (after its validation end plus
    the embargo), and both are scored there; fewer than ``MIN_COMPARE_SESSIONS`` such
    sessions keep the champion.
    """
    run = parent_run(client, client.get_model_version(name, version).run_id)
    params, ours = run.data.params, outcome.verdict.summary
    challenger = ours["pooled"][f"{outcome.registered}_daily_ic"]["estimate"]
    same = (
        params.get("gold_table") == snapshot.table
        and params.get("gold_version") == str(snapshot.version)
        and params.get("plan_fingerprint") == outcome.plan.fingerprint(outcome.times)
    )
    if same and WF_METRIC in run.data.metrics:
        theirs = run.data.metrics[WF_METRIC]
        better = challenger > theirs
        return better, (
            f"walk-forward daily IC {challenger:+.4f} {'beats' if better else 'does not beat'} "
            f"the champion's {theirs:+.4f} on the same folds of {snapshot.label()}"
        )
    return _compare_on_unseen(client, name, version, params, outcome)


def _compare_on_unseen(
    client: MlflowClient, name: str, version: str, params: dict[str, str], outcome: Outcome
) -> tuple[bool, str]:
    import mlflow.xgboost

    from src_clean.training.metrics import daily_ic
    from src_clean.training.walk_forward import test_rows

    # the champion's final model read its training and validation rows (early stopping)
    end = pd.Timestamp(params.get("val_end", "1970-01-01T00:00:00+00:00"))
    data, start = outcome.data, end + outcome.plan.embargo
    tested = test_rows(outcome.verdict.results)
    rows = tested[(data.times.iloc[tested] > start).to_numpy()]
    sessions = np.unique(data.sessions[rows])
    if len(sessions) < MIN_COMPARE_SESSIONS:
        return False, (
            f"not compared: {len(sessions)} walk-forward sessions the champion never trained "
            f"on (< {MIN_COMPARE_SESSIONS}); the champion stays until there are enough"
        )
    booster = mlflow.xgboost.load_model(f"models:/{name}/{version}")
    names = booster.feature_names or []
    if not set(names) <= set(data.features):
        return False, "not compared: the champion's features are not in this gold table"
    cols = [data.features.index(n) for n in names]
    theirs = booster.inplace_predict(data.x[np.ix_(rows, cols)])
    ours = np.concatenate(
        [r.predictions[outcome.registered].mean(axis=0) for r in outcome.verdict.results]
    )[np.isin(tested, rows)]
    y, s = data.y[rows], data.sessions[rows]
    challenger, champion = daily_ic(s, y, ours).mean(), daily_ic(s, y, theirs).mean()
    better = bool(challenger > champion)
    return better, (
        f"daily IC {challenger:+.4f} {'beats' if better else 'does not beat'} the champion's "
        f"{champion:+.4f} on {len(sessions)} walk-forward sessions it never trained on"
    )


def current_champion(client: MlflowClient, name: str) -> str | None:
    """The version holding the champion alias, if any."""
    version = client.get_registered_model(name).aliases.get(CHAMPION)
    return None if version is None else str(version)


def decide(
    client: MlflowClient,
    name: str,
    outcome: Outcome,
    snapshot: GoldSnapshot,
    blockers: Sequence[str] = (),
) -> tuple[bool, str, str | None]:
    """(promote, reason, previous champion version): gates first (the model's, and the
    monitor's data-quality failures on the last training day), then the comparison."""
    champion = current_champion(client, name)
    problems = promotion_gates(outcome)
    if blockers:
        problems.append(f"data quality failed on {snapshot.last_date}: {', '.join(blockers)}")
    if problems:
        return False, f"not promoted: {'; '.join(problems)}", champion
    if champion is None:
        return True, "promoted: no champion yet, and the challenger passes the gates", None
    better, why = compare_with_champion(client, name, champion, outcome, snapshot)
    return better, f"{'promoted' if better else 'kept champion'}: {why}", champion


def ensure_registered_model(client: MlflowClient, name: str, description: str, tags: dict) -> None:
    """Create registered model ``name`` unless it exists (a concurrent creator is fine).

    Looked up first rather than created and caught: ``mlflow.register_model`` prints
    "Registered model ... already exists" to stderr on every run, an ERROR line in Airflow.
    """
    from mlflow.exceptions import MlflowException

    quoted = name.replace("'", "\\'")
    if client.search_registered_models(filter_string=f"name = '{quoted}'", max_results=1):
        return
    try:
        client.create_registered_model(name, tags=tags, description=description)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise
    else:
        log.info("created registered model %s", name)


def model_description(outcome: Outcome) -> str:
    """What a registered model holds: its feature set, horizon and how it stands apart."""
    spec, variant = outcome.spec, outcome.config.variant
    kind = "market and news features" if spec.has_news else "market features only (no news)"
    text = (
        f"XGBoost forecast of the {spec.horizon_minutes}-minute forward return of SPX500_USD "
        f"from {kind}. Alias `{CHALLENGER}`: the latest model; `{CHAMPION}`: promoted on "
        "walk-forward evidence (never the holdout)."
    )
    if variant is None:
        return f"{text} Canonical feature set (news, window 60, horizon 30)."
    return (
        f"{text} Feature variant `{variant}`: registered apart from the canonical model, "
        "never its challenger."
    )


def version_description(
    decision: dict[str, Any], outcome: Outcome, snapshot: GoldSnapshot, run_id: str
) -> str:
    """The registry version's description: the champion decision and the data behind it."""
    spec = outcome.spec
    previous = decision["previous_champion_version"]
    against = f"champion before: v{previous}" if previous else "no champion before"
    return "\n".join(
        [
            f"**{decision['reason']}**",
            "",
            f"- walk-forward daily IC {decision['challenger_value']:+.4f} (never the holdout);"
            f" {against}; champion now v{decision['champion_version']}",
            f"- data: `{snapshot.label()}`, {snapshot.first_date}..{snapshot.last_date}, "
            f"{len(snapshot.frame)} labelled rows",
            f"- features: {'with news' if spec.has_news else 'market only'}, horizon "
            f"{spec.horizon_minutes} min, window {spec.window_minutes} min, sentiment model "
            f"{spec.sentiment_model_id or 'none'}",
            f"- variant: {outcome.config.feature_set.label}; training run {run_id}",
        ]
    )


def register_and_promote(
    client: MlflowClient,
    model: ModelInfo,
    outcome: Outcome,
    snapshot: GoldSnapshot,
    tags: dict[str, str],
    blockers: Sequence[str],
) -> dict[str, Any]:
    """Register ``model`` as the challenger; move the champion alias on evidence only
    (never while ``blockers``, the day's data-quality failures, stand).

    The decision is made before the version exists, so it goes into the version's
    description and tags when the version is created.
    """
    from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

    name = outcome.config.model_name
    ensure_registered_model(
        client,
        name,
        model_description(outcome),
        {k: tags[k] for k in ("variant", "horizon_minutes", "skip_news")},
    )
    promote, reason, previous = decide(client, name, outcome, snapshot, blockers)
    walk = outcome.verdict.summary["pooled"][f"{outcome.registered}_daily_ic"]["estimate"]
    decision = {
        "registered_model": name,
        "metric": WF_METRIC,
        "challenger_value": walk,
        "previous_champion_version": previous,
        "promoted": promote,
        "unchanged": False,
        "reason": reason,
    }
    version = client.create_model_version(
        name,
        source=model.model_uri,
        run_id=model.run_id,
        model_id=model.model_id,
        tags={**tags, "champion_decision": reason, "promoted": str(promote).lower()},
    )
    number = str(version.version)
    decision |= {
        "challenger_version": number,
        "champion_version": number if promote else previous,
    }
    client.update_model_version(
        name, number, description=version_description(decision, outcome, snapshot, model.run_id)
    )
    client.set_registered_model_alias(name, CHALLENGER, number)
    if promote:
        client.set_registered_model_alias(name, CHAMPION, number)
    # what mlflow.register_model records: the logged model links to its registry versions
    client.set_logged_model_tags(
        model.model_id,
        {MLFLOW_MODEL_VERSIONS: json.dumps([{"name": name, "version": number}])},
    )
    return decision


def parent_run(client: MlflowClient, run_id: str) -> Run:
    """The training (parent) run of a registered version's run, which is its child."""
    run = client.get_run(run_id)
    return client.get_run(run.data.tags.get("mlflow.parentRunId", run_id))


def unchanged_summary(uri: str, config: TrainConfig, fingerprint: str) -> dict[str, Any] | None:
    """The summary of the registered version with this fingerprint (same gold version,
    settings and code), marked unchanged; None when there is none."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(uri)
    name = config.model_name
    try:
        found = client.search_model_versions(
            f"name = '{name}' and tags.fingerprint = '{fingerprint}'", max_results=1
        )
    except MlflowException:
        return None
    if not found:
        return None
    version = found[0]
    try:
        parent = parent_run(client, version.run_id)
        path = client.download_artifacts(parent.info.run_id, "training_summary.json")
    except (MlflowException, OSError):
        return None
    summary = json.loads(Path(path).read_text())
    champion = current_champion(client, name)
    summary["champion_decision"] = summary["champion_decision"] | {
        "unchanged": True,
        "promoted": False,
        "champion_version": champion,
        "reason": f"unchanged: gold, settings and code are those of v{version.version}; "
        "nothing registered",
    }
    log.info("champion decision: %s", summary["champion_decision"]["reason"])
    return summary


# -- run ----------------------------------------------------------------------------


def track(
    outcome: Outcome, snapshot: GoldSnapshot, lake: Lake, uri: str, fingerprint: str
) -> TrackedRun:
    """Log the parent and child runs with their lineage, register the challenger, decide
    the champion (inside ``session``, which yielded ``uri``)."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    experiment_id = ensure_experiment(
        client, outcome.config.experiment, artifact_location(uri, lake)
    )
    tags = lineage_tags(outcome, snapshot) | {"fingerprint": fingerprint}
    dataset = training_dataset(snapshot)
    registered = outcome.registered
    name = run_name(outcome, snapshot, f"train {outcome.config.feature_set.label}")
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=name, tags=tags, description=verdict(outcome)
    ) as parent:
        mlflow.log_params(run_params(outcome, snapshot, uri))
        metrics = run_metrics(outcome)
        metrics[WF_METRIC] = outcome.verdict.summary["pooled"][f"{outcome.registered}_daily_ic"][
            "estimate"
        ]
        mlflow.log_metrics(metrics)
        mlflow.log_dict(outcome.verdict.summary, "walk_forward.json")
        client.log_inputs(parent.info.run_id, datasets=[dataset])
        models = {}
        for feature_set, result in outcome.models.items():
            child_tags = {**tags, "feature_set": feature_set}
            with mlflow.start_run(
                experiment_id=experiment_id,
                run_name=run_name(outcome, snapshot, feature_set),
                nested=True,
                tags=child_tags,
            ) as child:
                client.log_inputs(child.info.run_id, datasets=[dataset])
                models[feature_set] = log_child_run(result, outcome)
        blockers = promotion_blockers(lake, snapshot.last_date)
        decision = register_and_promote(
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


def log_summary(run: TrackedRun, summary: dict[str, Any]) -> None:
    """Attach the final training summary to the (finished) parent run."""
    from mlflow import MlflowClient

    MlflowClient(run.tracking_uri).log_dict(run.run_id, summary, "training_summary.json")
