"""Unit tests of the serving pieces: micro-batcher, cursors, API keys, settings, migrations."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from src_clean.errors import UserError
from src_clean.serving import migrate
from src_clean.serving.auth import ApiKeyChecker, digest, load_api_keys
from src_clean.serving.batcher import MicroBatcher
from src_clean.serving.db import Base
from src_clean.serving.repository import InvalidCursorError, decode_cursor, encode_cursor
from src_clean.settings import Settings
from src_clean.training.champion import direction

# -- micro-batcher -------------------------------------------------------------------------


class Recorder:
    """A model that records each batch and the thread it ran on; result = text upper-cased."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.batches: list[list[str]] = []
        self.threads: set[str] = set()
        self.delay_s = delay_s

    def __call__(self, texts: list[str]) -> list[str]:
        self.threads.add(threading.current_thread().name)
        self.batches.append(list(texts))
        time.sleep(self.delay_s)
        return [text.upper() for text in texts]


async def run_concurrently(batcher: MicroBatcher, groups: list[list[str]]):
    await batcher.start()
    try:
        return await asyncio.gather(*(batcher.submit(group) for group in groups))
    finally:
        await batcher.stop()


def test_concurrent_requests_share_one_forward_pass() -> None:
    model = Recorder()
    batcher = MicroBatcher(model, max_batch_size=32, window_s=0.05)
    results = asyncio.run(run_concurrently(batcher, [[f"t{i}"] for i in range(10)]))
    assert [r for r, _ in results] == [[f"T{i}"] for i in range(10)]  # each gets its own
    assert model.batches == [[f"t{i}" for i in range(10)]]
    assert {size for _, size in results} == {10}
    assert model.threads == {"inference_0"}  # never the event loop's thread


def test_batches_never_exceed_the_maximum_and_keep_request_order() -> None:
    model = Recorder(delay_s=0.01)
    batcher = MicroBatcher(model, max_batch_size=4, window_s=0.05)
    groups = [["a"], ["b", "c"], ["d", "e"], ["f"], ["g", "h", "i"], ["j"]]
    results = asyncio.run(run_concurrently(batcher, groups))
    assert [r for r, _ in results] == [[t.upper() for t in g] for g in groups]
    assert all(len(batch) <= 4 for batch in model.batches)
    assert [t for batch in model.batches for t in batch] == list("abcdefghij")
    assert [len(batch) for batch in model.batches] == [3, 3, 4]  # a request is never split


def test_disabled_batching_runs_one_request_per_pass() -> None:
    model = Recorder()
    batcher = MicroBatcher(model, max_batch_size=32, window_s=0.05, enabled=False)
    results = asyncio.run(run_concurrently(batcher, [["x"], ["y", "z"], ["w"]]))
    assert model.batches == [["x"], ["y", "z"], ["w"]]
    assert [size for _, size in results] == [1, 2, 1]


def test_a_lone_request_waits_at_most_the_window() -> None:
    batcher = MicroBatcher(Recorder(), max_batch_size=32, window_s=0.02)

    async def timed() -> float:
        await batcher.start()
        start = time.perf_counter()
        await batcher.submit(["solo"])
        elapsed = time.perf_counter() - start
        await batcher.stop()
        return elapsed

    assert asyncio.run(timed()) < 0.5


def test_a_model_error_fails_that_batch_only() -> None:
    calls = []

    def flaky(texts: list[str]) -> list[str]:
        calls.append(texts)
        if len(calls) == 1:
            raise ValueError("boom")
        return texts

    async def scenario():
        batcher = MicroBatcher(flaky, max_batch_size=8, window_s=0.01)
        await batcher.start()
        try:
            with pytest.raises(ValueError, match="boom"):
                await batcher.submit(["first"])
            return await batcher.submit(["second"])
        finally:
            await batcher.stop()

    assert asyncio.run(scenario()) == (["second"], 1)


def test_submit_before_start_is_refused() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        asyncio.run(MicroBatcher(Recorder()).submit(["x"]))


# -- cursors ---------------------------------------------------------------------------------


