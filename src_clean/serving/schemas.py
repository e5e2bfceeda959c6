"""Request and response models: the OpenAPI contract of the service."""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from src_clean.serving.db import SOURCE_MAX_CHARS, TEXT_MAX_CHARS

MAX_BATCH_TEXTS = 64
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

Label = Literal["positive", "negative", "neutral"]
Text = Annotated[str, StringConstraints(min_length=1, max_length=TEXT_MAX_CHARS)]
Source = Annotated[str, StringConstraints(max_length=SOURCE_MAX_CHARS)]


# Letters and symbols that render as nothing (Hangul fillers, Braille blank); categories
# C* (controls, zero-width and other format characters), Z* (spaces) and M* (combining
# marks, which show only on a base character) are never visible on their own.
INVISIBLE_GRAPHICS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def visible(char: str) -> bool:
    """Whether ``char`` shows as something on its own."""
    return unicodedata.category(char)[0] not in "CZM" and char not in INVISIBLE_GRAPHICS


def _not_blank(text: str) -> str:
    """Texts with nothing visible (whitespace, zero-width characters) have no sentiment;
    NUL cannot be stored in a Postgres text column."""
    if not any(map(visible, text)):
        raise ValueError("text must contain a visible character")
    if "\x00" in text:
        raise ValueError("text must not contain NUL characters")
    return text


def _no_nul(source: str | None) -> str | None:
    if source is not None and "\x00" in source:
        raise ValueError("source must not contain NUL characters")
    return source


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Text = Field(description="Text to score, 1-2000 characters, at least one visible")
    source: Source | None = Field(None, description="Where the text comes from, e.g. a feed")

    _text = field_validator("text")(_not_blank)
    _source = field_validator("source")(_no_nul)


class BatchPredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: list[Text] = Field(min_length=1, max_length=MAX_BATCH_TEXTS)
    source: Source | None = None

    _source = field_validator("source")(_no_nul)

    @field_validator("texts")
    @classmethod
    def _texts_not_blank(cls, texts: list[str]) -> list[str]:
        return [_not_blank(text) for text in texts]


class Scores(BaseModel):
    positive: float
    negative: float
    neutral: float


class PredictionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    request_id: uuid.UUID
    text: str
    source: str | None = None
    label: Label
    scores: Scores
    confidence: float = Field(description="Probability of the returned label")
    model_version: str = Field(description="The scorer's model_id, as silver records it")
    latency_ms: float = Field(description="Server time from arrival to scores")
    created_at: dt.datetime


class BatchPredictionOut(BaseModel):
    items: list[PredictionOut]
    batch_latency_ms: float


class PredictionPage(BaseModel):
    items: list[PredictionOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at end")
    total_count: int = Field(description="Predictions matching the filter, all pages")


class FeatureFreshness(BaseModel):
    features_as_of: dt.datetime = Field(description="Decision time (close) of the bar used")
    age_seconds: float = Field(description="Seconds from features_as_of to now")
    gold_sentiment_model_id: str | None


class LiveRecordOut(BaseModel):
    """The champion's live record as the last monitor run left it."""

    day: dt.date = Field(description="The last monitored day")
    ic_5s: float | None = Field(None, description="Mean daily IC over the last 5 sessions")
    ic_20s: float | None = None
    ic_60s: float | None = None
    band_low_5s: float | None = Field(None, description="Lower edge of the expected band")
    band_low_20s: float | None = None
    band_low_60s: float | None = None
    decay: str | None = Field(None, description="ok, or fail on sustained decay")


class FeedsOut(BaseModel):
    """Each feed's newest data when the live decision was made, and how far behind it was."""

    market_data_time: dt.datetime | None
    market_lag_s: float | None = Field(description="Decision write time minus the newest close")
    news_data_time: dt.datetime | None
    news_lag_s: float | None = Field(description="Decision write time minus the newest article")


class SignalOut(BaseModel):
    source: Literal["live", "gold"] = Field(
        "gold",
        description="live: the latest row of live/decisions (written before its outcome); "
        "gold: the last gold bar, as of the last daily run",
    )
    state: Literal["fresh", "stale"] = Field(
        "fresh", description="stale: not the signal of the moment (stale_reason says why)"
    )
    stale_reason: str | None = None
    instrument: str | None
    bar_time: dt.datetime = Field(description="Open time of the bar")
    decision_time: dt.datetime = Field(description="Its close: when the signal is known")
    predicted_return_bps: float | None = Field(description="None when the bar was not decided")
    direction: Literal["up", "down", "flat"] | None
    horizon_minutes: int | None
    model_name: str
    model_version: str
    model_run_id: str
    sentiment_model_id: str | None = Field(description="Sentiment model of the news features")
    feature_freshness: FeatureFreshness
    review_state: str | None = Field(
        None, description='"under_review" once the monitor saw sustained decay'
    )
    live: LiveRecordOut | None = Field(None, description="None before the first monitor run")
    feeds: FeedsOut | None = Field(None, description="The live decision's feed lags")


class CheckOut(BaseModel):
    kind: Literal["quality", "drift", "live"]
    check: str
    subject: str
    value: float | None
    threshold: float | None
    status: Literal["ok", "warn", "fail"]
    detail: str


class MonitoringOut(BaseModel):
    day: dt.date
    run_id: str
    status: Literal["ok", "warn", "fail"]
    counts: dict[str, int]
    checks: list[CheckOut]


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    ready: bool
    model_loaded: bool
    db_connected: bool
    champion_loaded: bool
    model_version: str | None
    champion_version: str | None
    fallback: str | None = None  # why the lexicon scorer serves instead of the model


class ErrorOut(BaseModel):
    detail: str | list[dict]
