"""uvicorn, set up for a public endpoint.

uvicorn bounds idle keep-alive connections, but not the time a client may
take to send its request headers or its body, nor (with httptools) the
headers' size. The protocol below adds all three: a slow client is answered
408 and disconnected, oversized headers get 431. (The body's size limit is
the app's, receiver/body.py.) Each of those answers is logged as one JSON
line, like the app's own refusals.

The limits travel in the uvicorn config (`ReceiverConfig`), which uvicorn
pickles into every worker process when RECEIVER_WORKERS is above 1.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from receiver.config import Settings
from receiver.responses import error_body

logger = logging.getLogger("receiver.server")


class HeadersTooLarge(Exception):
    pass


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_seconds: float
    body_timeout_seconds: float
    max_header_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            header_timeout_seconds=settings.header_timeout_seconds,
            body_timeout_seconds=settings.body_timeout_seconds,
            max_header_bytes=settings.max_header_bytes,
        )


class ReceiverConfig(uvicorn.Config):
    """uvicorn's settings, plus the limits GuardedHttpToolsProtocol enforces."""

    def __init__(self, app: ASGIApp | str, *, limits: ConnectionLimits, **kwargs: Any) -> None:
        self.limits = limits
        super().__init__(app, **kwargs)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """httptools with a deadline for the request headers and a limit on their size."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # server_config() always builds a ReceiverConfig; the limits come from Settings.
        assert isinstance(self.config, ReceiverConfig)
        limits = self.config.limits
        self.header_timeout_seconds = limits.header_timeout_seconds
        self.body_timeout_seconds = limits.body_timeout_seconds
        self.max_header_bytes = limits.max_header_bytes
        self._header_deadline: asyncio.TimerHandle | None = None
        self._body_deadline: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._headers_too_large = False
        # Whether any byte of a request arrived on this connection since the last answer.
        self._request_begun = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        self._disarm_body_deadline()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._request_begun = True

    def on_url(self, url: bytes) -> None:
        self._count_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header_bytes(len(name) + len(value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()
        self._body_deadline = self.loop.call_later(
            self.body_timeout_seconds, self._body_deadline_passed
        )

    def on_message_complete(self) -> None:
        self._disarm_body_deadline()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        # Pipelined requests already have their headers; only an idle
        # connection waits for the next request's headers.
        idle_after = not self.pipeline
        self._request_begun = bool(self.pipeline)
        super().on_response_complete()
        if idle_after and not self.transport.is_closing():
            self._arm_header_deadline()

    def send_400_response(self, msg: str) -> None:
        if self._headers_too_large:
            self._send_error_and_close(
                431, "headers_too_large", "the request headers are too large"
            )
        else:
            self._send_error_and_close(400, "bad_request", msg)

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.max_header_bytes:
            self._headers_too_large = True
            # httptools turns this into a parser error, answered by send_400_response.
            raise HeadersTooLarge

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self._header_deadline = self.loop.call_later(
            self.header_timeout_seconds, self._header_deadline_passed
        )

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _header_deadline_passed(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return
        self._send_error_and_close(
            408,
            "header_timeout",
            "the request headers did not arrive in time",
            # A connection that never started a request is closed without a log line.
            log=self._request_begun,
        )

    def _disarm_body_deadline(self) -> None:
        if self._body_deadline is not None:
            self._body_deadline.cancel()
            self._body_deadline = None

    def _body_deadline_passed(self) -> None:
        self._body_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()
            return
        # Closing tells the app (its receive() returns http.disconnect), which then gives up.
        self._send_error_and_close(408, "body_timeout", "the request body did not arrive in time")

    def _send_error_and_close(
        self, status: int, code: str, detail: str, *, log: bool = True
    ) -> None:
        if log:
            # Never the request line: its path or query may carry a token.
            peer = self.client[0] if self.client else ""
            logger.warning(
                "request rejected",
                extra={
                    "fields": {"status": status, "error": code, "detail": detail, "source_ip": peer}
                },
            )
        body = error_body(code, detail)
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[status],
                    b"content-type: application/json\r\n",
                    b"content-length: " + str(len(body)).encode() + b"\r\n",
                    b"connection: close\r\n\r\n",
                    body,
                ]
            )
        )
        self.transport.close()


def server_config(app: ASGIApp | str, settings: Settings, *, workers: int = 1) -> ReceiverConfig:
    """uvicorn settings shared by the receiver and its benchmark baseline.

    `app` is the ASGI app, or with several workers the import string of a factory
    that each worker calls.
    """
    return ReceiverConfig(
        app,
        limits=ConnectionLimits.from_settings(settings),
        factory=isinstance(app, str),
        workers=workers,
        host=settings.host,
        port=settings.port,
        http=GuardedHttpToolsProtocol,
        loop="uvloop",
        lifespan="on",
        # Paths and queries may carry tokens: no access log.
        access_log=False,
        # X-Forwarded-For is honoured by receiver/auth.py, from trusted proxies only.
        proxy_headers=False,
        server_header=False,
        timeout_keep_alive=settings.keep_alive_seconds,
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
        log_config=None,
        log_level=settings.log_level,
    )
