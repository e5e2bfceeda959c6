"""The endpoints: ``/api/v1`` (API key); ``/`` (the monitoring page), ``/health``,
``/ready`` and ``/metrics`` (open)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from typing import Annotated, Any

import anyio
import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, Security
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import APIKeyHeader, HTTPBasic, HTTPBasicCredentials
from sqlalchemy.exc import SQLAlchemyError

from src_clean.live.signal import live_signal
from src_clean.monitoring.latest import latest, latest_tear_sheet, page
from src_clean.redact import redact
from src_clean.serving.auth import API_KEY_HEADER
from src_clean.serving.metrics import CONTENT_TYPE_LATEST
from src_clean.serving.middleware import LOG_FIELDS
from src_clean.serving.repository import InvalidCursorError
from src_clean.serving.schemas import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    BatchPredictionOut,
    BatchPredictRequest,
    CheckOut,
    ErrorOut,
    Health,
    Label,
    LiveRecordOut,
    MonitoringOut,
    PredictionOut,
    PredictionPage,
    PredictRequest,
    Readiness,
    SignalOut,
)
from src_clean.serving.state import ServiceState
from src_clean.training.champion import SignalUnavailableError

log = logging.getLogger(__name__)

STORAGE_WARNING = "X-Storage-Warning"
WRITE_FAILED = "write_failed"
WRITE_TIMEOUT = "write_timeout"  # not stored yet: stored later if the database recovers
NOT_FOUND = "Prediction not found"
CURSOR_MAX_CHARS = 200

api_key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)
http_basic = HTTPBasic(auto_error=False)
ERRORS = {
    401: {"model": ErrorOut, "description": "Missing or invalid API key"},
    422: {"model": ErrorOut, "description": "Invalid request"},
    503: {"model": ErrorOut, "description": "Model or database not available"},
}


def service(request: Request) -> ServiceState:
    return request.app.state.service


def require_api_key(request: Request, key: Annotated[str | None, Security(api_key_header)]) -> None:
    if not service(request).keys.valid(key):
        raise HTTPException(
            401, "Invalid or missing API key", headers={"WWW-Authenticate": API_KEY_HEADER}
        )


def require_page_access(
    request: Request,
    key: Annotated[str | None, Security(api_key_header)],
    basic: Annotated[HTTPBasicCredentials | None, Security(http_basic)],
) -> None:
    """The pages show what the API protects, so they take the same key: ``X-API-Key``, or
    HTTP Basic with the key as the password (a browser asks for it), unless
    ``SP500_PUBLIC_PAGE`` is true."""
    state = service(request)
    if state.settings.public_page:
        return
    if state.keys.valid(key) or (basic is not None and state.keys.valid(basic.password)):
        return
    raise HTTPException(
        401,
        "Sign in with the API key as the password (any user name)",
        headers={"WWW-Authenticate": 'Basic realm="sp500 news signal", charset="UTF-8"'},
    )


State = Annotated[ServiceState, Depends(service)]
api = APIRouter(prefix="/api/v1", dependencies=[Depends(require_api_key)], responses=ERRORS)
ops = APIRouter()
# the pages show what the API protects: the same key (HTTP Basic in a browser)
pages = APIRouter(dependencies=[Depends(require_page_access)], default_response_class=HTMLResponse)


def log_fields(request: Request, **fields: Any) -> None:
    setattr(request.state, LOG_FIELDS, fields)


# -- predictions ------------------------------------------------------------------------


async def score_and_store(
    state: ServiceState, texts: list[str], source: str | None, response: Response
) -> tuple[list[PredictionOut], int]:
    """Score ``texts`` through the batcher, store them, return them (stored or not)."""
    if state.batcher is None or state.model is None or state.writer is None:
        raise HTTPException(503, "Model not loaded")
    start = time.perf_counter()
    created_at = dt.datetime.now(dt.UTC)
    scored, batch_size = await state.batcher.submit(texts)
    latency_ms = (time.perf_counter() - start) * 1000
    rows = [
        {
            "request_id": uuid.uuid4(),
            "text": text,
            "source": source,
            "label": result.label,
            "p_positive": result.scores["positive"],
            "p_negative": result.scores["negative"],
            "p_neutral": result.scores["neutral"],
            "confidence": result.confidence,
            "model_version": state.model.model_version,
            "latency_ms": latency_ms,
            "created_at": created_at,
        }
        for text, result in zip(texts, scored, strict=True)
    ]
    for result in scored:
        state.metrics.predictions.labels(result.label).inc()
    try:
        # shielded: a write that outlives the timeout still completes (or fails) behind us
        stored, _ = await asyncio.wait_for(
            asyncio.shield(state.writer.submit(rows)), state.settings.write_timeout_s
        )
    except TimeoutError:
        state.metrics.db_write_timeouts.inc(len(rows))
        response.headers[STORAGE_WARNING] = WRITE_TIMEOUT
    else:
        if not all(stored):
            state.metrics.db_write_failures.inc(len(rows))
            response.headers[STORAGE_WARNING] = WRITE_FAILED
    return [prediction_out(row) for row in rows], batch_size


def prediction_out(row: Any) -> PredictionOut:
    """The API form of a stored row (ORM object) or of a row dict."""
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
    created_at = get("created_at")
    if created_at.tzinfo is None:  # SQLite hands back naive UTC
        created_at = created_at.replace(tzinfo=dt.UTC)
    return PredictionOut(
        request_id=get("request_id"),
        text=get("text"),
        source=get("source"),
        label=get("label"),
        scores={k: get(f"p_{k}") for k in ("positive", "negative", "neutral")},
        confidence=get("confidence"),
        model_version=get("model_version"),
        latency_ms=get("latency_ms"),
        created_at=created_at,
    )


@api.post("/predict", response_model=PredictionOut, summary="Score one text")
async def predict(
    body: PredictRequest, request: Request, response: Response, state: State
) -> PredictionOut:
    [prediction], batch_size = await score_and_store(state, [body.text], body.source, response)
    log_fields(
        request,
        prediction_id=str(prediction.request_id),
        batch_size=batch_size,
        label=prediction.label,
    )
    return prediction


@api.post("/predict/batch", response_model=BatchPredictionOut, summary="Score up to 64 texts")
async def predict_batch(
    body: BatchPredictRequest, request: Request, response: Response, state: State
) -> BatchPredictionOut:
    start = time.perf_counter()
    items, batch_size = await score_and_store(state, body.texts, body.source, response)
    log_fields(request, batch_size=batch_size, texts=len(items))
    return BatchPredictionOut(items=items, batch_latency_ms=(time.perf_counter() - start) * 1000)


async def in_thread(function: Any, *args: Any) -> Any:
    """Run a blocking database read; a database error becomes a JSON 503."""
    try:
        return await anyio.to_thread.run_sync(function, *args)
    except SQLAlchemyError as exc:
        log.warning("database read failed: %s", redact(str(exc).splitlines()[0]))
        raise HTTPException(503, "Database unavailable") from exc


@api.get(
    "/predictions/{request_id}",
    response_model=PredictionOut,
    responses={404: {"model": ErrorOut, "description": NOT_FOUND}},
    summary="One stored prediction",
)
async def get_prediction(request_id: uuid.UUID, state: State) -> PredictionOut:
    row = await in_thread(state.repository.get, request_id)
    if row is None:
        raise HTTPException(404, NOT_FOUND)
    return prediction_out(row)


@api.get("/predictions", response_model=PredictionPage, summary="Stored predictions, newest first")
async def list_predictions(
    state: State,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=CURSOR_MAX_CHARS)] = None,
    label: Label | None = None,
) -> PredictionPage:
    try:
        page = await in_thread(state.repository.page, limit, cursor, label)
    except InvalidCursorError as exc:
        raise HTTPException(422, "Invalid cursor") from exc
    return PredictionPage(
        items=[prediction_out(row) for row in page.items],
        next_cursor=page.next_cursor,
        total_count=page.total_count,
    )


def current_signal(state: ServiceState) -> dict[str, Any]:
    """The live process's latest decision (``live/decisions``), with its age and feed lags,
    ``stale`` and why when it is not the signal of the moment; before the first live
    decision, the champion's prediction on the last gold bar (``source: gold``)."""
    settings, tracker = state.settings, state.champion
    now = pd.Timestamp.now(tz="UTC")
    found = live_signal(
        tracker.lake, tracker.name, now, settings.live_stale_s, settings.live_news_stale_s
    )
    if found is None:
        return tracker.signal()
    champion = tracker.champion
    same = champion is not None and champion.version == found["model_version"]
    found["horizon_minutes"] = champion.horizon_minutes if champion else None
    found["review_state"] = champion.review_state if same else None
    return found


