"""The champion model (``models:/<name>@champion``) and its signal on the latest gold bar.

``ChampionTracker.refresh`` re-reads the alias; when it points at a new version, that
version is loaded (by number, so a concurrent alias move cannot mix two models) and
swapped in whole. The service calls it on a short interval, so a promotion by ``train``
is served without a restart; a registry outage keeps the loaded model serving.

The model's inputs are its logged signature (``train`` logs the feature columns, as
float64); its horizon is its feature set's (``FeatureSet``, named by the version's
``variant`` tag) and its sentiment model comes from its training run's params. A signal
is refused (``SignalUnavailable``) rather than computed on inputs the model was not
trained on: a gold table built with another sentiment model, or missing a feature.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from src_clean import tables
from src_clean.data_pipelines.gold.feature_list import read_feature_list
from src_clean.errors import UserError
from src_clean.feature_set import FeatureSet
from src_clean.lake import Lake
from src_clean.redact import redact
from src_clean.time_convention import decision_time

log = logging.getLogger(__name__)

FLAT_BPS = 0.0
REVIEW_TAG = "review_state"  # set by the monitor on sustained live decay


class SignalUnavailableError(RuntimeError):
    """No signal can be served now; ``status`` is the HTTP status that says why."""

    def __init__(self, detail: str, status: int = 503) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


@dataclass(frozen=True)
class Champion:
    """One loaded model version and what it was trained on."""

    name: str
    version: str
    run_id: str
    model: Any
    features: list[str]
    horizon_minutes: int | None
    sentiment_model_id: str | None
    loaded_at: dt.datetime
    review_state: str | None = None  # the monitor's "under_review" tag on the version


def _param(params: dict[str, str], key: str) -> str | None:
    value = params.get(key)
    return None if value in (None, "None", "") else value


class ChampionTracker:
    """Holds the current champion; ``refresh`` (blocking, run it in a thread) updates it."""

    def __init__(self, tracking_uri: str, name: str, alias: str, lake: Lake) -> None:
        self.tracking_uri = tracking_uri
        self.name = name
        self.alias = alias
        self.lake = lake
        self.champion: Champion | None = None
        self.last_error: str | None = None
        self._lock = threading.Lock()

    def refresh(self) -> bool:
        """Load the version the alias points at if it changed; True if a new one was loaded."""
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        with self._lock:
            if missing_sqlite_store(self.tracking_uri):
                self.last_error = f"no MLflow store at {self.tracking_uri} (run train first)"
                self.champion = None
                return False
            client = MlflowClient(self.tracking_uri)
            try:
                version = client.get_model_version_by_alias(self.name, self.alias)
            except MlflowException as exc:
                if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(exc).lower():
                    self.last_error = f"no {self.name}@{self.alias} in the registry"
                    self.champion = None
                    return False
                self.last_error = redact(f"registry unreachable: {exc}")
                log.warning("champion refresh failed: %s", self.last_error)
                return False
            current = self.champion
            if current is not None and current.version == str(version.version):
                review = version.tags.get(REVIEW_TAG)
                if review != current.review_state:  # the monitor tagged it since
                    self.champion = dataclasses.replace(current, review_state=review)
                self.last_error = None
                return False
            try:
                self.champion = self._load(client, version)
            except Exception as exc:
                self.last_error = redact(f"cannot load {self.name} v{version.version}: {exc}")
                log.warning("champion load failed: %s", self.last_error)
                return False
            self.last_error = None
            log.info("champion %s v%s loaded", self.name, version.version)
            return True

    def _load(self, client: Any, registered: Any) -> Champion:
        """Load a registered model version through this tracker's store only: mlflow's
        global tracking URI (the environment, else ``./mlflow.db``) is never consulted or
        created. Its horizon is its feature set's (the version's ``variant`` tag)."""
        import mlflow.artifacts
        import mlflow.pyfunc

        version, run_id = str(registered.version), registered.run_id
        with tempfile.TemporaryDirectory(prefix="sp500-champion-") as folder:
            # the storage location itself: a models:/ URI would resolve in the global store
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=client.get_model_version_download_uri(self.name, version),
                dst_path=folder,
                tracking_uri=self.tracking_uri,
                registry_uri=self.tracking_uri,
            )
            model = mlflow.pyfunc.load_model(local)
        schema = model.metadata.get_input_schema()
        if schema is None:
            raise ValueError("the model has no input signature")
        run = client.get_run(run_id)
        parent = run.data.tags.get("mlflow.parentRunId")
        params = client.get_run(parent).data.params if parent else run.data.params
        feature_set = FeatureSet.from_name(registered.tags.get("variant"))
        return Champion(
            name=self.name,
            version=version,
            run_id=run_id,
            model=model,
            features=list(schema.input_names()),
            horizon_minutes=feature_set.horizon_minutes,
            sentiment_model_id=_param(params, "sentiment_model_id"),
            loaded_at=dt.datetime.now(dt.UTC),
            review_state=registered.tags.get(REVIEW_TAG),
        )

    # -- signal ---------------------------------------------------------------------

    def signal(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """The champion's prediction for the latest bar in gold (blocking: lake and model)."""
        champion = self.champion
        if champion is None:
            raise SignalUnavailableError(
                f"No champion model loaded ({self.last_error or 'not loaded yet'})"
            )
        gold_sentiment = self._gold_sentiment_model()
        uses_news = any(name.startswith("news_") for name in champion.features)
        if uses_news and gold_sentiment != champion.sentiment_model_id:
            raise SignalUnavailableError(
                f"gold news features come from sentiment model {gold_sentiment!r} but the "
                f"champion was trained on {champion.sentiment_model_id!r}",
                status=409,
            )
        bar = self._latest_bar(champion.features)
        bar_time = pd.Timestamp(bar["time"]).tz_convert("UTC")
        predicted = predict(
            champion, bar[champion.features], f"the latest bar {bar_time.isoformat()}"
        )
        as_of = decision_time(bar_time)
        now = now or dt.datetime.now(dt.UTC)
        return {
            "instrument": bar.get("instrument"),
            "bar_time": bar_time.to_pydatetime(),
            "decision_time": as_of.to_pydatetime(),
            "predicted_return_bps": predicted,
            "direction": direction(predicted),
            "horizon_minutes": champion.horizon_minutes,
            "model_name": champion.name,
            "model_version": champion.version,
            "model_run_id": champion.run_id,
            "sentiment_model_id": champion.sentiment_model_id if uses_news else None,
            "review_state": champion.review_state,
            "feature_freshness": {
                "features_as_of": as_of.to_pydatetime(),
                "age_seconds": max(0.0, (now - as_of.to_pydatetime()).total_seconds()),
                "gold_sentiment_model_id": gold_sentiment,
            },
        }

    def _gold_sentiment_model(self) -> str | None:
        canonical = FeatureSet()
        try:
            return read_feature_list(self.lake, canonical).sentiment_model_id
        except UserError:
            raise SignalUnavailableError(f"no {canonical.feature_list} in the lake yet") from None

    def _latest_bar(self, features: list[str]) -> pd.Series:
        """The newest row of gold (its last date partition), with ``features`` present."""
        days = self.lake.partitions(tables.GOLD_TRAINING)
        if not days:
            raise SignalUnavailableError(f"no bars in {tables.GOLD_TRAINING} yet")
        frame = self.lake.read(tables.GOLD_TRAINING, days[-1], days[-1])
        missing = sorted(set(features) - set(frame.columns))
        if missing:
            raise SignalUnavailableError(
                f"{tables.GOLD_TRAINING} lacks the champion's features {missing}", status=409
            )
        return frame.loc[frame["time"].idxmax()]


