"""The champion the monitor judges: the loaded model (the service's loader), its training
window (the drift reference), its walk-forward expectation and its review state.

The expectation is the champion's own walk-forward daily IC (``walk_forward.pooled``,
``<feature_set>_daily_ic``: estimate and 95% block-bootstrap interval over ``sessions``
test sessions) from its training run's ``training_summary.json``. The daily IC's spread is
read back from that interval, ``sd = (high - low) / (2 * 1.96) * sqrt(sessions)``, so a
rolling mean over ``n`` live sessions is expected within ``estimate -+ BAND_Z * sd /
sqrt(n)``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from src_clean.lake import Lake
from src_clean.monitoring.checks import BAND_Z
from src_clean.training.champion import REVIEW_TAG, Champion, ChampionTracker

UNDER_REVIEW = "under_review"


@dataclass(frozen=True)
class Expectation:
    """The champion's walk-forward daily IC: estimate, interval, sessions, implied sd."""

    estimate: float
    low: float
    high: float
    sessions: int

    @property
    def sd(self) -> float:
        return (self.high - self.low) / (2 * 1.96) * math.sqrt(max(self.sessions, 1))

    def band(self, n: int) -> tuple[float, float]:
        """Where a mean over ``n`` sessions is expected (``BAND_Z`` standard errors)."""
        half = BAND_Z * self.sd / math.sqrt(n)
        return self.estimate - half, self.estimate + half


@dataclass(frozen=True)
class ChampionContext:
    """Everything the monitor needs of the champion."""

    model: Champion
    train_start: pd.Timestamp
    train_end: pd.Timestamp  # the end of its validation rows: the last it read
    expectation: Expectation | None
    review_state: str | None
    tracking_uri: str


def load_champion(tracking_uri: str, name: str, alias: str, lake: Lake) -> ChampionContext | None:
    """The champion behind ``name@alias``, None when there is none (yet)."""
    from mlflow import MlflowClient

    tracker = ChampionTracker(tracking_uri, name, alias, lake)
    tracker.refresh()
    if tracker.champion is None:
        return None
    client = MlflowClient(tracking_uri)
    champion = tracker.champion
    run = client.get_run(champion.run_id)
    parent = run.data.tags.get("mlflow.parentRunId", champion.run_id)
    params = client.get_run(parent).data.params
    version = client.get_model_version(name, champion.version)  # its feature set tag
    return ChampionContext(
        model=champion,
        train_start=pd.Timestamp(params.get("train_start", "1970-01-01T00:00:00+00:00")),
        train_end=pd.Timestamp(params.get("val_end", params.get("train_end", "1970-01-01Z"))),
        expectation=_expectation(client, parent, version.tags.get("feature_set", "with_news")),
        review_state=champion.review_state,
        tracking_uri=tracking_uri,
    )


def _expectation(client: Any, run_id: str, feature_set: str) -> Expectation | None:
    from mlflow.exceptions import MlflowException

    try:
        path = client.download_artifacts(run_id, "training_summary.json")
    except (MlflowException, OSError):
        return None
    pooled = json.loads(Path(path).read_text()).get("walk_forward", {}).get("pooled", {})
    found = pooled.get(f"{feature_set}_daily_ic")
    if not found:
        return None
    return Expectation(found["estimate"], found["low"], found["high"], int(pooled["sessions"]))


def mark_under_review(context: ChampionContext, reason: str) -> ChampionContext:
    """Tag the champion's version "under review" (the alias stays where it is); the
    context as it now stands."""
    from mlflow import MlflowClient

    client = MlflowClient(context.tracking_uri)
    name, version = context.model.name, context.model.version
    client.set_model_version_tag(name, version, REVIEW_TAG, UNDER_REVIEW)
    client.set_model_version_tag(name, version, "review_reason", reason[:5000])
    model = dataclasses.replace(context.model, review_state=UNDER_REVIEW)
    return dataclasses.replace(context, model=model, review_state=UNDER_REVIEW)
