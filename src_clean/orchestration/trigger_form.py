"""The daily DAG's trigger form: its parameters and the checks no retry can fix."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from src_clean import tables
from src_clean.feature_set import FeatureSet

# The trigger form's bounds: a window or horizon beyond a trading day is a typo.
MAX_WINDOW_MINUTES = 1440
MAX_HORIZON_MINUTES = 1440


class InvalidRunParams(ValueError):
    """The trigger form asks for something no retry can do (bad dates, unknown keys)."""


@dataclasses.dataclass(frozen=True)
class RunParams:
    """The DAG's trigger-form parameters; the defaults are the DAG's Param defaults."""

    start_date: str | None = None
    end_date: str | None = None
    skip_news: bool = False
    window: int = tables.CANONICAL_WINDOW
    prediction_horizon: int = tables.CANONICAL_HORIZON
    sentiment_model: str | None = None
    rescore_sentiment: bool = False
    retrain: bool = True

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> RunParams:
        """The run's ``params``; an unknown key or an invalid value raises InvalidRunParams."""
        names = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise InvalidRunParams(
                f"unknown parameter(s) {', '.join(map(repr, unknown))}; "
                f"the trigger form takes {', '.join(names)}"
            )
        run = cls(**params)
        run.check()
        return run

    def check(self) -> None:
        """Raise InvalidRunParams on values no retry can fix."""
        for name, top in (
            ("window", MAX_WINDOW_MINUTES),
            ("prediction_horizon", MAX_HORIZON_MINUTES),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise InvalidRunParams(f"{name}={value!r}: expected minutes in 1..{top}")
        for name in ("start_date", "end_date"):
            value = getattr(self, name)
            try:
                value is None or dt.date.fromisoformat(value)
            except (TypeError, ValueError):
                raise InvalidRunParams(f"{name}={value!r}: expected YYYY-MM-DD") from None
        if self.start_date and self.end_date and self.start_date > self.end_date:
            raise InvalidRunParams(
                f"start date {self.start_date} is after end date {self.end_date}"
            )

    @property
    def feature_set(self) -> FeatureSet:
        """The feature set this run builds."""
        return FeatureSet(self.skip_news, self.window, self.prediction_horizon)

    @property
    def variant(self) -> str | None:
        """The feature variant this run builds (None: the canonical training set)."""
        return self.feature_set.name
