"""What the running service holds: settings, database, model, batcher, champion, metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from src_clean.serving.auth import ApiKeyChecker
    from src_clean.serving.batcher import MicroBatcher
    from src_clean.serving.metrics import ServiceMetrics
    from src_clean.serving.repository import PredictionRepository
    from src_clean.serving.scorer import Scored, SentimentModel
    from src_clean.settings import Settings
    from src_clean.training.champion import ChampionTracker


@dataclass
class ServiceState:
    settings: Settings
    keys: ApiKeyChecker
    metrics: ServiceMetrics
    repository: PredictionRepository
    champion: ChampionTracker
    model: SentimentModel | None = None
    batcher: MicroBatcher[str, Scored] | None = None
    writer: MicroBatcher[dict, bool] | None = None
    migrated: bool = False
    startup_errors: dict[str, str] = field(default_factory=dict)
