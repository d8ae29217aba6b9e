"""The route Tapcart posts to: authenticate, limit, check, make durable, answer.

Order of checks: token (401), source address (403), body size (413), JSON
object (400), event fields (422), merchant app (403). A body from an
authenticated sender that fails a check is published to the rejected topic
before the answer, so nothing a genuine sender posted is lost.

This is the hot path, so it is a plain ASGI endpoint, called straight from
receiver/dispatch.py: it reads the headers it needs in one pass, answers
with two ASGI messages, without building Request and Response objects, and
returns the status it answered for the dispatch's metrics.
"""

from __future__ import annotations

import itertools
import logging
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qsl

import orjson
from starlette.types import Receive, Scope, Send

from receiver.auth import SourcePolicy, TokenChecker, presented_token
from receiver.body import BodyTooLarge, ClientGone, read_body
from receiver.checks import RejectedBody, check_event
from receiver.config import Settings
from receiver.delivery import Deliverer, Unavailable
from receiver.metrics import ReceiverMetrics
from receiver.publish import QueueFull
from receiver.records import OutboundRecord, RequestFacts, raw_record, rejected_record, utc_now_text
from receiver.responses import error_body

logger = logging.getLogger("receiver.webhook")

# Request ids: random per process, then counted; unique without a syscall each.
_REQUEST_ID_PREFIX = secrets.token_hex(6)
_request_numbers = itertools.count(1)


@dataclass(frozen=True)
class WebhookParts:
    """What the endpoint needs; built in the lifespan, handed over in the app state."""

    settings: Settings
    tokens: TokenChecker
    sources: SourcePolicy
    deliverer: Deliverer
    metrics: ReceiverMetrics


@dataclass(slots=True)
class _RequestHeaders:
    authorization: str | None = None
    forwarded_for: str | None = None
    user_agent: str = ""
    app_id: str | None = None
    content_length: bytes | None = None


class WebhookEndpoint:
    """The ASGI app behind the webhook routes, for what the dispatch leaves to the router."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive_event(scope, receive, send)


async def receive_event(scope: Scope, receive: Receive, send: Send) -> int:
    """Answer one webhook request; returns the status answered (for the metrics)."""
    parts: WebhookParts = scope["state"]["webhook"]
    settings = parts.settings
    request_id = f"{_REQUEST_ID_PREFIX}{next(_request_numbers):010x}"
    received_at = utc_now_text()
    headers = _read_headers(scope)
    client = scope.get("client")
    peer = client[0] if client else None

    token = presented_token(scope.get("path_params", {}), _query(scope), headers.authorization)
    if not parts.tokens.accepts(token):
        return await _refuse(
            send, request_id, peer or "", 401, "unauthorized", "missing or wrong token"
        )
    source_ip = parts.sources.source_address(peer, headers.forwarded_for)
    if not parts.sources.allows(source_ip):
        detail = "this address may not post events"
        return await _refuse(send, request_id, source_ip, 403, "source_not_allowed", detail)

    try:
        body = await read_body(
            receive, max_bytes=settings.max_body_bytes, declared_length=headers.content_length
        )
    except BodyTooLarge as exc:
        return await _refuse(send, request_id, source_ip, 413, "body_too_large", str(exc))
    except ClientGone:
        detail = "the client left before the body arrived"
        return await _refuse(send, request_id, source_ip, 400, "client_disconnected", detail)
    parts.metrics.body_bytes.inc(len(body))

    facts = RequestFacts(
        request_id=request_id,
        received_at=received_at,
        source_ip=source_ip,
        user_agent=headers.user_agent,
    )
    try:
        event = check_event(body, headers.app_id)
        if settings.allowed_app_ids and event.app_id not in settings.allowed_app_ids:
            raise RejectedBody(
                403,
                "app_not_allowed",
                f"app_id {event.app_id!r} is not on this receiver's allow-list",
                envelope=event.envelope,
                event_id=event.event_id,
            )
    except RejectedBody as rejected:
        record = rejected_record(
            settings.rejected_topic,
            body,
            reason=rejected.code,
            detail=rejected.detail,
            event_id=rejected.event_id,
            envelope=rejected.envelope,
            facts=facts,
        )
        failed = await _store(parts, record, send, request_id)
        if failed is not None:
            return failed
        return await _refuse(
            send, request_id, source_ip, rejected.status, rejected.code, rejected.detail
        )

    record = raw_record(
        settings.raw_topic, body, event_id=event.event_id, envelope=event.envelope, facts=facts
    )
    failed = await _store(parts, record, send, request_id)
    if failed is not None:
        return failed
    answer = {"status": "accepted", "event_id": event.event_id, "request_id": request_id}
    return await _answer(send, 200, orjson.dumps(answer), request_id)


async def _store(
    parts: WebhookParts, record: OutboundRecord, send: Send, request_id: str
) -> int | None:
    """None once the record is durable; otherwise answers 429 or 503 and returns that status."""
    try:
        await parts.deliverer.deliver(record)
    except QueueFull as exc:
        logger.warning("back-pressure", extra={"fields": {"request_id": request_id}})
        body = error_body("queue_full", str(exc))
        return await _answer(send, 429, body, request_id, [_retry_after(parts)])
    except Unavailable as exc:
        body = error_body("unavailable", f"the event could not be stored: {exc}")
        return await _answer(send, 503, body, request_id, [_retry_after(parts)])
    return None


def _retry_after(parts: WebhookParts) -> tuple[bytes, bytes]:
    return (b"retry-after", str(parts.settings.retry_after_seconds).encode())


async def _refuse(
    send: Send, request_id: str, source_ip: str, status: int, code: str, detail: str
) -> int:
    logger.warning(
        "request rejected",
        extra={
            "fields": {
                "request_id": request_id,
                "status": status,
                "error": code,
                "detail": detail,
                "source_ip": source_ip,
            }
        },
    )
    return await _answer(send, status, error_body(code, detail), request_id)


async def _answer(
    send: Send,
    status: int,
    body: bytes,
    request_id: str,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> int:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
    ]
    if extra_headers:
        headers.extend(extra_headers)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return status


def _read_headers(scope: Scope) -> _RequestHeaders:
    found = _RequestHeaders()
    forwarded: list[str] = []
    for name, value in scope["headers"]:
        if name == b"authorization":
            if found.authorization is None:
                found.authorization = value.decode("latin-1")
        elif name == b"x-forwarded-for":
            forwarded.append(value.decode("latin-1"))
        elif name == b"user-agent":
            if not found.user_agent:
                found.user_agent = value.decode("utf-8", "replace")
        elif name == b"appid":
            if found.app_id is None:
                found.app_id = value.decode("utf-8", "replace").strip() or None
        elif name == b"content-length" and found.content_length is None:
            found.content_length = value
    if forwarded:
        # Several X-Forwarded-For headers form one list, in order (RFC 9110, 5.3).
        found.forwarded_for = ", ".join(forwarded)
    return found


def _query(scope: Scope) -> dict[str, str]:
    query: bytes = scope.get("query_string", b"")
    if b"token=" not in query:
        return {}
    return dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
