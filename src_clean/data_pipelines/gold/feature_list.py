"""``_features.json``: which columns of a gold training table are features and targets.

Written by ``gold-training`` beside the table it built, read by ``train`` and by the
service (which sentiment model the gold news features came from): one typed document,
``FeatureSpec``, with one reader and one writer. The target names come from
``labels.target_columns``.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

from src_clean.data_pipelines.gold.labels import target_columns
from src_clean.errors import UserError
from src_clean.feature_set import FeatureSet
from src_clean.lake import Lake


@dataclass(frozen=True)
class FeatureSpec:
    """The feature names, targets, horizon and news settings of one training table."""

    market_features: tuple[str, ...]
    news_features: tuple[str, ...]
    targets: tuple[str, ...]
    horizon_minutes: int
    window_minutes: int | None
    sentiment_model_id: str | None
    skip_news: bool
    news_lag_minutes: int | None = None
    news_half_life_minutes: float | None = None
    news_time: str | None = None  # the article time the news windows used

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> FeatureSpec:
        spec = cls(
            market_features=tuple(doc["market_features"]),
            news_features=tuple(doc.get("news_features") or ()),
            targets=tuple(doc["targets"]),
            horizon_minutes=int(doc["horizon_minutes"]),
            window_minutes=doc.get("window_minutes"),
            sentiment_model_id=doc.get("sentiment_model_id"),
            skip_news=bool(doc.get("skip_news", False)),
            news_lag_minutes=doc.get("news_lag_minutes"),
            news_half_life_minutes=doc.get("news_half_life_minutes"),
            news_time=doc.get("news_time"),
        )
        missing = {spec.return_target, spec.direction_target} - set(spec.targets)
        if missing:
            raise ValueError(f"_features.json lists no target(s) {sorted(missing)}")
        return spec

    def to_json(self) -> dict[str, Any]:
        """The document (sorted lists: reruns write the same bytes)."""
        doc = asdict(self)
        for key in ("market_features", "news_features", "targets"):
            doc[key] = sorted(doc[key])
        return doc

    @property
    def has_news(self) -> bool:
        return bool(self.news_features) and not self.skip_news

    @property
    def feature_set(self) -> FeatureSet | None:
        """The feature set this table is; None for a market-only table without a window
        (written before windows were recorded: only "not canonical" is known)."""
        if self.window_minutes is None:
            return None
        return FeatureSet(not self.has_news, self.window_minutes, self.horizon_minutes)

    @property
    def all_features(self) -> list[str]:
        news = list(self.news_features) if self.has_news else []
        return [*self.market_features, *news]

    @property
    def return_target(self) -> str:
        return target_columns(self.horizon_minutes)[0]

    @property
    def direction_target(self) -> str:
        return target_columns(self.horizon_minutes)[1]

    @property
    def feature_list_hash(self) -> str:
        """sha256 of the sorted feature names: identifies the model's input contract."""
        return hashlib.sha256("\n".join(sorted(self.all_features)).encode()).hexdigest()


def write_feature_list(lake: Lake, feature_set: FeatureSet, spec: FeatureSpec) -> str:
    """Write ``spec`` beside ``feature_set``'s training table (atomically)."""
    return lake.files.write_json(feature_set.feature_list, spec.to_json())


def read_feature_list(lake: Lake, feature_set: FeatureSet) -> FeatureSpec:
    """The feature list beside ``feature_set``'s training table; UserError if none."""
    path, table = feature_set.feature_list, feature_set.training_table
    if not lake.files.exists(path):
        missing = path if lake.exists(table) else f"table {table}"
        raise UserError(
            f"the lake {lake.root} has no {missing}",
            "check --lake, or run gold-training (with the --skip-news/--window/"
            "--prediction-horizon of the variant) first",
        )
    return FeatureSpec.from_json(lake.files.read_json(path))
