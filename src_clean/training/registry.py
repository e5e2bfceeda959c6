"""The MLflow model registry side of a training run: the with_news model (market_only when
news is skipped) registered as the challenger, the champion alias moved as ``promotion``
decides (the champion's record fetched for it), and a rerun on the same gold version,
settings and code recognised as "unchanged" (nothing registered).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from src_clean.training import promotion
from src_clean.training.promotion import CHALLENGER, CHAMPION, Comparison

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run
    from mlflow.models.model import ModelInfo

    from src_clean.training.config import TrainConfig
    from src_clean.training.experiment import GoldSnapshot, Outcome

log = logging.getLogger(__name__)


def parent_run(client: MlflowClient, run_id: str) -> Run:
    """The training (parent) run of a registered version's run, which is its child."""
    run = client.get_run(run_id)
    return client.get_run(run.data.tags.get("mlflow.parentRunId", run_id))


def current_champion(client: MlflowClient, name: str) -> str | None:
    """The version holding the champion alias, if any."""
    version = client.get_registered_model(name).aliases.get(CHAMPION)
    return None if version is None else str(version)


def compare_with_champion(
    client: MlflowClient, name: str, version: str, outcome: Outcome, snapshot: GoldSnapshot
) -> Comparison:
    """Challenger against champion on the same walk-forward folds of the same gold version.

    The champion's recorded per-session walk-forward daily IC counts only when it was
    computed on this gold version with this fold plan (a run before that record existed
    has none). Otherwise the champion's model predicts the
    challenger's walk-forward test sessions it never read (after its validation end plus
    the embargo), and both are scored there; fewer than ``MIN_COMPARE_SESSIONS`` such
    sessions keep the champion (its model is not even loaded).
    """
    run = parent_run(client, client.get_model_version(name, version).run_id)
    params = run.data.params
    daily = recorded_daily_ic(client, run.info.run_id)
    recorded = promotion.compare_recorded(outcome, snapshot, params, daily)
    if recorded is not None:
        return recorded
    rows = promotion.unseen_rows(outcome, params)
    too_few = promotion.too_few_unseen(rows, outcome)
    if too_few is not None:
        return too_few
    import mlflow.xgboost

    booster = mlflow.xgboost.load_model(f"models:/{name}/{version}")
    return promotion.compare_on_unseen(outcome, rows, booster)


def recorded_daily_ic(client: MlflowClient, run_id: str) -> dict[str, float] | None:
    """The run's per-session walk-forward daily IC (``promotion.DAILY_IC_ARTIFACT``), or
    None when it has none or it cannot be read (then the unseen-session comparison runs)."""
    import tempfile

    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, promotion.DAILY_IC_ARTIFACT, tmp)
            data = json.loads(Path(path).read_text())
        except (MlflowException, OSError, ValueError):
            return None
    if not isinstance(data, dict):
        return None
    return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float)}


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


# A version carries the decision in one tag and what loaders and reruns look up; every
# other detail (gold snapshot, settings, code, Airflow run) is on the run it points to.
VERSION_TAGS = ("variant", "feature_set", "fingerprint")


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
    previous = current_champion(client, name)
    promote, reason = promotion.decide(
        outcome,
        snapshot,
        previous,
        blockers,
        lambda: compare_with_champion(client, name, str(previous), outcome, snapshot),
    )
    decision = promotion.decision_record(name, outcome, promote, reason, previous)
    version = client.create_model_version(
        name,
        source=model.model_uri,
        run_id=model.run_id,
        model_id=model.model_id,
        tags={"champion_decision": reason} | {k: tags[k] for k in VERSION_TAGS},
    )
    number = str(version.version)
    decision = promotion.with_versions(decision, number)
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
    summary["champion_decision"] = promotion.unchanged(
        summary["champion_decision"], champion, str(version.version)
    )
    log.info("champion decision: %s", summary["champion_decision"]["reason"])
    return summary
