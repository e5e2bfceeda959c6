"""Contract tests of every endpoint and error, against real Postgres and a real ONNX model."""

from __future__ import annotations

import base64
import concurrent.futures
import datetime as dt
import hashlib
import json
import math
import threading
import time
import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from serving_support import API_KEY, AUTH, OTHER_KEY, settings, truncate_predictions, wait_ready

from src_clean.serving.app import create_app

API_ROUTES = [
    ("POST", "/api/v1/predict", {"text": "Apple beats estimates"}),
    ("POST", "/api/v1/predict/batch", {"texts": ["Apple beats estimates"]}),
    ("GET", f"/api/v1/predictions/{uuid.uuid4()}", None),
    ("GET", "/api/v1/predictions", None),
    ("GET", "/api/v1/signal/latest", None),
]


@pytest.fixture(scope="module")
def client(postgres_url, tiny_model, tmp_path_factory):
    truncate_predictions(postgres_url)
    lake = tmp_path_factory.mktemp("lake")  # no gold, no MLflow store: no champion
    app = create_app(settings(postgres_url, tiny_model, lake_root=str(lake)))
    with TestClient(app) as client:
        wait_ready(client)
        yield client


def predict(client, text: str, **extra) -> dict:
    response = client.post("/api/v1/predict", json={"text": text, **extra}, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


# -- predictions ------------------------------------------------------------------------


def test_predict_returns_the_documented_fields(client, tiny_model) -> None:
    body = predict(client, "Apple shares surge after record profits", source="unit-test")
    assert set(body) == {
        "request_id",
        "text",
        "source",
        "label",
        "scores",
        "confidence",
        "model_version",
        "latency_ms",
        "created_at",
    }
    uuid.UUID(body["request_id"])
    assert body["text"] == "Apple shares surge after record profits"
    assert body["source"] == "unit-test"
    scores = body["scores"]
    assert set(scores) == {"positive", "negative", "neutral"}
    assert math.isclose(sum(scores.values()), 1.0, rel_tol=1e-9)
    assert body["label"] == max(scores, key=scores.get)
    assert body["confidence"] == scores[body["label"]]
    assert body["latency_ms"] > 0
    # silver's model_id: the checkpoint (folder, weights hash) @ the engine and precision
    weights = tiny_model / "model.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
    assert body["model_version"] == f"path:{tiny_model.name}@sha256:{digest}@onnx-fp32"


def test_stored_prediction_is_exactly_what_was_returned(client, postgres_url) -> None:
    body = predict(client, "Fed cuts rates; stocks rally")
    stored = client.get(f"/api/v1/predictions/{body['request_id']}", headers=AUTH)
    assert stored.status_code == 200
    assert stored.json() == body  # floats compared exactly: doubles survive the round trip
    engine = sa.create_engine(postgres_url)
    with engine.connect() as connection:
        row = connection.execute(
            sa.text(
                "SELECT p_positive, p_negative, p_neutral FROM predictions WHERE request_id=:r"
            ),
            {"r": body["request_id"]},
        ).one()
    engine.dispose()
    assert list(row) == [body["scores"][k] for k in ("positive", "negative", "neutral")]


def test_batch_scores_each_text_like_a_single_request(client) -> None:
    texts = ["Apple beats estimates", "Company cuts guidance after weak quarter", "Fed holds"]
    response = client.post(
        "/api/v1/predict/batch", json={"texts": texts, "source": "b"}, headers=AUTH
    )
    assert response.status_code == 200
    items = response.json()["items"]
    assert [item["text"] for item in items] == texts
    assert len({item["request_id"] for item in items}) == 3
    for item in items:
        single = predict(client, item["text"])
        assert single["label"] == item["label"]
        for label, value in item["scores"].items():
            assert single["scores"][label] == pytest.approx(value, abs=1e-5)  # other padding
        assert client.get(f"/api/v1/predictions/{item['request_id']}", headers=AUTH).json() == item


def test_unknown_prediction_is_404(client) -> None:
    response = client.get(f"/api/v1/predictions/{uuid.uuid4()}", headers=AUTH)
    assert response.status_code == 404
    assert response.json() == {"detail": "Prediction not found"}


def test_list_is_newest_first_with_label_filter_and_count(client) -> None:
    for text in ("Apple beats estimates", "weak quarter", "record high", "layoffs"):
        predict(client, text)
    everything = client.get("/api/v1/predictions?limit=100", headers=AUTH).json()
    times = [dt.datetime.fromisoformat(item["created_at"]) for item in everything["items"]]
    assert times == sorted(times, reverse=True) and len(times) == everything["total_count"]
    label = everything["items"][0]["label"]
    filtered = client.get(f"/api/v1/predictions?label={label}&limit=100", headers=AUTH).json()
    expected = [item for item in everything["items"] if item["label"] == label]
    assert filtered["items"] == expected and filtered["total_count"] == len(expected)


def test_cursor_walks_every_item_once(client) -> None:
    everything = client.get("/api/v1/predictions?limit=100", headers=AUTH).json()["items"]
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/predictions", params=params, headers=AUTH).json()
        assert len(page["items"]) <= 2
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everything


# -- validation: 422 with JSON details -------------------------------------------------


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/api/v1/predict", {"text": ""}),
        ("/api/v1/predict", {"text": "   \n\t "}),
        ("/api/v1/predict", {"text": "x" * 2001}),
        ("/api/v1/predict", {"text": "ok", "source": "s" * 101}),
        ("/api/v1/predict", {"text": 5}),
        ("/api/v1/predict", {"text": "nul \x00 inside"}),
        ("/api/v1/predict", {"text": "ok", "source": "a\x00b"}),
        ("/api/v1/predict", {}),
        ("/api/v1/predict", {"text": "ok", "unexpected": 1}),
        ("/api/v1/predict/batch", {"texts": []}),
        ("/api/v1/predict/batch", {"texts": ["ok"] * 65}),
        ("/api/v1/predict/batch", {"texts": ["ok", " "]}),
        ("/api/v1/predict/batch", {"texts": ["ok", "x" * 2001]}),
    ],
)
def test_invalid_bodies_are_422(client, path, payload) -> None:
    response = client.post(path, json=payload, headers=AUTH)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail[0]["loc"][0] == "body"
    assert "input" not in detail[0]  # the submitted value is never echoed back


