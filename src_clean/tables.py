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
