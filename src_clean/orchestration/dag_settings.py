"""The settings a DAG file reads when it is parsed: the environment only.

Airflow Variables are read when a task runs (``airflow_lookups.runtime_settings``): a DAG
file parses without touching the metadata database, and what shapes a DAG (execution mode,
sources, schedule, images) is fixed when it is parsed.
"""

from __future__ import annotations

from src_clean.settings import Settings


def parse_settings(*, validate: bool = True) -> Settings:
    """``SP500_*`` and ``MLFLOW_TRACKING_URI`` from the environment; with ``validate``, a
    setting the DAG cannot run with fails the parse (an import error naming it)."""
    settings = Settings.from_env()
    if validate:
        settings.validate()
    return settings
