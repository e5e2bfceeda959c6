"""``python -m src_clean settings``: every setting's effective value and where it came from.

Secrets (``SecretStr`` fields, credentials inside URIs) are shown redacted. Inside an
Airflow task, run-time settings may also come from an Airflow Variable of the same name
(``runtime`` below); this command reads the environment only, like a DAG being parsed.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from pydantic import SecretStr

from src_clean.redact import redact
from src_clean.settings import Settings, env_name, is_runtime


def describe(settings: Settings, environ: dict[str, str]) -> list[dict[str, Any]]:
    """One row per setting: name, variable, value (redacted), source, run-time override."""
    rows = []
    for name, field in Settings.model_fields.items():
        variable = env_name(name)
        aliases = getattr(field.validation_alias, "choices", None) or [variable]
        source = next((f"environment {a}" for a in aliases if a in environ), "default")
        rows.append(
            {
                "setting": name,
                "variable": variable,
                "value": _shown(getattr(settings, name)),
                "source": source,
                "runtime": is_runtime(name),
            }
        )
    return rows


def _shown(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "**********" if value.get_secret_value() else ""
    if isinstance(value, tuple):
        return [_shown(item) for item in value]
    if isinstance(value, str):
        return redact(value)
    return value if value is None or isinstance(value, bool | int | float) else str(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object per setting")


def main(args: argparse.Namespace) -> int:
    rows = describe(Settings.from_env(), dict(os.environ))
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    width = max(len(row["variable"]) for row in rows)
    for row in rows:
        flag = " (Airflow Variable may override)" if row["runtime"] else ""
        print(f"{row['variable']:<{width}}  {row['value']!s:<40}  {row['source']}{flag}")
    return 0
