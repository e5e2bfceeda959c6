"""Table names in the lake: the contract between the layers (see README "Lake layout")."""

from __future__ import annotations

BRONZE_CANDLES = "bronze/market/candles"
BRONZE_NEWS = "bronze/news/articles"
SILVER_FEATURES = "silver/market/features"
SILVER_SENTIMENT = "silver/news/sentiment"
# which model_id each --sentiment-model spec (hub id, path, "lexicon") last resolved to
SENTIMENT_MODELS = f"{SILVER_SENTIMENT}/_models.json"
GOLD_SIGNALS = "gold/news/signals"
GOLD_TRAINING = "gold/training"
REPORTS = "reports"
# the date-partitioned table of every layer, in pipeline order
LAYER_TABLES = (
    BRONZE_CANDLES,
    BRONZE_NEWS,
    SILVER_FEATURES,
    SILVER_SENTIMENT,
    GOLD_SIGNALS,
    GOLD_TRAINING,
)
GOLD_FEATURE_LIST = f"{GOLD_TRAINING}/_features.json"
TRAINING_SUMMARY = f"{REPORTS}/training_summary.json"


def quarantine(table: str) -> str:
    """Quarantine table for rejected records of ``table``."""
    return f"quarantine/{table}"


CANONICAL_WINDOW = 60
CANONICAL_HORIZON = 30
VARIANTS = "gold/variants"


def feature_variant(skip_news: bool, window: int, horizon: int) -> str | None:
    """Name of a non-canonical feature set (``market_only-w60-h30``, ``news-w30-h30``).

    ``None`` for the canonical one (news on, 60-minute window, 30-minute horizon).
    """
    if not skip_news and window == CANONICAL_WINDOW and horizon == CANONICAL_HORIZON:
        return None
    return f"{'market_only' if skip_news else 'news'}-w{window}-h{horizon}"


def training_table(variant: str | None) -> str:
    """The gold training table of a feature variant (``None``: the canonical ``gold/training``)."""
    return GOLD_TRAINING if variant is None else f"{VARIANTS}/{variant}/training"


def feature_list(variant: str | None) -> str:
    """The ``_features.json`` beside a variant's training table (canonical: GOLD_FEATURE_LIST)."""
    return f"{training_table(variant)}/_features.json"


def signals_table(window: int) -> str:
    """The gold news signals of a news window (``gold/variants/news-w<window>/signals``).

    The canonical window writes ``gold/news/signals``; another window never touches it.
    """
    return GOLD_SIGNALS if window == CANONICAL_WINDOW else f"{VARIANTS}/news-w{window}/signals"
