"""``python -m src_clean export-onnx``: export a sentiment checkpoint to ONNX, validated.

``python -m src_clean export-onnx --model models/ProsusAI__finbert`` writes
``models/ProsusAI__finbert/onnx/`` (layout: ``scoring.onnx_backend``); a hub id is first
saved to ``--out/<id with / as __>`` like ``download-model``. The export, its int8
variant and their validation against torch fp32 are ``scoring.export``'s; this module
is its command line only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from src_clean.data_pipelines.silver.scoring.check_texts import DEFAULT_CHECK_TEXTS
from src_clean.data_pipelines.silver.scoring.export import export_onnx


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


def main(args: argparse.Namespace) -> int:
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
        print(f"export-onnx: cannot load {args.model!r}: {exc}", file=sys.stderr)
        return 1
    print(export.summary())
    print(f"serve it: --sentiment-model {export.folder.parent} --precision onnx")
    return 0
