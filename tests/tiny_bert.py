"""Tiny BERT sequence classifiers saved like real checkpoints, for tests and benchmarks.

``build_tiny_bert`` writes a folder that ``AutoTokenizer``/``AutoModelForSequenceClassification``
load exactly like a downloaded FinBERT: a WordPiece vocab of finance words, a 2-layer BERT
with hidden size 32, and ``id2label`` in whichever order the caller asks for.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

FINBERT_ORDER = ("positive", "negative", "neutral")
FINBERT_TONE_ORDER = ("neutral", "positive", "negative")
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
WORDS = (
    *".,;:!?'-$%",
    *"abcdefghijklmnopqrstuvwxyz0123456789",
    *("##s", "##ed", "##ing", "##ly", "##er"),
    *("the", "a", "an", "and", "or", "not", "no", "on", "in", "of", "to", "for", "after"),
    *("is", "are", "was", "does", "do", "expect", "expects", "will", "its", "than"),
    *("apple", "company", "fed", "shares", "stock", "stocks", "market", "index", "s&p"),
    *("beats", "beat", "misses", "miss", "estimates", "raises", "cuts", "guidance"),
    *("surge", "plunge", "rally", "slump", "upgrade", "downgrade", "layoffs", "outlook"),
    *("profit", "profits", "revenue", "earnings", "loss", "losses", "strong", "weak"),
    *("recession", "inflation", "rates", "growth", "record", "high", "low", "quarter"),
)


def build_tiny_bert(
    folder: Path,
    labels: Sequence[str] = FINBERT_ORDER,
    *,
    dominant: str | None = None,
    seed: int = 0,
) -> Path:
    """Save a tiny BERT classifier with ``id2label = labels`` into ``folder``.

    With ``dominant``, the classifier bias of that label is +10 and the others 0, so that
    label wins for every input whatever the random weights: label mapping becomes testable.
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    vocab = {token: i for i, token in enumerate(dict.fromkeys((*SPECIAL_TOKENS, *WORDS)))}
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=512,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config).eval()
    if dominant is not None:
        with torch.no_grad():
            model.classifier.bias.zero_()
            model.classifier.bias[list(labels).index(dominant)] = 10.0
    folder.mkdir(parents=True, exist_ok=True)
    BertTokenizerFast(vocab=vocab, model_max_length=512).save_pretrained(folder)
    model.save_pretrained(folder)
    return folder


def build_cached_hub_model(
    cache_dir: Path,
    repo_id: str,
    commit: str,
    labels: Sequence[str] = FINBERT_ORDER,
    *,
    dominant: str | None = None,
) -> Path:
    """Lay out a tiny BERT as the Hugging Face cache holds ``repo_id`` at ``commit``.

    ``from_pretrained(repo_id, cache_dir=cache_dir)`` then resolves it offline exactly as
    it would a model downloaded earlier (``refs/main`` points at the snapshot).
    """
    repo = cache_dir / f"models--{repo_id.replace('/', '--')}"
    build_tiny_bert(repo / "snapshots" / commit, labels, dominant=dominant)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return repo
