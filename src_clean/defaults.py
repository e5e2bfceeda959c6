"""Defaults shared by the stage CLIs, the settings model and the DAGs (stdlib only).

Each default is written here once; the feature-spec defaults (news window 60 minutes, label
horizon 30 minutes) are ``tables.CANONICAL_WINDOW`` / ``tables.CANONICAL_HORIZON``.
"""

from __future__ import annotations

DEFAULT_SENTIMENT_MODEL = "ProsusAI/finbert"