@api.get(
    "/signal/latest",
    response_model=SignalOut,
    responses={409: {"model": ErrorOut, "description": "Gold does not match the champion"}},
    summary="The champion model's forecast for the latest gold bar",
)
async def latest_signal(state: State) -> SignalOut:
    try:
        signal = await anyio.to_thread.run_sync(current_signal, state)
    except SignalUnavailableError as exc:
        raise HTTPException(exc.status, exc.detail) from exc
    found = await in_thread(latest, state.champion.lake)
    live = LiveRecordOut(**found.live()) if found is not None else None
    return SignalOut(**signal, live=live)


@api.get(
    "/monitoring/latest",
    response_model=MonitoringOut,
    responses={404: {"model": ErrorOut, "description": "No monitor run yet"}},
    summary="The last monitored day's checks: data quality, drift, live record",
)
async def latest_monitoring(state: State) -> MonitoringOut:
    found = await in_thread(latest, state.champion.lake)
    if found is None:
        raise HTTPException(404, "No monitor run yet: run `python -m src_clean monitor`")
    rows = found.checks.astype(object).where(found.checks.notna(), None)
    return MonitoringOut(
        day=found.day,
        run_id=str(found.checks["run_id"].iloc[0]),
        status=found.status,
        counts=found.counts(),
        checks=[CheckOut(**row) for row in rows[list(CheckOut.model_fields)].to_dict("records")],
    )


