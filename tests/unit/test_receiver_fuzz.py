"""Property-based fuzzing of the webhook: malformed bodies, headers, paths, raw HTTP.

Whatever arrives, the receiver answers with a status it documents and a JSON
error body that matches the OpenAPI `Error` schema, and never with a 5xx.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import orjson
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.datastructures import Secret
from starlette.testclient import TestClient

from receiver.app import OPENAPI_PATH, create_app
from receiver.config import Settings
from receiver.records import OutboundRecord
from receiver.server import server_config

TOKEN = "fuzz-token"
MAX_BODY = 2048
ERROR_SCHEMA = orjson.loads(OPENAPI_PATH.read_bytes())["components"]["schemas"]["Error"]
FUZZ = settings(
    max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


class KeepingPublisher:
    def __init__(self) -> None:
        self.last: OutboundRecord | None = None

    async def start(self) -> None:
        pass

    async def publish(self, record: OutboundRecord) -> None:
        self.last = record

    async def is_reachable(self) -> bool:
        return True

    async def close(self) -> None:
        pass


def receiver_settings(spool_dir: Path, **overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "tokens": (Secret(TOKEN),),
        "spool_dir": spool_dir,
        "max_body_bytes": MAX_BODY,
        **overrides,
    }
    return Settings(**options)


def check_answer(status: int, content: bytes, allowed: set[int]) -> None:
    assert status < 500, (status, content)
    assert status in allowed, (status, content)
    if status != 200:
        jsonschema.validate(orjson.loads(content), ERROR_SCHEMA)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
identifiers = st.one_of(json_values, st.text(max_size=30), st.just(""), st.just("  "))
event_like = st.fixed_dictionaries(
    {},
    optional={
        "event_id": identifiers,
        "event_type": identifiers,
        "app_id": identifiers,
        "event": identifiers,
        "mp_metadata": st.dictionaries(
            st.sampled_from(["mp_event_id", "app_id", "mp_session_id"]), identifiers, max_size=3
        )
        | json_values,
        "event_properties": st.dictionaries(st.just("event_id"), identifiers) | json_values,
        "app_properties": st.dictionaries(st.just("app_id"), identifiers) | json_values,
        "data": json_values,
        "padding": st.text(max_size=3000),
    },
)


@st.composite
def truncated(draw: st.DrawFn, documents: st.SearchStrategy[bytes]) -> bytes:
    document = draw(documents)
    return document[: draw(st.integers(0, max(0, len(document) - 1)))]


@st.composite
def flipped(draw: st.DrawFn, documents: st.SearchStrategy[bytes]) -> bytes:
    document = bytearray(draw(documents))
    if document:
        index = draw(st.integers(0, len(document) - 1))
        document[index] = draw(st.integers(0, 255))
    return bytes(document)


def dumps(value: object) -> bytes:
    # The standard library writes what orjson refuses (huge integers, Infinity).
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


event_documents = event_like.map(dumps)
bodies = st.one_of(
    st.binary(max_size=3000),
    event_documents,
    json_values.map(dumps),
    truncated(event_documents),
    flipped(event_documents),
    st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
)


@pytest.fixture
def fuzz_client(tmp_path: Path) -> Iterator[tuple[TestClient, KeepingPublisher]]:
    publisher = KeepingPublisher()
    app = create_app(receiver_settings(tmp_path), publisher=publisher)
    with TestClient(app, raise_server_exceptions=True) as client:
        yield client, publisher


def test_malformed_bodies(fuzz_client: tuple[TestClient, KeepingPublisher]) -> None:
    client, publisher = fuzz_client

    @FUZZ
    @given(body=bodies)
    def post_body(body: bytes) -> None:
        publisher.last = None
        response = client.post(f"/tapcart_webhooks/{TOKEN}", content=body)
        check_answer(response.status_code, response.content, {200, 400, 413, 422})
        if response.status_code in {200, 400, 422}:
            assert publisher.last is not None
            assert publisher.last.value == body

    post_body()


header_names = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_!#$%&'*+.^`|~", min_size=1, max_size=24
).filter(lambda name: name not in {"content-length", "transfer-encoding", "host"})
header_values = st.binary(max_size=80).map(
    lambda raw: bytes(b for b in raw if b == 0x09 or 0x20 <= b <= 0x7E or b >= 0x80).strip()
)
special_headers = st.fixed_dictionaries(
    {},
    optional={
        "authorization": st.one_of(
            header_values, st.just(f"Bearer {TOKEN}".encode()), st.just(b"Bearer")
        ),
        "appid": header_values,
        "x-forwarded-for": header_values,
        "user-agent": header_values,
        "content-type": header_values,
        "content-encoding": header_values,
        "expect": st.just(b"100-continue") | header_values,
    },
)


def test_malformed_headers(fuzz_client: tuple[TestClient, KeepingPublisher]) -> None:
    client, _ = fuzz_client
    body = b'{"event_type": "AppOpened", "event_id": "e", "app_id": "a"}'

    @FUZZ
    @given(
        special=special_headers,
        others=st.dictionaries(header_names, header_values, max_size=6),
        body=st.one_of(st.just(body), bodies),
    )
    def post_with(special: dict[str, bytes], others: dict[str, bytes], body: bytes) -> None:
        headers = {name.encode(): value for name, value in {**others, **special}.items()}
        response = client.post("/tapcart_webhooks", content=body, headers=headers)
        check_answer(response.status_code, response.content, {200, 400, 401, 413, 422})

    post_with()


path_text = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x2FF, exclude_characters="#?"),
    max_size=40,
)


def test_malformed_paths_queries_and_methods(
    fuzz_client: tuple[TestClient, KeepingPublisher],
) -> None:
    client, _ = fuzz_client

    @FUZZ
    @given(
        method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
        prefix=st.sampled_from(["/tapcart_webhooks", "/tapcart_webhooks/", "/", "/metrics", ""]),
        path=path_text,
        query=st.one_of(
            st.just(""),
            st.just(f"token={TOKEN}"),
            st.text(max_size=30).map(lambda text: quote(text, safe="=&%")),
        ),
        raw_percent=st.booleans(),
    )
    def request(method: str, prefix: str, path: str, query: str, raw_percent: bool) -> None:
        suffix = path.replace("%", "%25") if not raw_percent else path
        url = quote(prefix + suffix, safe="/%=&;:@!$'()*+,") or "/"
        if not url.startswith("/"):
            url = "/" + url
        if query:
            url += "?" + query
        response = client.request(method, url, content=b'{"event_id": "e"}')
        allowed = {200, 400, 401, 404, 405, 422}
        assert response.status_code < 500, (url, response.status_code)
        assert response.status_code in allowed, (url, response.status_code)
        if response.status_code >= 400 and method != "HEAD":
            jsonschema.validate(orjson.loads(response.content), ERROR_SCHEMA)

    request()


@pytest.fixture
def raw_server(tmp_path: Path) -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    config = receiver_settings(
        tmp_path,
        port=port,
        header_timeout_seconds=0.3,
        body_timeout_seconds=0.3,
        log_level="critical",
    )
    server = uvicorn.Server(server_config(create_app(config, publisher=KeepingPublisher()), config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield port
    server.should_exit = True
    thread.join(timeout=10)


raw_tokens = st.binary(min_size=0, max_size=12)


def mostly(
    usual: st.SearchStrategy[bytes], odd: st.SearchStrategy[bytes]
) -> st.SearchStrategy[bytes]:
    # Three in four draws are well-formed, so that requests get past the first line.
    return st.one_of(usual, usual, usual, odd)


raw_requests = st.builds(
    lambda method, target, version, headers, body: b"".join(
        [method, b" ", target, b" ", version, b"\r\n", *headers, b"\r\n", body]
    ),
    method=mostly(st.sampled_from([b"POST", b"GET", b"PUT", b"BREW"]), raw_tokens),
    target=mostly(
        st.sampled_from(
            [
                b"/tapcart_webhooks/" + TOKEN.encode(),
                b"/tapcart_webhooks?token=" + TOKEN.encode(),
                b"/healthz",
                b"*",
                b"/%zz",
                b"/tapcart_webhooks/%ff%00",
            ]
        ),
        raw_tokens,
    ),
    version=mostly(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0"]), raw_tokens),
    headers=st.lists(
        mostly(
            st.sampled_from(
                [
                    b"host: x\r\n",
                    b"content-length: 2\r\n",
                    b"content-length: 5\r\n",
                    b"content-length: -1\r\n",
                    b"content-length: 99999999999999999999\r\n",
                    b"transfer-encoding: chunked\r\n",
                    b"connection: close\r\n",
                    b"expect: 100-continue\r\n",
                    b"authorization: Bearer " + TOKEN.encode() + b"\r\n",
                    b"x-forwarded-for: \xff\xfe, ::1\r\n",
                    b"user-agent: \xc3\x28\r\n",
                ]
            ),
            raw_tokens.map(lambda raw: raw + b"\r\n"),
        ),
        max_size=6,
    ),
    body=st.sampled_from(
        [b"", b"{}", b"5\r\nhello\r\n0\r\n\r\n", b'{"event_id":', b'{"event_id":"e","event":"x"}']
    )
    | raw_tokens,
)


def test_malformed_raw_http(raw_server: int) -> None:
    seen: set[int] = set()

    @settings(max_examples=500, deadline=None, database=None)
    @given(request=raw_requests)
    def send(request: bytes) -> None:
        with socket.create_connection(("127.0.0.1", raw_server), timeout=5) as connection:
            connection.sendall(request)
            connection.shutdown(socket.SHUT_WR)
            response = b""
            try:
                while chunk := connection.recv(65536):
                    response += chunk
            except ConnectionResetError:
                pass
        # Every answer on the connection (pipelining may give several) is below 500.
        for line in response.split(b"\r\n"):
            if line.startswith(b"HTTP/1.1 "):
                status = int(line.split(b" ")[1])
                seen.add(status)
                assert status < 500, (request, response)

    send()
    # Not only the HTTP parser answered: requests reached the app's routes too.
    assert seen - {400}