def test_limits_accepted_at_the_boundary(client) -> None:
    assert predict(client, "x" * 2000, source="s" * 100)["text"] == "x" * 2000
    response = client.post("/api/v1/predict/batch", json={"texts": ["a b"] * 64}, headers=AUTH)
    assert response.status_code == 200 and len(response.json()["items"]) == 64
    assert client.get("/api/v1/predictions?limit=100", headers=AUTH).status_code == 200


def test_malformed_json_is_422_json(client) -> None:
    response = client.post(
        "/api/v1/predict",
        content=b"{not json",
        headers=AUTH | {"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"


def cursor_of(key: object) -> str:
    """A client-crafted cursor: URL-safe base64 of ``key`` as JSON."""
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


# Every cursor that does not decode to an in-range (time, id) is the client's error: 422,
# never a 503 (which monitoring reads as a database outage) or a 500.
BAD_CURSORS = {
    "not base64": "not-a-cursor",
    "empty object": "e30=",
    "id past BIGINT": cursor_of({"t": "2020-01-01T00:00:00+00:00", "i": 9223372036854775808}),
    "negative id": cursor_of({"t": "2020-01-01T00:00:00+00:00", "i": -1}),
    "id a float": cursor_of({"t": "2020-01-01T00:00:00+00:00", "i": 1.0}),
    "id a bool": cursor_of({"t": "2020-01-01T00:00:00+00:00", "i": True}),
    "time overflows in UTC": cursor_of({"t": "0001-01-01T00:00:00+14:00", "i": 1}),
    "time past year 9999 in UTC": cursor_of({"t": "9999-12-31T23:00:00-02:00", "i": 1}),
    "naive time": cursor_of({"t": "2020-01-01T00:00:00", "i": 1}),
    "time a number": cursor_of({"t": 1577836800, "i": 1}),
    "a list": cursor_of(["2020-01-01T00:00:00+00:00", 1]),
}


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=abc",
        "label=bullish",
        *(f"cursor={cursor}" for cursor in BAD_CURSORS.values()),
    ],
    ids=["limit=0", "limit=101", "limit=abc", "label=bullish", *BAD_CURSORS],
)
def test_invalid_list_queries_are_422(client, query) -> None:
    response = client.get(f"/api/v1/predictions?{query}", headers=AUTH)
    assert response.status_code == 422
    assert "detail" in response.json()


def test_the_largest_valid_cursor_key_is_a_page(client) -> None:
    cursor = cursor_of({"t": "9999-12-31T00:00:00+00:00", "i": 2**63 - 1})
    response = client.get(f"/api/v1/predictions?cursor={cursor}", headers=AUTH)
    assert response.status_code == 200


INVISIBLE_TEXTS = {
    "zero-width spaces": "\u200b\u200b\u200b",
    "zero-width joiners and a BOM": "\u200c\u200d\ufeff",
    "word joiner and spaces": " \u2060 \u00a0\u3000",
    "combining marks alone": "\u0301\u0308",
    "Hangul filler": "\u3164",
    "Braille blank": "\u2800\u2800",
    "control characters": "\x01\x1f\x7f",
}


