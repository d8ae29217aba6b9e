"""The webhook route through Starlette's TestClient, one behaviour per test.

A fake publisher stands in for the Kafka producer here (the integration
tests use the real broker); the spool is the real SQLite spool in tmp_path.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.datastructures import Secret
from starlette.testclient import TestClient

from receiver.app import create_app
from receiver.config import Settings
from receiver.publish import PublishFailed, QueueFull
from receiver.records import OutboundRecord

TOKEN = "unit-test-token-7f3a"
AUTH = {"authorization": f"Bearer {TOKEN}"}
INSIGHTS = (
    b'{"event_type": "AppOpened", "event_id": "evt-1",  "app_id": "app-9",\n'
    b' "timestamp": 1663008666001, "note": "caf\xc3\xa9"}'
)
CLICKSTREAM = b'{"event": "pageView", "mp_metadata": {"mp_event_id": "mp-1"}, "data": {}}'
RECEIVED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
REQUEST_HEADER_NAMES = ["received_at", "request_id", "source_ip", "user_agent", "envelope"]


class FakePublisher:
    """Records what would go to Kafka; `failure` makes every publish raise it."""

    def __init__(self) -> None:
        self.records: list[OutboundRecord] = []
        self.failure: Exception | None = None
        self.reachable = True
        self.closed = False

    async def start(self) -> None:
        pass

    async def publish(self, record: OutboundRecord) -> None:
        if self.failure is not None:
            raise self.failure
        self.records.append(record)

    async def is_reachable(self) -> bool:
        return self.reachable

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
def make_client(tmp_path: Path, publisher: FakePublisher) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(peer: str = "testclient", **overrides: Any) -> TestClient:
        options: dict[str, Any] = {
            "tokens": (Secret(TOKEN),),
            "spool_dir": tmp_path / "spool",
            "delivery_timeout_seconds": 0.5,
            **overrides,
        }
        settings = Settings(**options)
        client = TestClient(create_app(settings, publisher=publisher), client=(peer, 50000))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def headers_of(record: OutboundRecord) -> dict[str, str]:
    return {name: value.decode() for name, value in record.headers}


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == code
    assert body["detail"]


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


# 200


def test_event_is_published_byte_for_byte_with_its_headers(
    client: TestClient, publisher: FakePublisher
) -> None:
    response = client.post(
        "/tapcart_webhooks", content=INSIGHTS, headers={**AUTH, "user-agent": "Tapcart/1.0"}
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["status"] == "accepted"
    assert answer["event_id"] == "evt-1"
    assert response.headers["x-request-id"] == answer["request_id"]
    [record] = publisher.records
    assert record.topic == "tapcart.events.raw"
    assert record.value == INSIGHTS
    assert record.key == b"evt-1"
    headers = headers_of(record)
    assert list(headers) == REQUEST_HEADER_NAMES
    assert RECEIVED_AT.match(headers["received_at"])
    assert headers["request_id"] == answer["request_id"]
    assert headers["source_ip"] == "testclient"
    assert headers["user_agent"] == "Tapcart/1.0"
    assert headers["envelope"] == "insights"


def test_clickstream_event_takes_its_app_id_from_the_appid_header(
    client: TestClient, publisher: FakePublisher
) -> None:
    response = client.post(
        "/tapcart_webhooks", content=CLICKSTREAM, headers={**AUTH, "appid": "a1"}
    )
    assert response.status_code == 200
    [record] = publisher.records
    assert record.key == b"mp-1"
    assert headers_of(record)["envelope"] == "clickstream"


def test_no_content_type_is_required(client: TestClient) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        response = client.post(
            "/tapcart_webhooks", content=INSIGHTS, headers={**AUTH, "content-type": content_type}
        )
        assert response.status_code == 200


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        (f"/tapcart_webhooks/{TOKEN}", {}),
        (f"/tapcart_webhooks?token={TOKEN}", {}),
        ("/tapcart_webhooks", AUTH),
    ],
)
def test_token_in_path_query_or_bearer_header(
    client: TestClient, path: str, headers: dict[str, str]
) -> None:
    assert client.post(path, content=INSIGHTS, headers=headers).status_code == 200


def test_a_second_token_works_during_rotation(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(tokens=(Secret("old-token"), Secret(TOKEN)))
    assert client.post("/tapcart_webhooks/old-token", content=INSIGHTS).status_code == 200
    assert client.post(f"/tapcart_webhooks/{TOKEN}", content=INSIGHTS).status_code == 200


def test_configured_path(make_client: Callable[..., TestClient]) -> None:
    client = make_client(path="/hooks/tapcart")
    assert client.post("/hooks/tapcart", content=INSIGHTS, headers=AUTH).status_code == 200
    assert_error(client.post("/tapcart_webhooks", content=INSIGHTS, headers=AUTH), 404, "not_found")


# 401


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/tapcart_webhooks", {}),
        ("/tapcart_webhooks", {"authorization": "Bearer wrong"}),
        ("/tapcart_webhooks", {"authorization": f"Basic {TOKEN}"}),
        ("/tapcart_webhooks/wrong", {}),
        ("/tapcart_webhooks?token=wrong", {}),
    ],
)
def test_missing_or_wrong_token_is_401_and_nothing_is_published(
    client: TestClient, publisher: FakePublisher, path: str, headers: dict[str, str]
) -> None:
    assert_error(client.post(path, content=INSIGHTS, headers=headers), 401, "unauthorized")
    assert publisher.records == []


def test_open_access_when_the_development_flag_is_set(
    make_client: Callable[..., TestClient], publisher: FakePublisher
) -> None:
    client = make_client(tokens=(), allow_unauthenticated=True)
    assert client.post("/tapcart_webhooks", content=INSIGHTS).status_code == 200
    assert len(publisher.records) == 1


# 400


def test_invalid_json_is_400_and_goes_to_the_rejected_topic(
    client: TestClient, publisher: FakePublisher
) -> None:
    # The seed document's own example: unquoted values and a repeated key.
    body = b'{"event_id": abc, "event_type": AppOpened, "event_id": "x"}'
    response = client.post("/tapcart_webhooks", content=body, headers=AUTH)
    assert_error(response, 400, "invalid_json")
    [record] = publisher.records
    assert record.topic == "tapcart.events.rejected"
    assert record.value == body
    headers = headers_of(record)
    assert list(headers) == [*REQUEST_HEADER_NAMES, "reject_reason", "reject_detail"]
    assert headers["reject_reason"] == "invalid_json"
    assert headers["reject_detail"] == response.json()["detail"]
    assert headers["envelope"] == ""
    # No event id in an unparseable body: the request id is the key.
    assert record.key == response.headers["x-request-id"].encode()
    assert headers["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize("body", [b"", b"   ", b"\xff\xfe", b"[1, 2]", b'"text"', b"42", b"null"])
def test_not_json_or_not_an_object_is_400(
    client: TestClient, publisher: FakePublisher, body: bytes
) -> None:
    response = client.post("/tapcart_webhooks", content=body, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"] in {"invalid_json", "not_an_object"}
    [record] = publisher.records
    assert record.topic == "tapcart.events.rejected"
    assert record.value == body
    assert headers_of(record)["reject_reason"] == response.json()["error"]


def test_a_json_array_is_not_an_object(client: TestClient) -> None:
    assert_error(
        client.post("/tapcart_webhooks", content=b"[]", headers=AUTH), 400, "not_an_object"
    )


# 403


def test_source_outside_the_allow_list_is_403(
    make_client: Callable[..., TestClient], publisher: FakePublisher
) -> None:
    client = make_client(
        peer="203.0.113.5", allowed_sources=(ipaddress.ip_network("198.51.100.0/24"),)
    )
    response = client.post("/tapcart_webhooks", content=INSIGHTS, headers=AUTH)
    assert_error(response, 403, "source_not_allowed")
    assert publisher.records == []


def test_source_behind_a_trusted_proxy_is_checked_and_recorded(
    make_client: Callable[..., TestClient], publisher: FakePublisher
) -> None:
    client = make_client(
        peer="10.0.0.2",
        allowed_sources=(ipaddress.ip_network("198.51.100.0/24"),),
        trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),),
    )
    allowed = {**AUTH, "x-forwarded-for": "198.51.100.7"}
    assert client.post("/tapcart_webhooks", content=INSIGHTS, headers=allowed).status_code == 200
    assert headers_of(publisher.records[0])["source_ip"] == "198.51.100.7"
    refused = {**AUTH, "x-forwarded-for": "198.51.100.7, 203.0.113.5"}
    assert_error(
        client.post("/tapcart_webhooks", content=INSIGHTS, headers=refused),
        403,
        "source_not_allowed",
    )


def test_app_outside_the_allow_list_is_403_and_goes_to_the_rejected_topic(
    make_client: Callable[..., TestClient], publisher: FakePublisher
) -> None:
    client = make_client(allowed_app_ids=frozenset({"another-app"}))
    response = client.post("/tapcart_webhooks", content=INSIGHTS, headers=AUTH)
    assert_error(response, 403, "app_not_allowed")
    [record] = publisher.records
    assert record.topic == "tapcart.events.rejected"
    assert record.key == b"evt-1"
    assert headers_of(record)["reject_reason"] == "app_not_allowed"


def test_app_on_the_allow_list_is_accepted(make_client: Callable[..., TestClient]) -> None:
    client = make_client(allowed_app_ids=frozenset({"app-9"}))
    assert client.post("/tapcart_webhooks", content=INSIGHTS, headers=AUTH).status_code == 200


# 413


def test_body_over_the_limit_is_413_and_not_published(
    make_client: Callable[..., TestClient], publisher: FakePublisher
) -> None:
    client = make_client(max_body_bytes=len(INSIGHTS) - 1)
    assert_error(
        client.post("/tapcart_webhooks", content=INSIGHTS, headers=AUTH), 413, "body_too_large"
    )
    assert publisher.records == []


def test_chunked_body_over_the_limit_is_413(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=100)

    def chunks() -> Iterator[bytes]:
        yield b'{"event_id": "e", "pad": "'
        yield b"x" * 200
        yield b'"}'

    response = client.post("/tapcart_webhooks", content=chunks(), headers=AUTH)
    assert_error(response, 413, "body_too_large")


def test_body_at_the_limit_is_accepted(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=len(INSIGHTS))
    assert client.post("/tapcart_webhooks", content=INSIGHTS, headers=AUTH).status_code == 200


# 422


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        (b'{"event_type": "AppOpened", "app_id": "a"}', "event_id"),
        (b'{"event_id": "e", "app_id": "a"}', "event_name"),
        (b'{"event_id": "e", "event_type": "AppOpened", "app_id": ""}', "app_id"),
        (b'{"event": "pageView", "mp_metadata": {}}', "event_id"),
        (b"{}", "event_id, event_name, app_id"),
    ],
)
def test_object_without_the_event_fields_is_422_and_goes_to_the_rejected_topic(
    client: TestClient, publisher: FakePublisher, body: bytes, missing: str
) -> None:
    response = client.post("/tapcart_webhooks", content=body, headers=AUTH)
    assert_error(response, 422, "missing_fields")
    assert missing in response.json()["detail"]
    [record] = publisher.records
    assert record.topic == "tapcart.events.rejected"
    assert record.value == body
    assert headers_of(record)["reject_reason"] == "missing_fields"


def test_rejected_record_is_keyed_by_the_event_id_when_there_is_one(
    client: TestClient, publisher: FakePublisher
) -> None:
    body = b'{"event_id": "evt-no-app", "event_type": "AppOpened"}'
    assert client.post("/tapcart_webhooks", content=body, headers=AUTH).status_code == 422
    [record] = publisher.records
    assert record.key == b"evt-no-app"
    assert headers_of(record)["envelope"] == "insights"


# 429


def test_full_producer_queue_is_429_with_retry_after(
    client: TestClient, publisher: FakePublisher
) -> None:
    publisher.failure = QueueFull("the producer's local queue is full")
    response = client.post("/tapcart_webhooks", content=INSIGHTS, headers=AUTH)
    assert_error(response, 429, "queue_full")
    assert response.headers["retry-after"] == "1"


# the spool, and 503


def test_broker_failure_is_answered_200_from_the_spool_then_forwarded(
    client: TestClient, publisher: FakePublisher
) -> None:
    publisher.failure = PublishFailed("broker down")
    response = client.post("/tapcart_webhooks", content=INSIGHTS, headers=AUTH)
    assert response.status_code == 200
    assert publisher.records == []
    assert "receiver_spool_depth 1.0" in client.get("/metrics").text
    publisher.failure = None
    wait_for(lambda: len(publisher.records) == 1)
    [record] = publisher.records
    assert record.value == INSIGHTS
    assert record.key == b"evt-1"
    assert headers_of(record)["request_id"] == response.json()["request_id"]
    wait_for(lambda: "receiver_spool_depth 0.0" in client.get("/metrics").text)


def test_while_the_spool_holds_events_new_ones_queue_behind_them(
    client: TestClient, publisher: FakePublisher
) -> None:
    publisher.failure = PublishFailed("broker down")
    bodies = [INSIGHTS.replace(b"evt-1", f"evt-{n}".encode()) for n in range(5)]
    for body in bodies:
        assert client.post("/tapcart_webhooks", content=body, headers=AUTH).status_code == 200
    publisher.failure = None
    wait_for(lambda: len(publisher.records) == 5)
    assert [record.value for record in publisher.records] == bodies


def test_spooled_events_survive_a_restart(
    make_client: Callable[..., TestClient], publisher: FakePublisher
) -> None:
    publisher.failure = PublishFailed("broker down")
    first = make_client()
    assert first.post("/tapcart_webhooks", content=INSIGHTS, headers=AUTH).status_code == 200
    first.__exit__(None, None, None)
    assert publisher.closed
    publisher.failure = None
    make_client()
    wait_for(lambda: len(publisher.records) == 1)
    assert publisher.records[0].value == INSIGHTS


def test_with_the_spool_full_events_still_go_straight_to_a_recovered_broker(
    make_client: Callable[..., TestClient], publisher: FakePublisher
) -> None:
    client = make_client(spool_max_bytes=len(INSIGHTS) + 10)
    publisher.failure = PublishFailed("broker down")
    assert client.post("/tapcart_webhooks", content=INSIGHTS, headers=AUTH).status_code == 200
    publisher.failure = None
    second = INSIGHTS.replace(b"evt-1", b"evt-2")
    assert client.post("/tapcart_webhooks", content=second, headers=AUTH).status_code == 200
    wait_for(lambda: len(publisher.records) == 2)
    assert {record.key for record in publisher.records} == {b"evt-1", b"evt-2"}


def test_broker_down_and_spool_full_is_503(
    make_client: Callable[..., TestClient], publisher: FakePublisher
) -> None:
    client = make_client(spool_max_bytes=10)
    publisher.failure = PublishFailed("broker down")
    response = client.post("/tapcart_webhooks", content=INSIGHTS, headers=AUTH)
    assert_error(response, 503, "unavailable")
    assert response.headers["retry-after"] == "1"


def test_rejected_body_that_cannot_be_stored_is_503(
    make_client: Callable[..., TestClient], publisher: FakePublisher
) -> None:
    client = make_client(spool_max_bytes=2)
    publisher.failure = PublishFailed("broker down")
    assert_error(client.post("/tapcart_webhooks", content=b"{", headers=AUTH), 503, "unavailable")


# probes, metrics, errors


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_when_the_broker_is_reachable(client: TestClient) -> None:
    assert client.get("/readyz").json() == {
        "status": "ready",
        "broker": "reachable",
        "spool": "writable",
    }


def test_readyz_with_the_broker_down_but_the_spool_writable(
    client: TestClient, publisher: FakePublisher
) -> None:
    publisher.reachable = False
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["broker"] == "unreachable"


def test_readyz_is_503_with_the_broker_down_and_the_spool_full(
    make_client: Callable[..., TestClient], publisher: FakePublisher
) -> None:
    client = make_client(max_body_bytes=1000, spool_max_bytes=1100)
    publisher.reachable = False
    assert client.get("/readyz").status_code == 200
    publisher.failure = PublishFailed("broker down")
    # Spooled: fewer than max_body_bytes of room are left for the next event.
    assert client.post("/tapcart_webhooks", content=INSIGHTS, headers=AUTH).status_code == 200
    assert_error(client.get("/readyz"), 503, "not_ready")


def test_metrics_count_requests_by_route_template_and_status(client: TestClient) -> None:
    client.post(f"/tapcart_webhooks/{TOKEN}", content=INSIGHTS)
    client.post("/tapcart_webhooks/wrong-token", content=INSIGHTS)
    client.get("/no/such/path")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'receiver_requests_total{route="/tapcart_webhooks/{token}",status="200"} 1.0' in text
    assert 'receiver_requests_total{route="/tapcart_webhooks/{token}",status="401"} 1.0' in text
    assert 'receiver_requests_total{route="unmatched",status="404"} 1.0' in text
    assert 'receiver_records_stored_total{store="kafka",topic="tapcart.events.raw"} 1.0' in text
    assert f"receiver_body_bytes_total {float(len(INSIGHTS))}" in text
    assert "receiver_request_duration_seconds_bucket" in text
    assert "receiver_delivery_duration_seconds_count 1.0" in text
    assert TOKEN not in text
    assert "wrong-token" not in text


def test_tokens_never_reach_the_logs(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client.post(f"/tapcart_webhooks/{TOKEN}", content=b"not json")
    client.post(f"/tapcart_webhooks?token={TOKEN}", content=b"{}")
    client.post("/tapcart_webhooks/wrong-token-abc", content=INSIGHTS)
    client.post("/tapcart_webhooks", content=INSIGHTS, headers={"authorization": "Bearer bad-xyz"})
    logged = "\n".join(
        f"{record.getMessage()} {getattr(record, 'fields', '')}"
        for record in caplog.records
        if not record.name.startswith("httpx")  # the test client's own log
    )
    assert "request rejected" in logged
    for secret in (TOKEN, "wrong-token-abc", "bad-xyz"):
        assert secret not in logged


def test_unknown_path_is_json_404(client: TestClient) -> None:
    assert_error(client.get("/admin"), 404, "not_found")


def test_404_and_405_are_logged_without_the_path(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="receiver")
    client.post(f"/tapcart_webhooks/{TOKEN}/extra", content=INSIGHTS)
    client.get(f"/tapcart_webhooks?token={TOKEN}")
    logged = [
        record.fields  # type: ignore[attr-defined]
        for record in caplog.records
        if record.name == "receiver" and record.getMessage() == "request rejected"
    ]
    assert [(fields["status"], fields["error"]) for fields in logged] == [
        (404, "not_found"),
        (405, "method_not_allowed"),
    ]
    assert TOKEN not in caplog.text + repr(logged)


def test_wrong_method_is_json_405(client: TestClient) -> None:
    response = client.get("/tapcart_webhooks")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


def test_shutdown_closes_the_producer(
    make_client: Callable[..., TestClient], publisher: FakePublisher
) -> None:
    client = make_client()
    client.__exit__(None, None, None)
    assert publisher.closed


def test_accepted_answer_is_json(client: TestClient) -> None:
    response = client.post("/tapcart_webhooks", content=INSIGHTS, headers=AUTH)
    assert orjson.loads(response.content)["status"] == "accepted"