def predict(champion: Champion, values: pd.Series, bar: str) -> float:
    """``champion``'s predicted return (bps) from a bar's feature ``values``;
    ``SignalUnavailableError`` naming ``bar`` when an input or the output is not finite.
    The service's signal and the live path's decisions both predict here."""
    vector = values[champion.features].to_numpy(np.float64)
    infinite = [name for name, v in zip(champion.features, vector, strict=True) if np.isinf(v)]
    if infinite:
        raise SignalUnavailableError(
            f"no signal for {bar}: its features {infinite} are not finite (the monitor's "
            "non_finite check counts them)",
            status=503,
        )
    inputs = pd.DataFrame([vector], columns=champion.features)
    predicted = float(np.asarray(champion.model.predict(inputs)).reshape(-1)[0])
    if not np.isfinite(predicted):
        raise SignalUnavailableError(
            f"no signal for {bar}: the model returned {predicted}",
            status=503,
        )
    return predicted


def missing_sqlite_store(tracking_uri: str) -> bool:
    """A ``sqlite:///`` store whose file does not exist (MlflowClient would create it)."""
    prefix = "sqlite:///"
    return tracking_uri.startswith(prefix) and not Path(tracking_uri[len(prefix) :]).exists()


def direction(predicted_bps: float) -> str:
    """``up``, ``down`` or ``flat`` (exactly zero) for a predicted forward return."""
    if predicted_bps > FLAT_BPS:
        return "up"
    if predicted_bps < -FLAT_BPS:
        return "down"
    return "flat"
