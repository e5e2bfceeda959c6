"""``python -m src_clean export-onnx``: export a sentiment checkpoint to ONNX, validated.

``python -m src_clean export-onnx --model models/ProsusAI__finbert`` writes
``models/ProsusAI__finbert/onnx/`` (layout: ``scoring.onnx_backend``); a hub id is first
saved to ``--out/<id with / as __>`` like ``download-model``. The export, its int8
variant and their validation against torch fp32 are ``scoring.export``'s; this module
is its command line only.
"""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

from src_clean.data_pipelines.silver.scoring.check_texts import DEFAULT_CHECK_TEXTS
from src_clean.data_pipelines.silver.scoring.export import export_onnx
from src_clean.data_pipelines.silver.scoring.loading import (
    FIX_HINT,
    MISSING_FOLDER_FIX,
    ModelUnavailableError,
    missing_folder,
)
from src_clean.data_pipelines.silver.scoring.transformers_backend import offline_mode

HUB_HOST = "huggingface.co"
HUB_PROBE_S = 3.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="checkpoint folder or hub id")
    parser.add_argument(
        "--out", type=Path, default=Path("models"), help="parent folder for a hub id's checkpoint"
    )
    parser.add_argument(
        "--int8",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also write model.int8.onnx (default: yes)",
    )
    parser.add_argument("--revision", default="main", help="hub branch, tag or commit sha")
    parser.add_argument("--cache-dir", type=Path, default=None, help="Hugging Face cache folder")
    parser.add_argument(
        "--check-texts",
        type=int,
        default=DEFAULT_CHECK_TEXTS,
        help="headlines (and as many headline + body texts) compared with torch fp32",
    )


def check_reachable(model: str) -> None:
    """Fail at once, with the fix, when ``model`` cannot be had here: a missing folder, or
    a hub id with the hub out of reach (offline mode without a cached copy fails fast in
    the download itself)."""
    missing = missing_folder(model)
    if missing is not None:
        raise missing
    if Path(model).is_dir() or offline_mode():
        return
    try:
        socket.create_connection((HUB_HOST, 443), timeout=HUB_PROBE_S).close()
    except OSError as exc:
        raise ModelUnavailableError(
            f"{model!r} is not a folder here and {HUB_HOST} is unreachable ({exc})",
            f"{MISSING_FOLDER_FIX}; with a populated Hugging Face cache, set HF_HUB_OFFLINE=1",
        ) from None


def main(args: argparse.Namespace) -> int:
    check_reachable(args.model)
    try:
        export = export_onnx(
            args.model,
            args.out,
            int8=args.int8,
            revision=args.revision,
            cache_dir=args.cache_dir,
            n_check_texts=args.check_texts,
        )
    except OSError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailableError(f"cannot load {args.model!r}: {first}", FIX_HINT) from exc
    print(export.summary())
    print(f"serve it: --sentiment-model {export.folder.parent} --precision onnx")
    return 0
