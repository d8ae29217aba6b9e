"""The Starlette app, composed in one place: `create_app(settings)`.

The Kafka producer, the spool and its drainer are created in the lifespan
and reach the handlers through the app state; shutdown stops the drainer,
flushes the producer and closes the spool, in that order.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.auth import SourcePolicy, TokenChecker
from receiver.config import Settings
from receiver.delivery import Deliverer, SpoolDrainer
from receiver.dispatch import WebhookDispatch
from receiver.logs import configure_logging
from receiver.memory import settle_for_serving
from receiver.metrics import ReceiverMetrics, RequestMetricsMiddleware
from receiver.publish import REPORT_GRACE_SECONDS, KafkaPublisher, Publisher
from receiver.responses import error_response, json_response
from receiver.spool import Spool
from receiver.webhook import WebhookEndpoint, WebhookParts, receive_event

logger = logging.getLogger("receiver")

OPENAPI_PATH = Path(__file__).with_name("openapi.json")
DOCUMENTED_WEBHOOK_PATH = "/tapcart_webhooks"

HTTP_ERROR_CODES = {404: "not_found", 405: "method_not_allowed"}


def create_app(settings: Settings, *, publisher: Publisher | None = None) -> Starlette:
    """The receiver; `publisher` replaces the Kafka producer (unit tests only)."""
    settings.validate()
    metrics = ReceiverMetrics()
    openapi = openapi_document(settings.path)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        if settings.allow_unauthenticated:
            logger.warning("RECEIVER_ALLOW_UNAUTHENTICATED is on: anyone may post events")
        spool = Spool(
            settings.spool_dir, max_bytes=settings.spool_max_bytes, slots=settings.workers
        )
        await spool.open()
        spool.observe(metrics.spool_changed)
        if spool.slot == 0:
            for directory, records in (await spool.stranded_records()).items():
                logger.warning(
                    "a spool slot beyond RECEIVER_WORKERS holds records; raise RECEIVER_WORKERS "
                    "until it is drained",
                    extra={"fields": {"spool": str(directory), "spooled_records": records}},
                )
        active = publisher or KafkaPublisher.from_settings(settings)
        await active.start()
        drainer = SpoolDrainer(active, spool)
        drainer.start()
        parts = WebhookParts(
            settings=settings,
            tokens=TokenChecker(
                settings.tokens, allow_unauthenticated=settings.allow_unauthenticated
            ),
            sources=SourcePolicy(settings.allowed_sources, settings.trusted_proxies),
            deliverer=Deliverer(active, spool, metrics),
            metrics=metrics,
        )
        logger.info(
            "receiver ready",
            extra={
                "fields": {
                    "path": settings.path,
                    "spool": str(spool.path.parent),
                    "spooled_records": spool.depth,
                }
            },
        )
        try:
            yield {"webhook": parts, "publisher": active, "spool": spool}
        finally:
            await drainer.stop(settings.delivery_timeout_seconds + REPORT_GRACE_SECONDS)
            await active.close()
            await spool.close()
            logger.info("receiver stopped", extra={"fields": {"spooled_records": spool.depth}})

    async def healthz(request: Request) -> Response:
        return json_response(200, {"status": "ok"})

    async def readyz(request: Request) -> Response:
        active: Publisher = request.state.publisher
        spool: Spool = request.state.spool
        broker = await active.is_reachable()
        # Writable means it can take at least one more event of the largest size.
        spool_writable = spool.has_room(settings.max_body_bytes)
        state = {
            "broker": "reachable" if broker else "unreachable",
            "spool": "writable" if spool_writable else "full",
        }
        if broker or spool_writable:
            return json_response(200, {"status": "ready", **state})
        return error_response(503, "not_ready", "the broker is unreachable and the spool is full")

    async def metrics_text(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def openapi_json(request: Request) -> Response:
        return Response(openapi, media_type="application/json")

    webhook = Route(settings.path, WebhookEndpoint(), methods=["POST"])
    webhook_with_token = Route(settings.path + "/{token}", WebhookEndpoint(), methods=["POST"])
    return Starlette(
        routes=[
            webhook,
            webhook_with_token,
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_text, methods=["GET"]),
            Route("/openapi.json", openapi_json, methods=["GET"]),
        ],
        middleware=[
            Middleware(
                WebhookDispatch,
                base=webhook,
                with_token=webhook_with_token,
                endpoint=receive_event,
                metrics=metrics,
            ),
            Middleware(RequestMetricsMiddleware, metrics=metrics),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
        lifespan=lifespan,
    )


def create_app_from_env() -> Starlette:
    """The app of one worker process (RECEIVER_WORKERS > 1): uvicorn calls this in each."""
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    app = create_app(settings)
    settle_for_serving()
    return app


def openapi_document(path: str = DOCUMENTED_WEBHOOK_PATH) -> bytes:
    """The kept OpenAPI document, with the webhook route moved to `path` if configured so."""
    raw = OPENAPI_PATH.read_bytes()
    if path == DOCUMENTED_WEBHOOK_PATH:
        return raw
    document = orjson.loads(raw)
    document["paths"] = {
        key.replace(DOCUMENTED_WEBHOOK_PATH, path, 1): value
        for key, value in document["paths"].items()
    }
    return orjson.dumps(document)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_ERROR_CODES.get(exc.status_code, "http_error")
    # Not the path: it may carry a token.
    peer = request.client.host if request.client else ""
    logger.warning(
        "request rejected",
        extra={
            "fields": {
                "status": exc.status_code,
                "error": code,
                "method": request.method,
                "source_ip": peer,
            }
        },
    )
    return error_response(exc.status_code, code, str(exc.detail), exc.headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Starlette re-raises the exception after this answer; uvicorn logs it with its traceback.
    return error_response(500, "internal", "the receiver failed; the event was not stored")
