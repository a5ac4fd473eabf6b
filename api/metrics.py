"""Prometheus metrics: requests by route template, ingest counters, index size.

Each app gets its own registry, so several apps in one process (tests) never
clash over metric names.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "lore_http_requests", "HTTP requests by method, route template and status.",
            ["method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "lore_http_request_duration_seconds", "Time to the end of the response, by route template.",
            ["method", "route"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.ingest_jobs = Counter(
            "lore_ingest_jobs", "Upload jobs finished, by outcome.", ["status"], registry=self.registry
        )
        self.ingest_documents = Counter(
            "lore_ingest_documents", "Uploaded files ingested, by outcome.", ["outcome"], registry=self.registry
        )
        self.ingest_chunks = Counter("lore_ingest_chunks", "Chunks written by upload jobs.", registry=self.registry)
        self.index_vectors = Gauge("lore_index_vectors", "Vectors in the FAISS index.", registry=self.registry)
        self.documents = Gauge("lore_documents", "Documents in the metadata store.", registry=self.registry)

    def track_index(self, vectors: Callable[[], float], documents: Callable[[], float]) -> None:
        """Read the index size at scrape time rather than keeping a copy up to date."""
        self.index_vectors.set_function(vectors)
        self.documents.set_function(documents)

    def record_job(self, status: str, report: dict | None) -> None:
        self.ingest_jobs.labels(status=status).inc()
        if report:
            for outcome in ("added", "updated", "unchanged"):
                self.ingest_documents.labels(outcome=outcome).inc(report[outcome])
            self.ingest_documents.labels(outcome="failed").inc(len(report["failed"]))
            self.ingest_chunks.inc(report["chunks"])


class MetricsMiddleware:
    """Counts and times every HTTP request under its route template (``/v1/documents/{document_id}``)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            # Unmatched paths share one label so that scanners cannot blow up the series count.
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(method=method, route=template, status=str(status)).inc()
            self.metrics.latency.labels(method=method, route=template).observe(time.perf_counter() - started)
