"""Reads and writes of predictions, with keyset (cursor) pagination, newest first.

A page is ordered by ``(created_at, id)`` descending and a cursor is the key of the last
item returned: the next page is every row strictly below it. Unlike ``OFFSET``, rows
inserted meanwhile (all above the cursor, or below it but not yet seen) can never push an
item onto two pages or between them, and a page costs one index range scan however deep.
The cursor is opaque to clients (URL-safe base64 of the key) and checked on the way in.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, func, insert, select, tuple_
from sqlalchemy.orm import Session

from src_clean.serving.db import Prediction

BIGINT_MAX = 2**63 - 1


class InvalidCursorError(ValueError):
    """A cursor that this service did not issue."""


@dataclass(frozen=True)
class Page:
    items: list[Prediction]
    next_cursor: str | None
    total_count: int


def encode_cursor(created_at: dt.datetime, row_id: int) -> str:
    key = {"t": as_utc(created_at).isoformat(), "i": row_id}
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    """The ``(created_at, id)`` key of ``cursor``; InvalidCursorError unless it is a key the
    database can compare: an aware time that exists in UTC and an id inside BIGINT (client
    input must never reach the database as something it refuses, which looks like an
    outage)."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        created_at, row_id = dt.datetime.fromisoformat(key["t"]), key["i"]
        if type(row_id) is not int or not 0 <= row_id <= BIGINT_MAX:
            raise ValueError(f"id {row_id!r} outside BIGINT")
        if created_at.tzinfo is None:
            raise ValueError("naive time")
        return created_at.astimezone(dt.UTC), row_id
    except (UnicodeEncodeError, binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise InvalidCursorError("invalid cursor") from exc
    except OverflowError as exc:  # a time whose UTC form falls outside year 1..9999
        raise InvalidCursorError("invalid cursor") from exc


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes (stored in UTC); Postgres returns aware ones."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class PredictionRepository:
    """Synchronous access to the ``predictions`` table (the service calls it in threads)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add_many(self, rows: Sequence[dict]) -> None:
        """Insert ``rows`` (column -> value) in one transaction: all or none."""
        with Session(self.engine) as session, session.begin():
            session.execute(insert(Prediction), list(rows))

    def get(self, request_id: uuid.UUID) -> Prediction | None:
        with Session(self.engine) as session:
            return session.scalars(
                select(Prediction).where(Prediction.request_id == request_id)
            ).one_or_none()

    def page(self, limit: int, cursor: str | None = None, label: str | None = None) -> Page:
        """Up to ``limit`` predictions below ``cursor``, newest first, optionally one label."""
        key = decode_cursor(cursor) if cursor else None
        query = select(Prediction)
        count = select(func.count()).select_from(Prediction)
        if label is not None:
            query = query.where(Prediction.label == label)
            count = count.where(Prediction.label == label)
        if key is not None:
            query = query.where(tuple_(Prediction.created_at, Prediction.id) < tuple_(*key))
        query = query.order_by(Prediction.created_at.desc(), Prediction.id.desc())
        with Session(self.engine) as session:
            items = list(session.scalars(query.limit(limit + 1)))
            total = session.scalar(count) or 0
        more = len(items) > limit
        items = items[:limit]
        last = items[-1] if more else None
        next_cursor = encode_cursor(last.created_at, last.id) if last is not None else None
        return Page(items, next_cursor, total)

    def ping(self) -> None:
        """Raise unless the database answers ``SELECT 1``."""
        with self.engine.connect() as connection:
            connection.execute(select(1))
