"""Save a Hugging Face sentiment checkpoint to a folder, for machines without internet.

``python -m src_clean download-model --model ProsusAI/finbert --out models/`` writes
``models/ProsusAI__finbert`` (tokenizer + model). Copy it next to the pipeline and pass
``--sentiment-model models/ProsusAI__finbert``: a local folder never touches the network.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from src_clean.data_pipelines.silver.scoring.base import canonical_labels
from src_clean.data_pipelines.silver.scoring.loading import DEFAULT_SENTIMENT_MODEL
from src_clean.data_pipelines.silver.scoring.transformers_backend import (
    checkpoint_id,
    offline_mode,
)


def model_folder(out: Path, model: str) -> Path:
    """``<out>/<model id with / replaced by __>``."""
    return out / model.replace("/", "__")


def download_model(
    model: str, revision: str, out: Path, cache_dir: Path | None = None
) -> tuple[Path, str]:
    """Fetch ``model`` at ``revision``, save tokenizer and weights into its folder.

    Checks that the checkpoint is a positive/negative/neutral classifier before saving.
    Returns the folder and the checkpoint id (``<hub id>@<commit sha>``).
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    hub_kwargs = {"revision": revision, "cache_dir": cache_dir, "local_files_only": offline_mode()}
    tokenizer = AutoTokenizer.from_pretrained(model, **hub_kwargs)
    network = AutoModelForSequenceClassification.from_pretrained(model, **hub_kwargs)
    canonical_labels(network.config.id2label)
    target = model_folder(out, model)
    tokenizer.save_pretrained(target)
    network.save_pretrained(target)
    return target, checkpoint_id(model, hub_kwargs)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default=DEFAULT_SENTIMENT_MODEL, help="hub id (default: %(default)s)"
    )
    parser.add_argument("--revision", default="main", help="branch, tag or commit sha")
    parser.add_argument("--out", type=Path, default=Path("models"), help="parent folder")
    parser.add_argument("--cache-dir", type=Path, default=None, help="Hugging Face cache folder")


def main(args: argparse.Namespace) -> int:
    try:
        target, checkpoint = download_model(args.model, args.revision, args.out, args.cache_dir)
    except OSError as exc:
        print(
            f"download-model: cannot fetch {args.model!r}@{args.revision}: {exc}\n"
            "This command needs internet access to huggingface.co (or a populated HF cache).",
            file=sys.stderr,
        )
        return 1
    print(f"saved {checkpoint} to {target}")
    print(
        "use it offline: HF_HUB_OFFLINE=1 python -m src_clean silver-sentiment "
        f"--sentiment-model {target}"
    )
    return 0
