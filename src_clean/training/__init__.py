"""XGBoost training on the gold training set, tracked in MLflow (``python -m src_clean train``).

Nothing in this package imports torch or transformers: the trainer image ships without them.
"""
