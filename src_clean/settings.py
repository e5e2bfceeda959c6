"""The one settings model: the DAGs, the backfill and its circuit breaker, the worker, the
service and ``run_full_pipeline.py`` all read it (``python -m src_clean settings`` prints
the effective values and where each came from).

Every setting is read from an environment variable named after it (``SP500_LAKE_ROOT`` for
``lake_root``; ``MLFLOW_TRACKING_URI`` keeps its usual name), through pydantic-settings,
and each default is written once, here (shared constants in ``src_clean.defaults``).
Parse-time settings (execution mode, schedule, start date, catchup, images, docker wiring,
sources) come from the environment only, so
parsing a DAG never touches the metadata database. Run-time settings (``runtime=True``
below) can also be overridden by an Airflow Variable with the same name as the
environment variable; ``orchestration.airflow_lookups.runtime_settings`` reads those inside
a running task, once, and passes them down.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, InitSettingsSource, NoDecode, SettingsConfigDict

from src_clean import __version__
from src_clean.defaults import (
    DEFAULT_LAKE_ROOT,
    DEFAULT_REGISTERED_MODEL,
    DEFAULT_SENTIMENT_MODEL,
    MarketHours,
    Precision,
    tracking_uri,
)

ENV_PREFIX = "SP500_"
IMAGE_KINDS = ("etl", "trainer")
FetchSource = Literal["oanda", "gdelt", "gdelt-gkg", "rss"]
FETCH_SOURCES: tuple[str, ...] = get_args(FetchSource)


def _setting(
    default: Any, *, env: tuple[str, ...] = (), runtime: bool = False, **constraints: Any
) -> Any:
    """A field; ``env`` replaces the ``SP500_<NAME>`` variable (the first name is the one
    documented), ``runtime`` allows Variables."""
    alias = {"validation_alias": AliasChoices(*env)} if env else {}
    return Field(default, json_schema_extra={"runtime": runtime}, **alias, **constraints)


class Settings(BaseSettings):
    """Everything the pipelines need to know about their deployment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="ignore", validate_by_name=True
    )

    # -- the daily DAG --------------------------------------------------------------------
    execution: Literal["local", "docker"] = _setting("local")
    lake_root: str = _setting(DEFAULT_LAKE_ROOT, runtime=True)
    landing_market: str = _setting("landing/market", runtime=True)
    landing_news: str = _setting("landing/news", runtime=True)
    sentiment_model: str = _setting(DEFAULT_SENTIMENT_MODEL, runtime=True)
    # ONNX exports and engine choices of ``--precision auto`` (empty: next to the checkpoint)
    model_cache: str | None = _setting(None, runtime=True)
    demo_fallback: bool = _setting(False, runtime=True)
    train_history_days: int = _setting(365, runtime=True, ge=1)
    # a long run's chunks hold what fits this peak RSS (orchestration.chunks, issue 37)
    memory_budget_mb: int = _setting(4096, runtime=True, ge=256)
    mlflow_tracking_uri: str | None = _setting(
        None, env=("MLFLOW_TRACKING_URI", "SP500_MLFLOW_TRACKING_URI"), runtime=True
    )
    # The trading calendar (exchange_calendars name) that says which sessions have candles.
    market_calendar: str = _setting("CMES", runtime=True)
    # The trading hours the candles cover: full (the calendar's), cash (NYSE 09:30-16:00
    # New York, e.g. FirstRate SPX files), or auto: detected from bronze (market_sessions).
    market_hours: MarketHours = _setting("auto", runtime=True)
    # Which fetch tasks run before the ingests (comma list of oanda, gdelt, gdelt-gkg, rss;
    # empty: none). gdelt-gkg: GDELT's GKG files, for backfills older than the DOC API's
    # 3-month window.
    sources: Annotated[tuple[FetchSource, ...], NoDecode] = _setting(())
    rss_feeds: str | None = _setting(None, runtime=True)
    # Where the fetch tasks call (empty: each CLI's default: OANDA's practice host, GDELT's
    # DOC 2.0 endpoint and query). Tokens never travel here: OANDA_API_TOKEN or the Airflow
    # connection ``oanda_default``.
    oanda_environment: Literal["practice", "live"] = _setting("practice", runtime=True)
    oanda_api_url: str | None = _setting(None, runtime=True)
    gdelt_api_url: str | None = _setting(None, runtime=True)
    gdelt_query: str | None = _setting(None, runtime=True)
    gdelt_min_interval_s: float | None = _setting(None, runtime=True, ge=0.0)
    gkg_master_url: str | None = _setting(None, runtime=True)
    # Failure alerts: an Airflow connection (smtp or slack webhook); empty: no alerts.
    alert_conn_id: str | None = _setting(None, runtime=True)
    alert_to: str | None = _setting(None, runtime=True)
    # 17:30 New York is inside the daily 17:00-18:00 ET maintenance break, all year round:
    # every run's data interval is exactly one trading session (Sunday's open is in Monday's).
    # Empty: no schedule, manual and REST runs only (`make airflow` on the sample data).
    schedule: str = _setting("30 17 * * 1-5")
    timezone: str = _setting("America/New_York")
    start_date: dt.date = _setting(dt.date(2024, 1, 1))
    catchup: bool = _setting(False)
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

    # -- the sentiment backfill and its circuit breaker -----------------------------------
    # Where shards run; empty: the daily DAG's ``execution`` (batch: AWS Batch, s3:// lake).
    backfill_execution: Literal["local", "docker", "batch"] | None = _setting(None)
    backfill_concurrency: int = _setting(2, ge=1)
    cb_max_consecutive: int = _setting(20, ge=1)
    cb_max_failure_rate: float = _setting(0.05, ge=0.0, le=1.0)
    cb_min_articles: int = _setting(200, ge=1)

    # -- the sentiment jobs DAG and the worker --------------------------------------------
    sentiment_bucket: str = _setting("sp500-news", runtime=True)
    sentiment_jobs_table: str = _setting("sp500-sentiment-jobs", runtime=True)
    raw_text_prefix: str = _setting("raw/text/", runtime=True)

    # -- the service (``python -m src_clean serve``; docs/serving.md) ----------------------
    host: str = _setting("127.0.0.1")
    port: int = _setting(8000, ge=1, le=65535)
    database_url: SecretStr = _setting(SecretStr(f"sqlite:///{DEFAULT_LAKE_ROOT}/predictions.db"))
    migrate_on_start: bool = _setting(True)
    # API keys: SP500_API_KEYS (comma separated) and/or SP500_API_KEYS_FILE (one per line)
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = _setting(())
    api_keys_file: Path | None = _setting(None)
    # the page at / and /verdict: behind the API key (HTTP Basic, any user name) unless true
    public_page: bool = _setting(False)
    # the scorer: ONNX Runtime on a checkpoint folder's export-onnx folder by default
    precision: Precision = _setting("onnx")
    export_onnx: bool = _setting(False)  # export a checkpoint without onnx/ at start
    num_threads: int | None = _setting(None, ge=1)
    # server-side micro-batching of concurrent /predict requests
    batching: bool = _setting(True)
    batch_window_ms: float = _setting(5.0, ge=0.0, le=1000.0)
    max_batch_size: int = _setting(32, ge=1, le=256)
    # a prediction waits this long for its database write, then is answered with
    # X-Storage-Warning: write_timeout (a hung database never holds predictions back)
    write_timeout_s: float = _setting(1.0, gt=0.0, le=60.0)
    # the champion whose signal is served
    registered_model: str = _setting(DEFAULT_REGISTERED_MODEL)
    champion_alias: str = _setting("champion")
    champion_refresh_s: float = _setting(30.0, gt=0.0)
    # the live signal (live/decisions) is stale past these ages (issue 38)
    live_stale_s: float = _setting(180.0, gt=0.0)
    live_news_stale_s: float = _setting(3600.0, gt=0.0)

    @field_validator(
        "mlflow_tracking_uri",
        "rss_feeds",
        "oanda_api_url",
        "gdelt_api_url",
        "gdelt_query",
        "gdelt_min_interval_s",
        "gkg_master_url",
        "alert_conn_id",
        "alert_to",
        "backfill_execution",
        "model_cache",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return value or None

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(key.strip() for key in value.split(",") if key.strip())
        return value

    @field_validator("sources", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip().lower() for part in value.split(",") if part.strip())
        return value

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Defaults overridden by the environment (``os.environ`` unless ``env`` is given)."""
        if env is None:
            return _checked(cls)
        return cls.defaults().with_overrides(env.get, runtime_only=False)

    @classmethod
    def defaults(cls, **values: Any) -> Settings:
        """The defaults with ``values`` (by field name), ignoring the environment."""
        source = InitSettingsSource(cls, init_kwargs=values)
        return _checked(lambda: cls(_build_sources=((source,), values)))

    def with_overrides(
        self, lookup: Callable[[str], Any], *, runtime_only: bool = True
    ) -> Settings:
        """A copy with every setting that ``lookup(env_name)`` answers (not None) replaced."""
        changes = {}
        for name in type(self).model_fields:
            if runtime_only and not is_runtime(name):
                continue
            raw = lookup(env_name(name))
            if raw is not None:
                changes[name] = raw
        if not changes:
            return self
        return type(self).defaults(**{**self.model_dump(), **changes})

    def tracking_uri(self) -> str:
        """The MLflow tracking URI (``defaults.tracking_uri``: set, else in a local lake)."""
        return tracking_uri(self.lake_root, self.mlflow_tracking_uri)

    def fetch_options(self, source: str) -> tuple[str, ...]:
        """The fetch CLI options this deployment sets for ``source`` (oanda, gdelt,
        gdelt-gkg, rss)."""
        if source == "oanda":
            url = ("--api-url", self.oanda_api_url) if self.oanda_api_url else ()
            return ("--environment", self.oanda_environment, *url)
        if source == "gdelt":
            options = {
                "--api-url": self.gdelt_api_url,
                "--query": self.gdelt_query,
                "--min-interval": self.gdelt_min_interval_s,
            }
            return tuple(x for k, v in options.items() if v is not None for x in (k, str(v)))
        if source == "gdelt-gkg":
            return ("--master-url", self.gkg_master_url) if self.gkg_master_url else ()
        return ("--feeds", self.rss_feeds or "")

    @property
    def backfill_mode(self) -> str:
        """Where backfill shards run: ``backfill_execution``, else ``execution``."""
        return self.backfill_execution or self.execution

    def image(self, kind: str) -> str:
        """The image reference for ``kind`` (``etl`` or ``trainer``)."""
        if kind not in IMAGE_KINDS:
            raise ValueError(f"unknown image kind {kind!r}; expected one of {IMAGE_KINDS}")
        return self.etl_image if kind == "etl" else self.trainer_image

    def validate(self) -> None:
        """Raise ValueError on a setting the pipeline cannot run with."""
        if "rss" in self.sources and not self.rss_feeds:
            raise ValueError("SP500_SOURCES names rss: set SP500_RSS_FEEDS to the feeds file")
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


def _checked(build: Callable[[], Settings]) -> Settings:
    """``build()``; a ValidationError becomes a ValueError naming the variables."""
    try:
        return build()
    except ValidationError as exc:
        problems = "; ".join(
            f"{env_name(str(error['loc'][0])) if error['loc'] else 'settings'}"
            f"={error['input']!r}: {error['msg']}"
            for error in exc.errors()
        )
        raise ValueError(f"invalid settings: {problems}") from None


def env_name(field_name: str) -> str:
    """The environment variable (and Airflow Variable) that sets ``field_name``."""
    field = Settings.model_fields.get(field_name)
    if field is None:  # already an alias
        return field_name
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"{ENV_PREFIX}{field_name.upper()}"


def is_runtime(field_name: str) -> bool:
    """Whether an Airflow Variable may override ``field_name`` when a task runs."""
    extra = Settings.model_fields[field_name].json_schema_extra
    return bool(isinstance(extra, dict) and extra.get("runtime"))


_current: contextvars.ContextVar[Settings | None] = contextvars.ContextVar(
    "sp500_settings", default=None
)


def current() -> Settings:
    """The settings of the command being run: resolved once by ``cli.parse`` (or the task
    that runs it), else from the environment now. CLI defaults a setting can change read
    them here, so ``SP500_*`` and an Airflow Variable reach every option alike."""
    settings = _current.get()
    return settings if settings is not None else Settings.from_env()


@contextlib.contextmanager
def using(settings: Settings) -> Iterator[Settings]:
    """Make ``settings`` the ``current()`` ones inside the block (this context only)."""
    token = _current.set(settings)
    try:
        yield settings
    finally:
        _current.reset(token)