def test_cursor_round_trip() -> None:
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    assert decode_cursor(encode_cursor(moment, 42)) == (moment, 42)
    naive = moment.replace(tzinfo=None)  # SQLite hands back naive UTC
    assert decode_cursor(encode_cursor(naive, 7)) == (moment, 7)


@pytest.mark.parametrize(
    "cursor",
    ["", "!!!", "bm90IGpzb24=", "e30=", "eyJ0IjoiMjAyNiIsImkiOiIxIn0=", "ÿÿ"],
)
def test_foreign_cursors_are_rejected(cursor: str) -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor(cursor)


# -- API keys ----------------------------------------------------------------------------------


def test_keys_from_env_and_file(tmp_path, monkeypatch) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("# rotated 2026-01\nfile-key-1\n\n  file-key-2  \n")
    monkeypatch.setenv("SP500_API_KEYS", "env-key-1, env-key-2")
    monkeypatch.setenv("SP500_API_KEYS_FILE", str(key_file))
    checker = ApiKeyChecker(load_api_keys(Settings()))
    for key in ("env-key-1", "env-key-2", "file-key-1", "file-key-2"):
        assert checker.valid(key)
    for key in (None, "", "env-key", "env-key-1 ", "# rotated 2026-01", "FILE-KEY-1"):
        assert not checker.valid(key)


def test_no_key_configured_is_a_user_error(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("SP500_API_KEYS", raising=False)
    with pytest.raises(UserError, match="no API key"):
        load_api_keys(Settings(api_keys_file=None))
    with pytest.raises(UserError, match="cannot read API key file"):
        load_api_keys(Settings(api_keys_file=tmp_path / "missing"))


def test_comparison_is_constant_time_over_every_key(monkeypatch) -> None:
    """Every configured key is compared with ``hmac.compare_digest`` on equal-length digests,
    also after a match (no early exit that would time which key matched)."""
    import src_clean.serving.auth as auth

    compared: list[tuple[int, int]] = []
    real = auth.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    checker = ApiKeyChecker([digest("a"), digest("bb"), digest("c" * 300)])
    assert checker.valid("a")
    assert compared == [(32, 32)] * 3
    compared.clear()
    assert not checker.valid("x" * 10_000)
    assert compared == [(32, 32)] * 3


def test_settings_never_show_secrets(monkeypatch) -> None:
    monkeypatch.setenv("SP500_API_KEYS", "top-secret-key")
    monkeypatch.setenv("SP500_DATABASE_URL", "postgresql+psycopg://u:hunter2@db/predictions")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    shown = repr(Settings()) + str(Settings().model_dump())
    assert "top-secret-key" not in shown and "hunter2" not in shown
    assert Settings().mlflow_tracking_uri == "http://mlflow:5000"
    assert repr(ApiKeyChecker([digest("k")])) == "ApiKeyChecker(1 keys)"


def test_settings_from_environment(monkeypatch) -> None:
    monkeypatch.setenv("SP500_BATCHING", "false")
    monkeypatch.setenv("SP500_MAX_BATCH_SIZE", "8")
    monkeypatch.setenv("SP500_PRECISION", "fp32")
    settings = Settings()
    assert (settings.batching, settings.max_batch_size, settings.precision) == (False, 8, "fp32")
    monkeypatch.setenv("SP500_PRECISION", "int4")
    with pytest.raises(ValueError, match="precision"):
        Settings()


def test_direction() -> None:
    assert [direction(v) for v in (3.2, -0.1, 0.0)] == ["up", "down", "flat"]


# -- migrations --------------------------------------------------------------------------------


def test_migrations_match_the_models_and_rerun_cleanly(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/p.db"
    migrate.upgrade(url)
    migrate.upgrade(url)  # idempotent: a restarted service migrates again
    assert migrate.current_revision(url) == "0001"
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []


def test_migration_scripts_ship_inside_the_package() -> None:
    scripts = migrate.MIGRATIONS
    assert scripts.is_relative_to(migrate.Path(migrate.__file__).parent)
    assert (scripts / "env.py").is_file() and (scripts / "script.py.mako").is_file()
    assert sorted(p.name for p in (scripts / "versions").glob("0*.py")) == ["0001_predictions.py"]