@pytest.mark.parametrize("text", INVISIBLE_TEXTS.values(), ids=INVISIBLE_TEXTS.keys())
def test_text_with_nothing_visible_is_422(client, text) -> None:
    single = client.post("/api/v1/predict", json={"text": text}, headers=AUTH)
    batch = client.post("/api/v1/predict/batch", json={"texts": ["ok", text]}, headers=AUTH)
    assert (single.status_code, batch.status_code) == (422, 422)


def test_visible_text_with_zero_width_characters_is_scored(client) -> None:
    assert predict(client, "\u200bStocks\u200d rally")["label"] in {
        "positive",
        "negative",
        "neutral",
    }
    assert predict(client, "e\u0301")["text"] == "e\u0301"  # a base letter with its accent


def test_oversized_bodies_are_413_before_parsing(client) -> None:
    huge = json.dumps({"texts": ["x" * 2000] * 2000}).encode()
    declared = client.post("/api/v1/predict/batch", content=huge, headers=AUTH)
    assert declared.status_code == 413
    assert declared.json() == {"detail": "Request body too large"}

    def chunks():
        for start in range(0, len(huge), 65536):
            yield huge[start : start + 65536]

    chunked = client.post("/api/v1/predict/batch", content=chunks(), headers=AUTH)
    assert chunked.status_code == 413
    largest = {"texts": ["\u2603" * 2000] * 64}  # the largest valid body, JSON-escaped
    headers = AUTH | {"Content-Type": "application/json"}
    response = client.post("/api/v1/predict/batch", content=json.dumps(largest), headers=headers)
    assert response.status_code == 200


def test_malformed_request_id_is_422(client) -> None:
    response = client.get("/api/v1/predictions/not-a-uuid", headers=AUTH)
    assert response.status_code == 422


def test_unknown_route_and_wrong_method_are_json(client) -> None:
    missing = client.get("/api/v1/nothing-here", headers=AUTH)
    assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}
    wrong = client.get("/api/v1/predict", headers=AUTH)
    assert wrong.status_code == 405 and wrong.json() == {"detail": "Method Not Allowed"}


# -- auth -------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "payload"), API_ROUTES)
@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"X-API-Key": ""}])
def test_every_api_route_needs_a_valid_key(client, method, path, payload, headers) -> None:
    response = client.request(method, path, json=payload, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or missing API key"}
    assert response.headers["www-authenticate"] == "X-API-Key"


def test_every_configured_key_is_accepted(client) -> None:
    for key in (API_KEY, OTHER_KEY):
        response = client.get("/api/v1/predictions?limit=1", headers={"X-API-Key": key})
        assert response.status_code == 200


def test_auth_is_checked_before_the_body(client) -> None:
    response = client.post("/api/v1/predict", json={"text": ""}, headers={"X-API-Key": "no"})
    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/health", "/ready", "/metrics", "/openapi.json", "/docs"])
def test_operational_routes_are_open(client, path) -> None:
    assert client.get(path).status_code == 200


# -- signal without a champion -----------------------------------------------------------


def test_signal_without_champion_is_503(client) -> None:
    response = client.get("/api/v1/signal/latest", headers=AUTH)
    assert response.status_code == 503
    assert response.json()["detail"].startswith("No champion model loaded")


# -- health, readiness, metrics ------------------------------------------------------------


def test_health_and_ready(client, tiny_model) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready").json()
    assert ready["ready"] and ready["model_loaded"] and ready["db_connected"]
    assert ready["champion_loaded"] is False and ready["champion_version"] is None
    assert ready["model_version"].startswith(f"path:{tiny_model.name}@sha256:")
    assert ready["model_version"].endswith("@onnx-fp32")


def metric(client, name: str, **labels) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def test_metrics_count_requests_labels_and_batches(client) -> None:
    route = {"route": "/api/v1/predict", "method": "POST", "status": "200"}
    before = metric(client, "sp500_api_requests_total", **route)
    label = predict(client, "Apple beats estimates")["label"]
    labelled = metric(client, "sp500_api_predictions_total", label=label)
    predict(client, "Apple beats estimates")
    assert metric(client, "sp500_api_requests_total", **route) == before + 2
    assert metric(client, "sp500_api_predictions_total", label=label) == labelled + 1
    assert metric(client, "sp500_api_inference_batch_size_count") > 0
    assert metric(client, "sp500_api_request_latency_seconds_count", route=route["route"]) > 0
    unauthorized = {"route": "/api/v1/predictions", "method": "GET", "status": "401"}
    assert metric(client, "sp500_api_requests_total", **unauthorized) > 0
    assert metric(client, "sp500_api_requests_total", route="unmatched", status="404") > 0


# -- storage failure ---------------------------------------------------------------------


def test_failed_write_still_returns_the_prediction_with_a_warning(client, postgres_url) -> None:
    engine = sa.create_engine(postgres_url)
    failures = metric(client, "sp500_api_db_write_failures_total")
    with engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE predictions RENAME TO predictions_away"))
    try:
        first = client.post("/api/v1/predict", json={"text": "Apple beats"}, headers=AUTH)
        second = client.post("/api/v1/predict", json={"text": "Apple beats"}, headers=AUTH)
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text("ALTER TABLE predictions_away RENAME TO predictions"))
        engine.dispose()
    for response in (first, second):
        assert response.status_code == 200
        assert response.headers["X-Storage-Warning"] == "write_failed"
        assert response.json()["label"] in {"positive", "negative", "neutral"}
    assert first.json()["request_id"] != second.json()["request_id"]
    assert metric(client, "sp500_api_db_write_failures_total") == failures + 2
    gone = client.get(f"/api/v1/predictions/{first.json()['request_id']}", headers=AUTH)
    assert gone.status_code == 404
    stored = predict(client, "Apple beats")  # the service recovers on the next write
    assert client.get(f"/api/v1/predictions/{stored['request_id']}", headers=AUTH).json() == stored


