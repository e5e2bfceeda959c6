"""Pipeline settings: environment variables first, Airflow Variables on top at run time.

Every setting is read from an environment variable named after it (``SP500_LAKE_ROOT`` for
``lake_root``; ``MLFLOW_TRACKING_URI`` keeps its usual name). Parse-time settings (execution
mode, schedule, start date, catchup, images, docker wiring) come from the environment only,
so parsing the DAG never touches the metadata database. Run-time settings (``runtime=True``
below) can also be overridden by an Airflow Variable with the same name as the environment
variable; ``runtime_settings`` reads those inside a running task.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable, Mapping
from typing import Any

from src_clean import __version__

ENV_PREFIX = "SP500_"
EXECUTION_MODES = ("local", "docker")
IMAGE_KINDS = ("etl", "trainer")


def parse_bool(value: str) -> bool:
    """``true/1/yes/on`` and ``false/0/no/off`` (any case)."""
    lowered = value.strip().lower()
    if lowered in {"true", "1", "yes", "on"}:
        return True
    if lowered in {"false", "0", "no", "off"}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _optional(value: str) -> str | None:
    return value or None


def _setting(
    default: Any, parse: Callable[[str], Any] = str, *, env: str = "", runtime: bool = False
) -> Any:
    return dataclasses.field(
        default=default, metadata={"parse": parse, "env": env, "runtime": runtime}
    )


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the DAG needs to know about its deployment."""

    execution: str = _setting("local")
    lake_root: str = _setting("data_clean", runtime=True)
    landing_market: str = _setting("landing/market", runtime=True)
    landing_news: str = _setting("landing/news", runtime=True)
    sentiment_model: str = _setting("ProsusAI/finbert", runtime=True)
    demo_fallback: bool = _setting(False, parse_bool, runtime=True)
    train_history_days: int = _setting(365, int, runtime=True)
    mlflow_tracking_uri: str | None = _setting(
        None, _optional, env="MLFLOW_TRACKING_URI", runtime=True
    )
    # 17:30 New York is inside the daily 17:00-18:00 ET maintenance break, all year round:
    # every run's data interval is exactly one trading session (Sunday's open is in Monday's).
    schedule: str = _setting("30 17 * * 1-5")
    timezone: str = _setting("America/New_York")
    start_date: dt.date = _setting(dt.date(2024, 1, 1), dt.date.fromisoformat)
    catchup: bool = _setting(False, parse_bool)
    etl_image: str = _setting(f"sp500-etl:{__version__}")
    trainer_image: str = _setting(f"sp500-trainer:{__version__}")
    docker_url: str = _setting("unix://var/run/docker.sock")
    docker_network: str = _setting("sp500")
    # The stage containers mount the data volume at the same path as the Airflow workers, so
    # a stage's argv (lake root, landing folders) means the same thing in both places.
    docker_data_source: str = _setting("sp500-data")
    docker_data_dir: str = _setting("/opt/sp500")
    docker_models_source: str = _setting("sp500-models")
    docker_models_dir: str = _setting("/models")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Defaults overridden by the environment (``os.environ`` unless ``env`` is given)."""
        env = os.environ if env is None else env
        return cls().with_overrides(env.get, runtime_only=False)

    def with_overrides(
        self, lookup: Callable[[str], str | None], *, runtime_only: bool = True
    ) -> Settings:
        """A copy with every setting that ``lookup(env_name)`` answers (not None) replaced."""
        changes = {}
        for field in dataclasses.fields(self):
            if runtime_only and not field.metadata["runtime"]:
                continue
            raw = lookup(env_name(field.name))
            if raw is not None:
                changes[field.name] = field.metadata["parse"](str(raw))
        return dataclasses.replace(self, **changes)

    def image(self, kind: str) -> str:
        """The image reference for ``kind`` (``etl`` or ``trainer``)."""
        if kind not in IMAGE_KINDS:
            raise ValueError(f"unknown image kind {kind!r}; expected one of {IMAGE_KINDS}")
        return self.etl_image if kind == "etl" else self.trainer_image

    def validate(self) -> None:
        """Raise ValueError on a setting the pipeline cannot run with."""
        if self.execution not in EXECUTION_MODES:
            raise ValueError(f"SP500_EXECUTION={self.execution!r}; expected {EXECUTION_MODES}")
        if self.train_history_days < 1:
            raise ValueError("SP500_TRAIN_HISTORY_DAYS must be at least 1")
        if self.execution == "docker":
            self._check_visible_in_containers()

    def _check_visible_in_containers(self) -> None:
        data_dir = self.docker_data_dir.rstrip("/") + "/"
        for name in ("lake_root", "landing_market", "landing_news"):
            location = getattr(self, name)
            if not (location.startswith("s3://") or location.startswith(data_dir)):
                raise ValueError(
                    f"{env_name(name)}={location!r} is not visible to the stage containers: "
                    f"use an s3:// location or a path under {data_dir}"
                )


def env_name(field_name: str) -> str:
    """The environment variable (and Airflow Variable) that sets ``field_name``."""
    field = Settings.__dataclass_fields__[field_name]
    return field.metadata["env"] or f"{ENV_PREFIX}{field_name.upper()}"


def runtime_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings inside a running task: the environment, then same-named Airflow Variables."""
    from airflow.sdk import Variable

    settings = Settings.from_env(env).with_overrides(lambda name: Variable.get(name, None))
    settings.validate()
    return settings
