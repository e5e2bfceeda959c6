"""``python -m src_clean serve``: run the service on uvicorn (or ``--migrate`` and exit).

Flags override the ``SP500_*`` environment (see ``settings``); the defaults serve the
local lake with SQLite at ``data_clean/predictions.db``.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from src_clean.cli_args import lake_root
from src_clean.data_pipelines.silver.scoring.base import PRECISIONS
from src_clean.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="bind address (default 127.0.0.1; $SP500_HOST)")
    parser.add_argument("--port", type=int, help="port (default 8000; $SP500_PORT)")
    parser.add_argument(
        "--database-url", help="SQLAlchemy URL, e.g. postgresql+psycopg://u:p@h/predictions"
    )
    parser.add_argument(
        "--sentiment-model", help="checkpoint folder (with onnx/ for ONNX Runtime) or hub id"
    )
    parser.add_argument("--precision", choices=PRECISIONS, help="default onnx; fp32 etc.: torch")
    parser.add_argument(
        "--export-onnx",
        action="store_const",
        const=True,
        help="export a checkpoint without onnx/ at start (fp32 + int8, checked; needs torch)",
    )
    parser.add_argument(
        "--lake", dest="lake_root", type=lake_root, help="lake root the signal reads gold from"
    )
    parser.add_argument("--mlflow-tracking-uri", dest="mlflow_tracking_uri")
    parser.add_argument(
        "--no-batching",
        dest="batching",
        action="store_const",
        const=False,
        help="one forward pass per request (benchmark baseline)",
    )
    parser.add_argument("--batch-window-ms", type=float)
    parser.add_argument("--max-batch-size", type=int)
    parser.add_argument("--champion-refresh-s", type=float)
    parser.add_argument(
        "--write-timeout-s",
        type=float,
        help="longest wait for a prediction's database write (default 1.0)",
    )
    parser.add_argument(
        "--demo-fallback",
        action="store_const",
        const=True,
        help="serve the lexicon scorer if the model cannot be loaded (demo only)",
    )
    parser.add_argument(
        "--migrate", action="store_true", help="run the database migrations and exit"
    )


def settings_from_args(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from src_clean.settings import Settings

    names = set(Settings.model_fields) & set(vars(args))
    overrides = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise UserError(f"invalid serve settings: {exc}", "see `serve --help`") from exc


def main(args: argparse.Namespace) -> int:
    # alembic logs a line per built-in plugin at INFO when it is first imported
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    settings = settings_from_args(args)
    if args.migrate:
        from src_clean.serving.migrate import current_revision, upgrade

        url = settings.database_url.get_secret_value()
        upgrade(url)
        print(f"database at revision {current_revision(url)}")
        return 0
    from src_clean.serving.auth import load_api_keys

    load_api_keys(settings)  # no key: a one-line error before anything is loaded
    from src_clean.serving.scorer import check_servable

    check_servable(settings)  # a checkpoint without an export: the choice, before binding
    import uvicorn

    from src_clean.serving.app import create_app

    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=False, log_config=None)
    return 0
