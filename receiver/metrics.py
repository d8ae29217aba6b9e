"""Prometheus metrics, in a registry of their own per app.

Routes are labelled by their template (`/tapcart_webhooks/{token}`), never by
the requested path, so a token in the path never reaches a label.

With several uvicorn workers (RECEIVER_WORKERS), a scrape reaches one worker
at random, so every worker writes its values to files in
PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode, set up by
receiver/workers.py) and `/metrics` answers with the sum over all workers.
"""

from __future__ import annotations

import os
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ReceiverMetrics:
    def __init__(self) -> None:
        # Read when the metrics are created, as prometheus_client does at import.
        self.multiprocess_dir = os.environ.get(MULTIPROCESS_DIR_VARIABLE) or None
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "receiver_requests",
            "HTTP requests answered, by route template and status code.",
            ["route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "receiver_request_duration_seconds",
            "Time from the request's start to its answer, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.delivery_seconds = Histogram(
            "receiver_delivery_duration_seconds",
            "Time from producing a record to the broker's acknowledgement.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.stored = Counter(
            "receiver_records_stored",
            "Records made durable, by topic and by where (kafka or spool).",
            ["topic", "store"],
            registry=self.registry,
        )
        self.body_bytes = Counter(
            "receiver_body_bytes",
            "Request body bytes read.",
            registry=self.registry,
        )
        self.spool_depth = Gauge(
            "receiver_spool_depth",
            "Records waiting in the spool for the broker.",
            registry=self.registry,
            # Summed over the live workers; ignored without multiprocess mode.
            multiprocess_mode="livesum",
        )
        self.spool_bytes = Gauge(
            "receiver_spool_bytes",
            "Bytes waiting in the spool for the broker.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        # labels() looks children up by string; caching them keeps the hot path cheap.
        self._request_children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}
        self._stored_children: dict[tuple[str, str], Counter] = {}

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        children = self._request_children.get((route, status))
        if children is None:
            children = (
                self.requests.labels(route=route, status=str(status)),
                self.request_seconds.labels(route=route),
            )
            self._request_children[(route, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def count_stored(self, topic: str, store: str) -> None:
        """One record made durable in `store` ("kafka" or "spool")."""
        child = self._stored_children.get((topic, store))
        if child is None:
            child = self.stored.labels(topic=topic, store=store)
            self._stored_children[(topic, store)] = child
        child.inc()

    def spool_changed(self, depth: int, size_bytes: int) -> None:
        """The spool's observer (receiver/spool.py)."""
        self.spool_depth.set(depth)
        self.spool_bytes.set(size_bytes)

    def render(self) -> bytes:
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(merged)


class RequestMetricsMiddleware:
    """Counts and times every HTTP request, including 404s and errors.

    Except the webhook's own POSTs: receiver/dispatch.py answers those before
    they get here, and records their metrics itself.
    """

    def __init__(self, app: ASGIApp, metrics: ReceiverMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(label, status, time.perf_counter() - started)
