"""Every setting of the service, from ``SP500_*`` environment variables (pydantic-settings).

The environment names follow the pipeline's (``SP500_LAKE_ROOT``, ``SP500_SENTIMENT_MODEL``,
``MLFLOW_TRACKING_URI`` keeps its usual name); ``serve`` flags override them. API keys come
from ``SP500_API_KEYS`` (comma separated) and/or ``SP500_API_KEYS_FILE`` (one key per line,
e.g. a Docker secret); their values are never printed: ``repr`` masks them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from src_clean.data_pipelines.silver.sentiment.base import Precision
from src_clean.lake import DEFAULT_LAKE_ROOT
from src_clean.training.config import DEFAULT_REGISTERED_MODEL

DEFAULT_DATABASE_URL = f"sqlite:///{DEFAULT_LAKE_ROOT}/predictions.db"
DEFAULT_SENTIMENT_MODEL = "models/ProsusAI__finbert"


class ServeSettings(BaseSettings):
    """The service's configuration (see README "Serving" for the table of variables)."""

    model_config = SettingsConfigDict(
        env_prefix="SP500_", extra="ignore", frozen=True, populate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    database_url: SecretStr = SecretStr(DEFAULT_DATABASE_URL)
    migrate_on_start: bool = True
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    api_keys_file: Path | None = None
    # the scorer: a checkpoint folder (with onnx/ from export-onnx for ONNX Runtime) or hub id
    sentiment_model: str = DEFAULT_SENTIMENT_MODEL
    precision: Precision = "onnx"
    # export a checkpoint without a validated onnx/ export at start (needs torch)
    export_onnx: bool = False
    demo_fallback: bool = False
    num_threads: int | None = Field(None, ge=1)
    # server-side micro-batching of concurrent /predict requests
    batching: bool = True
    batch_window_ms: float = Field(5.0, ge=0.0, le=1000.0)
    max_batch_size: int = Field(32, ge=1, le=256)
    # a prediction waits this long for its database write, then is answered with
    # X-Storage-Warning: write_timeout (a hung database never holds predictions back)
    write_timeout_s: float = Field(1.0, gt=0.0, le=60.0)
    # the champion and the lake it reads the latest gold bar from
    lake_root: str = DEFAULT_LAKE_ROOT
    mlflow_tracking_uri: str | None = Field(
        None, validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "SP500_MLFLOW_TRACKING_URI")
    )
    registered_model: str = DEFAULT_REGISTERED_MODEL
    champion_alias: str = "champion"
    champion_refresh_s: float = Field(30.0, gt=0.0)

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(key.strip() for key in value.split(",") if key.strip())
        return value

    def tracking_uri(self) -> str:
        """``MLFLOW_TRACKING_URI``, else ``sqlite:///<lake>/mlflow.db`` (as ``train``)."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{Path(self.lake_root).resolve() / 'mlflow.db'}"
