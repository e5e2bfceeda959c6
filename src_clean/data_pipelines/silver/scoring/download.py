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
    hub_reachable,
    offline_mode,
)
from src_clean.errors import OperationalError


class ModelUnavailable(OperationalError):
    """The checkpoint could not be fetched (hub unreachable, unknown id, no cache)."""

    FIX = (
        "run download-model on a machine with internet access to huggingface.co (or with "
        "HF_HOME pointing at a populated cache) and copy the saved folder here"
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

    # an unreachable hub reads the cache only: seconds, not the hub client's retries
    offline = offline_mode() or (not Path(model).is_dir() and not hub_reachable())
    hub_kwargs = {"revision": revision, "cache_dir": cache_dir, "local_files_only": offline}
    try:
        tokenizer = AutoTokenizer.from_pretrained(model, **hub_kwargs)
        network = AutoModelForSequenceClassification.from_pretrained(model, **hub_kwargs)
    except OSError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = "the hub is unreachable and " if offline and not offline_mode() else ""
        raise ModelUnavailable(f"cannot fetch {model!r}@{revision}: {where}{first}") from exc
    canonical_labels(network.config.id2label)
    target = model_folder(out, model)
    tokenizer.save_pretrained(target)
    network.save_pretrained(target)
    return target, checkpoint_id(model, hub_kwargs)
