"""The ``predictions`` table (SQLAlchemy 2) and the engine factory.

Probabilities are stored as IEEE doubles (``DOUBLE PRECISION`` on Postgres, ``REAL`` on
SQLite), exactly the floats the API returns. ``id`` is a database-assigned, strictly
increasing surrogate key: with ``created_at`` it orders pages (newest first) and breaks
ties, so a keyset cursor is total and stable under concurrent inserts.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    DateTime,
    Double,
    Engine,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    create_engine,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

TEXT_MAX_CHARS = 2000
SOURCE_MAX_CHARS = 100
# BIGINT on Postgres; SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Prediction(Base):
    """One scored text, as returned by ``POST /api/v1/predict``."""

    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    source: Mapped[str | None] = mapped_column(String(SOURCE_MAX_CHARS))
    label: Mapped[str] = mapped_column(String(16), nullable=False)
    p_positive: Mapped[float] = mapped_column(Double, nullable=False)
    p_negative: Mapped[float] = mapped_column(Double, nullable=False)
    p_neutral: Mapped[float] = mapped_column(Double, nullable=False)
    confidence: Mapped[float] = mapped_column(Double, nullable=False)
    model_version: Mapped[str] = mapped_column(String(300), nullable=False)
    latency_ms: Mapped[float] = mapped_column(Double, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (
        UniqueConstraint("request_id", name="uq_predictions_request_id"),
        Index("ix_predictions_created_at_id", "created_at", "id"),
        Index("ix_predictions_label_created_at_id", "label", "created_at", "id"),
    )


def make_engine(url: str) -> Engine:
    """An engine with pre-ping (a restarted database costs one failed checkout, not a 500
    per stale connection); SQLite gets WAL and a busy timeout for concurrent writers."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8, pool_timeout=10)


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
