"""``python -m src_clean download-model``: save a Hugging Face checkpoint for offline use.

``python -m src_clean download-model --model ProsusAI/finbert --out models/`` writes
``models/ProsusAI__finbert`` (tokenizer + model). Copy it next to the pipeline and pass
``--sentiment-model models/ProsusAI__finbert``: a local folder never touches the network.
Without ``--model`` it saves the deployment's sentiment model (``SP500_SENTIMENT_MODEL``).
The download is ``scoring.download``'s; this module is its command line only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from src_clean import settings
from src_clean.data_pipelines.silver.scoring.download import download_model
from src_clean.defaults import DEFAULT_SENTIMENT_MODEL


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=settings.current().sentiment_model,
        help=f"hub id (default: SP500_SENTIMENT_MODEL, else {DEFAULT_SENTIMENT_MODEL})",
    )
    parser.add_argument("--revision", default="main", help="branch, tag or commit sha")
    parser.add_argument("--out", type=Path, default=Path("models"), help="parent folder")
    parser.add_argument("--cache-dir", type=Path, default=None, help="Hugging Face cache folder")


def main(args: argparse.Namespace) -> int:
    target, checkpoint = download_model(args.model, args.revision, args.out, args.cache_dir)
    print(f"saved {checkpoint} to {target}")
    print(
        "use it offline: HF_HUB_OFFLINE=1 python -m src_clean silver-sentiment "
        f"--sentiment-model {target}"
    )
    return 0
