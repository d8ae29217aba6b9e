"""uvicorn with the receiver's protocol: header deadline and size limit, JSON errors.

The server runs in a thread on a free local port; the Kafka producer is a
fake (the integration tests run `python -m receiver` against the broker).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from starlette.datastructures import Secret

from receiver.app import create_app
from receiver.config import Settings
from receiver.logs import configure_logging
from receiver.records import OutboundRecord
from receiver.server import server_config

TOKEN = "server-test-token"
EVENT = b'{"event_type": "AppOpened", "event_id": "e-1", "app_id": "a"}'


class AcceptingPublisher:
    def __init__(self, ack_seconds: float = 0.0) -> None:
        self.records: list[OutboundRecord] = []
        self.ack_seconds = ack_seconds

    async def start(self) -> None:
        pass

    async def publish(self, record: OutboundRecord) -> None:
        await asyncio.sleep(self.ack_seconds)
        self.records.append(record)

    async def is_reachable(self) -> bool:
        return True

    async def close(self) -> None:
        pass


@pytest.fixture
def serve(tmp_path: Path, free_port: Callable[[], int]) -> Iterator[Callable[..., int]]:
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(ack_seconds: float = 0.0, **overrides: Any) -> int:
        options: dict[str, Any] = {
            "port": free_port(),
            "tokens": (Secret(TOKEN),),
            "spool_dir": tmp_path / f"spool-{len(servers)}",
            "header_timeout_seconds": 0.5,
            "body_timeout_seconds": 0.5,
            "log_level": "warning",
            **overrides,
        }
        settings = Settings(**options)
        server = uvicorn.Server(
            server_config(create_app(settings, publisher=AcceptingPublisher(ack_seconds)), settings)
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        servers.append((server, thread))
        return settings.port

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


def exchange(port: int, data: bytes, *, wait: float = 5.0) -> bytes:
    """Send raw bytes and read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as connection:
        connection.sendall(data)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


def status_and_json(response: bytes) -> tuple[int, Any]:
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), orjson.loads(body)


def post(body: bytes, *, close: bool = True) -> bytes:
    return (
        b"POST /tapcart_webhooks/"
        + TOKEN.encode()
        + b" HTTP/1.1\r\nhost: x\r\n"
        + (b"connection: close\r\n" if close else b"")
        + b"content-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def test_a_post_through_uvicorn_is_accepted(serve: Callable[..., int]) -> None:
    status, body = status_and_json(exchange(serve(), post(EVENT)))
    assert status == 200
    assert body["event_id"] == "e-1"


def test_headers_that_never_finish_get_408_and_the_connection_closes(
    serve: Callable[..., int],
) -> None:
    port = serve()
    began = time.monotonic()
    response = exchange(port, b"POST /tapcart_webhooks HTTP/1.1\r\nhost: x\r\nx-slow: ")
    assert time.monotonic() - began < 3
    assert status_and_json(response) == (
        408,
        {"error": "header_timeout", "detail": "the request headers did not arrive in time"},
    )


def test_a_connection_that_sends_nothing_is_closed(serve: Callable[..., int]) -> None:
    port = serve()
    began = time.monotonic()
    response = exchange(port, b"")
    assert time.monotonic() - began < 3
    assert status_and_json(response)[0] == 408


def test_oversized_headers_get_431(serve: Callable[..., int]) -> None:
    port = serve(max_header_bytes=1024)
    request = b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 2000 + b"\r\n\r\n"
    status, body = status_and_json(exchange(port, request))
    assert (status, body["error"]) == (431, "headers_too_large")


def test_headers_within_the_limit_pass(serve: Callable[..., int]) -> None:
    port = serve(max_header_bytes=1024)
    request = b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-ok: " + b"a" * 500
    assert status_and_json(exchange(port, request + b"\r\n\r\n"))[0] == 200


def test_a_malformed_request_gets_a_json_400(serve: Callable[..., int]) -> None:
    status, body = status_and_json(exchange(serve(), b"NOT HTTP AT ALL\r\n\r\n"))
    assert (status, body["error"]) == (400, "bad_request")


def test_a_body_that_stalls_gets_408(serve: Callable[..., int]) -> None:
    request = post(EVENT)[:-10]  # the last ten bytes never come
    status, body = status_and_json(exchange(serve(), request))
    assert (status, body["error"]) == (408, "body_timeout")


def test_a_slow_broker_ack_is_not_a_slow_client(serve: Callable[..., int]) -> None:
    # The body deadline covers the upload only, not the wait for the broker.
    status, body = status_and_json(exchange(serve(ack_seconds=1.0), post(EVENT)))
    assert (status, body["event_id"]) == (200, "e-1")


def test_keep_alive_and_pipelined_requests_still_work(serve: Callable[..., int]) -> None:
    port = serve()
    # Two requests in one write, the second closing the connection.
    response = exchange(port, post(EVENT, close=False) + post(EVENT))
    assert response.count(b"HTTP/1.1 200 OK") == 2


def test_an_idle_keep_alive_connection_is_closed(serve: Callable[..., int]) -> None:
    port = serve(keep_alive_seconds=1, header_timeout_seconds=5)
    began = time.monotonic()
    response = exchange(port, post(EVENT, close=False))
    assert response.count(b"HTTP/1.1 200 OK") == 1
    assert time.monotonic() - began < 4


def rejections(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        record.fields  # type: ignore[attr-defined]
        for record in caplog.records
        if record.name == "receiver.server" and record.getMessage() == "request rejected"
    ]


def test_each_refusal_of_the_protocol_is_one_log_line_without_the_path(
    serve: Callable[..., int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="receiver.server")
    port = serve(max_header_bytes=1024)
    exchange(port, b"POST /tapcart_webhooks/" + TOKEN.encode() + b" HTTP/1.1\r\nx-slow: ")
    big = b"GET /healthz?token=" + TOKEN.encode() + b" HTTP/1.1\r\nx: " + b"a" * 2000
    exchange(port, big + b"\r\n\r\n")
    exchange(port, b"NOT HTTP AT ALL\r\n\r\n")
    logged = rejections(caplog)
    assert [(fields["status"], fields["error"]) for fields in logged] == [
        (408, "header_timeout"),
        (431, "headers_too_large"),
        (400, "bad_request"),
    ]
    assert all(fields["source_ip"] == "127.0.0.1" for fields in logged)
    assert TOKEN not in caplog.text + repr(logged)


def test_a_connection_that_never_starts_a_request_is_not_logged(
    serve: Callable[..., int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="receiver.server")
    assert status_and_json(exchange(serve(), b""))[0] == 408
    assert rejections(caplog) == []


def test_json_logging_keeps_the_access_log_off() -> None:
    # uvicorn writes an access line (path and query: tokens) whenever this logger has a handler.
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging("info")
    try:
        assert not logging.getLogger("uvicorn.access").hasHandlers()
        assert logging.getLogger("uvicorn.error").hasHandlers()
    finally:
        root.handlers[:], root.level = saved
