"""Save a Hugging Face sentiment checkpoint to a folder, for machines without internet.

``download_model("ProsusAI/finbert", "main", Path("models"))`` writes
``models/ProsusAI__finbert`` (tokenizer + model), a folder ``--sentiment-model`` reads
without touching the network. ``download-model`` is its CLI; ``export.export_onnx``
saves a hub id this way before exporting it.
"""

from __future__ import annotations

from pathlib import Path

from src_clean.data_pipelines.silver.scoring.base import canonical_labels
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