def test_a_hung_database_delays_no_prediction_beyond_the_write_timeout(
    client, postgres_url
) -> None:
    """A lock that holds every write (as a stopped server would) costs a prediction at most
    the write timeout; the writes go through once the database moves again."""
    timeouts = metric(client, "sp500_api_db_write_timeouts_total")
    engine = sa.create_engine(postgres_url)
    blocker = engine.connect()
    transaction = blocker.begin()
    blocker.execute(sa.text("LOCK TABLE predictions IN ACCESS EXCLUSIVE MODE"))
    hang_s = 8.0  # the database "resumes" after this, as after the SIGSTOP
    resume = threading.Timer(hang_s, transaction.rollback)
    resume.start()
    try:
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            responses = list(
                pool.map(
                    lambda i: client.post(
                        "/api/v1/predict", json={"text": f"Fed holds {i}"}, headers=AUTH
                    ),
                    range(8),
                )
            )
        elapsed = time.perf_counter() - start
    finally:
        resume.join()
        blocker.close()
        engine.dispose()
    timeout = client.app.state.service.settings.write_timeout_s
    assert elapsed < timeout + 3.0, elapsed  # 3 s: scoring and the test client, not the lock
    for response in responses:
        assert response.status_code == 200
        assert response.headers["X-Storage-Warning"] == "write_timeout"
    assert metric(client, "sp500_api_db_write_timeouts_total") == timeouts + 8
    deadline = time.monotonic() + 30
    for response in responses:  # nothing lost: stored once the lock is gone
        path = f"/api/v1/predictions/{response.json()['request_id']}"
        while (stored := client.get(path, headers=AUTH)).status_code == 404:
            assert time.monotonic() < deadline, "a delayed write never landed"
            time.sleep(0.05)
        assert stored.json() == response.json()


def test_read_failure_is_503_json(client, postgres_url) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE predictions RENAME TO predictions_away"))
    try:
        response = client.get("/api/v1/predictions", headers=AUTH)
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text("ALTER TABLE predictions_away RENAME TO predictions"))
        engine.dispose()
    assert response.status_code == 503
    assert response.json() == {"detail": "Database unavailable"}


# -- logs ----------------------------------------------------------------------------------


def test_one_json_log_line_per_request_and_no_key(client, capsys) -> None:
    capsys.readouterr()
    body = predict(client, "Apple beats estimates")
    client.get("/api/v1/predictions?limit=1", headers={"X-API-Key": OTHER_KEY})
    client.get("/api/v1/predictions?limit=1", headers={"X-API-Key": "leaked-wrong-key"})
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line["event"] == "request"]
    assert len(requests) == 3
    first = requests[0]
    assert first["route"] == "/api/v1/predict" and first["status"] == 200
    assert first["prediction_id"] == body["request_id"]
    assert first["label"] == body["label"] and first["batch_size"] >= 1
    assert first["latency_ms"] > 0 and first["request_id"]
    assert [line["status"] for line in requests[1:]] == [200, 401]
    for secret in (API_KEY, OTHER_KEY, "leaked-wrong-key"):
        assert secret not in out


def test_request_id_header_is_echoed_or_made(client) -> None:
    given = client.get("/health", headers={"X-Request-ID": "lb-1234"})
    assert given.headers["x-request-id"] == "lb-1234"
    made = client.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert len(made.headers["x-request-id"]) == 32
