"""Integration with a real PostgreSQL 15: migrations, exact storage, and keyset pages that
never skip or repeat an item while other clients insert predictions."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import random
import threading
import time
import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from serving_support import AUTH, settings, truncate_predictions, wait_ready

from src_clean.serving import migrate
from src_clean.serving.app import create_app
from src_clean.serving.db import Base, make_engine
from src_clean.serving.repository import PredictionRepository

BASE_TIME = dt.datetime(2026, 3, 2, 14, 30, tzinfo=dt.UTC)


def row(created_at: dt.datetime, label: str = "neutral", p: float = 0.1) -> dict:
    rest = (1.0 - p) / 2
    return {
        "request_id": uuid.uuid4(),
        "text": f"text {created_at.isoformat()}",
        "source": None,
        "label": label,
        "p_positive": p,
        "p_negative": rest,
        "p_neutral": rest,
        "confidence": rest,
        "model_version": "test-model",
        "latency_ms": 1.5,
        "created_at": created_at,
    }


@pytest.fixture
def repository(postgres_url):
    migrate.upgrade(postgres_url)
    truncate_predictions(postgres_url)
    engine = make_engine(postgres_url)
    yield PredictionRepository(engine)
    engine.dispose()


def test_migrations_on_postgres_match_the_models(postgres_url) -> None:
    with concurrent.futures.ThreadPoolExecutor(4) as pool:  # replicas starting together
        list(pool.map(lambda _: migrate.upgrade(postgres_url), range(4)))
    assert migrate.current_revision(postgres_url) == "0001"
    engine = sa.create_engine(postgres_url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        columns = {c["name"]: c["type"] for c in sa.inspect(connection).get_columns("predictions")}
    engine.dispose()
    assert str(columns["p_positive"]) == "DOUBLE PRECISION"
    assert str(columns["id"]) == "BIGINT"


def test_doubles_are_stored_exactly(repository) -> None:
    awkward = [0.1, 1 / 3, 5e-324, 0.9999999999999999, 2**-52]
    rows = [row(BASE_TIME + dt.timedelta(seconds=i), p=p) for i, p in enumerate(awkward)]
    repository.add_many(rows)
    for written in rows:
        stored = repository.get(written["request_id"])
        assert stored.p_positive == written["p_positive"]
        assert stored.p_negative == written["p_negative"]
        assert stored.created_at == written["created_at"]


def test_ties_on_created_at_are_ordered_by_id(repository) -> None:
    rows = [row(BASE_TIME) for _ in range(5)]  # a batch request stores one created_at
    repository.add_many(rows)
    seen, cursor = [], None
    while True:
        page = repository.page(2, cursor)
        seen += [item.request_id for item in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [r["request_id"] for r in reversed(rows)]


def walk(client: TestClient, limit: int, label: str | None = None) -> list[dict]:
    items, cursor = [], None
    while True:
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        params |= {"label": label} if label else {}
        response = client.get("/api/v1/predictions", params=params, headers=AUTH)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


WRITER_BATCHES = 40


@pytest.mark.parametrize("label", [None, "positive"])
def test_pages_never_skip_or_repeat_under_concurrent_inserts(
    postgres_url, tiny_model, repository, label
) -> None:
    labels = ["positive", "negative", "neutral"]
    rng = random.Random(5)
    existing = [
        row(BASE_TIME + dt.timedelta(milliseconds=rng.randrange(0, 5000)), rng.choice(labels))
        for _ in range(240)
    ]
    existing += [row(BASE_TIME + dt.timedelta(seconds=2), "positive") for _ in range(20)]  # ties
    repository.add_many(existing)
    stop = threading.Event()
    inserted = []

    def writer(seed: int) -> None:
        # A bounded number of batches: an unbounded writer on a slow machine can keep
        # adding rows below the cursor faster than the walk consumes them.
        local = random.Random(seed)
        for _ in range(WRITER_BATCHES):
            if stop.is_set():
                return
            # new predictions (newest) and late commits with an older created_at
            offset = dt.timedelta(milliseconds=local.randrange(-2000, 60_000))
            batch = [row(BASE_TIME + offset, local.choice(labels)) for _ in range(3)]
            repository.add_many(batch)
            inserted.extend(batch)
            time.sleep(0.002)

    app = create_app(settings(postgres_url, tiny_model))
    with TestClient(app) as client:
        wait_ready(client)
        threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(3)]
        for thread in threads:
            thread.start()
        try:
            pages = walk(client, limit=7, label=label)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
    ids = [item["request_id"] for item in pages]
    assert len(ids) == len(set(ids)), "an item was repeated"
    wanted = {str(r["request_id"]) for r in existing if label in (None, r["label"])}
    assert wanted <= set(ids), f"{len(wanted - set(ids))} existing items were skipped"
    assert len(inserted) > 0  # the writers really ran during the walk
    times = [dt.datetime.fromisoformat(item["created_at"]) for item in pages]
    assert times == sorted(times, reverse=True)
    if label:
        assert {item["label"] for item in pages} == {label}
