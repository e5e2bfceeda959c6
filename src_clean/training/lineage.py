"""What a training run records about where it came from and what it measured: the run's
fingerprint, names, lineage tags (gold table, URI and Delta version, feature contract,
Airflow run, git commit), its dataset input, params and metrics.

Credentials never reach any of them: URIs go through ``redact``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from src_clean.redact import redact

if TYPE_CHECKING:
    from mlflow.entities import DatasetInput

    from src_clean.data_pipelines.gold.feature_list import FeatureSpec
    from src_clean.training.config import TrainConfig
    from src_clean.training.experiment import GoldSnapshot, Outcome

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


def fingerprint(snapshot: GoldSnapshot, spec: FeatureSpec, config: TrainConfig) -> str:
    """What makes a result: the table read (its URI: another lake is other data) and the
    rows read (their content, not the table's version, so a rewrite of identical gold is
    the same input), the feature contract, the settings and the code. A rerun on identical
    inputs from any trigger path registers nothing."""
    doc = {
        "table": snapshot.uri,
        "content": content_hash(snapshot.frame),
        "features": spec.feature_list_hash,
        "config": config.fingerprint_params(),
        "code": git_commit() or "unknown",
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def content_hash(frame: pd.DataFrame) -> str:
    """A hash of a frame's column names, dtypes and values in row order (pandas' row
    hashes, about 1 s per 2M rows)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([[c, str(t)] for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def run_name(outcome: Outcome, snapshot: GoldSnapshot, what: str) -> str:
    """``with_news · h30 · 2024-01-01..2024-02-29 · gold v1``: what the run is first (the
    runs list cuts long names), then horizon, dates and the gold table's version (a
    variant's table by its name)."""
    table = outcome.config.variant or "gold"
    return (
        f"{what} · h{outcome.spec.horizon_minutes} · "
        f"{snapshot.first_date}..{snapshot.last_date} · {table} v{snapshot.version}"
    )


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
    if "claim" in walk:  # the headline as columns of the runs list
        primary, secondary = walk["primary"], walk["secondary"]
        metrics |= {
            "news_significant": float(walk["claim"]["significant"]),
            "primary_ic": primary["ic"],
            "primary_p_value": primary["p_value"],
            "secondary_uplift_ic": secondary["estimate"],
            "secondary_ci_low": secondary["low"],
            "secondary_ci_high": secondary["high"],
            "secondary_p_value": secondary["p_value"],
        }
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