# -- operations -------------------------------------------------------------------------


@pages.get("/verdict", summary="The latest training run's verdict tear sheet")
async def verdict_page(state: State) -> HTMLResponse:
    html = await in_thread(latest_tear_sheet, state.champion.lake)
    if html is None:
        raise HTTPException(404, "No tear sheet yet: run train (make demo writes one)")
    return HTMLResponse(html)


@pages.get("/", summary="The latest signal, checks and live IC")
async def home(state: State) -> HTMLResponse:
    """A read-only page (server-rendered, no script), behind the API key like the API."""
    signal, note = None, ""
    try:
        signal = await anyio.to_thread.run_sync(current_signal, state)
    except SignalUnavailableError as exc:
        note = f"No signal: {exc.detail}"
    champion = state.champion.champion
    review = champion.review_state if champion else None
    html = await in_thread(page, state.champion.lake, signal, note, review)
    return HTMLResponse(html)


@ops.get("/health", response_model=Health, summary="Liveness: the process answers")
async def health() -> Health:
    return Health(status="ok")


@ops.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready"}},
    summary="Readiness: model loaded and database reachable",
)
async def ready(state: State) -> JSONResponse:
    db_connected = state.migrated
    if db_connected:
        try:
            with anyio.fail_after(2):
                await anyio.to_thread.run_sync(state.repository.ping, abandon_on_cancel=True)
        except (SQLAlchemyError, TimeoutError):
            db_connected = False
    champion = state.champion.champion
    body = Readiness(
        ready=state.model is not None and db_connected,
        model_loaded=state.model is not None,
        db_connected=db_connected,
        champion_loaded=champion is not None,
        model_version=state.model.model_version if state.model else None,
        champion_version=champion.version if champion else None,
        fallback=state.model.fallback if state.model else None,
    )
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)


@ops.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    summary="Prometheus metrics",
)
async def metrics(state: State) -> Response:
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
