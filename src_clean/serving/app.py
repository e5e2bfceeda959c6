"""``create_app(settings)``: the FastAPI app and its lifespan.

Start-up never blocks serving: ``/health`` answers at once while, in the background, the
database is migrated (retried until it answers), the sentiment model is loaded and the
champion is read. ``/ready`` is 503 until the model and the database are ready. The
champion alias is re-read every ``champion_refresh_s`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import anyio
from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from src_clean import __version__
from src_clean.lake import Lake
from src_clean.redact import redact
from src_clean.serving import migrate
from src_clean.serving.auth import ApiKeyChecker, load_api_keys
from src_clean.serving.batcher import MicroBatcher
from src_clean.serving.db import make_engine
from src_clean.serving.logs import configure_logging
from src_clean.serving.metrics import ServiceMetrics
from src_clean.serving.middleware import AccessMiddleware, BodyLimitMiddleware
from src_clean.serving.repository import PredictionRepository
from src_clean.serving.routes import api, ops, pages
from src_clean.serving.scorer import SentimentModel
from src_clean.serving.state import ServiceState
from src_clean.settings import Settings
from src_clean.training.champion import ChampionTracker

log = logging.getLogger(__name__)

MIGRATE_RETRY_S = 2.0
# predictions of concurrent requests are written together: one transaction (one commit,
# one fsync) for whatever queued up while the previous write ran
WRITE_BATCH_ROWS = 256
STATIC = Path(__file__).with_name("static")
DESCRIPTION = """FinBERT sentiment predictions (ONNX Runtime, micro-batched, stored in
Postgres) and the champion XGBoost model's signal on the latest gold bar.
Every `/api/v1` route needs an `X-API-Key` header; errors are JSON `{"detail": ...}`."""


def create_app(settings: Settings | None = None, *, model: SentimentModel | None = None) -> FastAPI:
    """The app; ``model`` skips loading ``settings.sentiment_model`` (tests, benchmarks)."""
    settings = settings or Settings()
    configure_logging()
    metrics = ServiceMetrics()
    engine = make_engine(settings.database_url.get_secret_value())
    state = ServiceState(
        settings=settings,
        keys=ApiKeyChecker(load_api_keys(settings)),
        metrics=metrics,
        repository=PredictionRepository(engine),
        champion=ChampionTracker(
            settings.tracking_uri(),
            settings.registered_model,
            settings.champion_alias,
            Lake(settings.lake_root),
        ),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.writer = MicroBatcher(
            partial(write_rows, state.repository),
            max_batch_size=WRITE_BATCH_ROWS,
            window_s=0.0,
            thread_name="db-writer",
        )
        await state.writer.start()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(prepare_database, state)
            tasks.start_soon(load_model, state, model)
            tasks.start_soon(follow_champion, state)
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()
        if state.batcher is not None:
            await state.batcher.stop()
        await state.writer.stop()
        engine.dispose()

    app = FastAPI(
        title="S&P 500 news-signal API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served below from the package: the default fetches from a CDN
        redoc_url=None,
    )
    add_offline_docs(app)
    app.state.service = state
    app.include_router(pages)
    app.include_router(ops)
    app.include_router(api)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(AccessMiddleware, metrics=metrics)  # outermost: sees every response
    return app


def add_offline_docs(app: FastAPI) -> None:
    """``/docs`` with Swagger UI's assets from the package (``static/swagger-ui``), so it
    works without the internet."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title}: docs",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
        )


async def http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException | HTTPException)
    return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)


async def validation_error(_: Request, exc: Exception) -> JSONResponse:
    """422 with the offending locations and messages, never the submitted values
    (they may be long texts, or a key pasted into the wrong field)."""
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": e["loc"], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return JSONResponse({"detail": jsonable_encoder(errors)}, 422)


def write_rows(repository: PredictionRepository, rows: list[dict]) -> list[bool]:
    """Store the rows of every request in a write batch in one transaction; whether each
    was stored (all or none: a failure is the database's, not a row's)."""
    try:
        repository.add_many(rows)
    except SQLAlchemyError as exc:
        log.warning("prediction write failed: %s", redact(str(exc).splitlines()[0]))
        return [False] * len(rows)
    return [True] * len(rows)


async def prepare_database(state: ServiceState) -> None:
    """Migrate (if asked) until the database answers; then the service can be ready."""
    url = state.settings.database_url.get_secret_value()
    while True:
        try:
            if state.settings.migrate_on_start:
                await anyio.to_thread.run_sync(migrate.upgrade, url)
            else:
                await anyio.to_thread.run_sync(state.repository.ping)
        except Exception as exc:
            state.startup_errors["database"] = redact(str(exc).splitlines()[0])
            log.warning("database not ready: %s", state.startup_errors["database"])
            await asyncio.sleep(MIGRATE_RETRY_S)
            continue
        state.startup_errors.pop("database", None)
        state.migrated = True
        return


async def load_model(state: ServiceState, model: SentimentModel | None) -> None:
    """Load the sentiment model in a thread, then start the micro-batcher on it."""
    settings = state.settings
    try:
        loaded = model or await anyio.to_thread.run_sync(SentimentModel.load, settings)
    except Exception as exc:
        state.startup_errors["model"] = str(exc)
        log.error("sentiment model %r failed to load: %s", settings.sentiment_model, exc)
        return
    batcher = MicroBatcher(
        loaded.predict,
        max_batch_size=settings.max_batch_size,
        window_s=settings.batch_window_ms / 1000,
        enabled=settings.batching,
        on_batch=state.metrics.batch_size.observe,
    )
    await batcher.start()
    state.batcher, state.model = batcher, loaded
    log.info("sentiment model %s ready (batching=%s)", loaded.model_version, settings.batching)


async def follow_champion(state: ServiceState) -> None:
    """Re-read the champion alias now and every ``champion_refresh_s`` seconds."""
    tracker = state.champion
    while True:
        try:
            await anyio.to_thread.run_sync(tracker.refresh)
        except Exception:  # never let a registry hiccup end the loop
            log.exception("champion refresh crashed")
        champion = tracker.champion
        state.metrics.champion_version.set(int(champion.version) if champion else 0)
        await asyncio.sleep(state.settings.champion_refresh_s)
