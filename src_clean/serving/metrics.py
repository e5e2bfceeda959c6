"""Prometheus metrics (prometheus-client), in a registry of the app's own.

A registry per app (not the global one) keeps test apps and benchmark servers apart.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

__all__ = ["CONTENT_TYPE_LATEST", "ServiceMetrics"]


class ServiceMetrics:
    """Requests by route/method/status, predictions by label, latency, DB write failures,
    batch sizes, and the champion version served."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sp500_api_requests",
            "HTTP requests by route template, method and status code",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sp500_api_request_latency_seconds",
            "HTTP request latency by route template",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "sp500_api_predictions",
            "Texts scored, by label",
            ["label"],
            registry=self.registry,
        )
        self.db_write_failures = Counter(
            "sp500_api_db_write_failures",
            "Predictions returned without being stored (database write failed)",
            registry=self.registry,
        )
        self.db_write_timeouts = Counter(
            "sp500_api_db_write_timeouts",
            "Predictions returned before their write finished (database slower than the "
            "write timeout; the write goes on in the background)",
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "sp500_api_inference_batch_size",
            "Texts per forward pass of the sentiment model",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.champion_version = Gauge(
            "sp500_api_champion_version",
            "Registered model version served as the champion (0: none)",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
