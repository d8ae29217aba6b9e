"""`python -m receiver` against the real Kafka broker.

The shared broker holds other tests' records too, so every test posts events
with ids of its own and reads back only those. Tests that stop a broker use
a private one from `kafka_broker_factory`.
"""

from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from confluent_kafka import Consumer, Message

from infra.local.kafka import KafkaBroker
from infra.local.settings import RAW_TOPIC, REJECTED_TOPIC

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TOKEN = "integration-token-5d1c"
RECEIVED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class ReceiverProcess:
    """The receiver as users run it: a `python -m receiver` child process."""

    def __init__(self, port: int, bootstrap: str, spool_dir: Path, log_file: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RECEIVER_")},
            "RECEIVER_PORT": str(port),
            "RECEIVER_TOKENS": TOKEN,
            "RECEIVER_SPOOL_DIR": str(spool_dir),
            "RECEIVER_DELIVERY_TIMEOUT_SECONDS": "2",
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        }
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "receiver"], cwd=REPO, env=self.env, stderr=log
            )
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, f"receiver exited:\n{self.log_tail()}"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"receiver did not start:\n{self.log_tail()}"
            time.sleep(0.1)

    def stop(self) -> int:
        """SIGTERM, as a container runtime would send; the exit code."""
        if self.process is None:
            return 0
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        self.process = None
        return code

    def log_records(self) -> list[dict[str, object]]:
        return [
            orjson.loads(line)
            for line in self.log_file.read_bytes().splitlines()
            if line.startswith(b"{")
        ]

    def post(self, body: bytes) -> httpx.Response:
        return httpx.post(
            f"{self.url}/tapcart_webhooks",
            content=body,
            headers={"authorization": f"Bearer {TOKEN}", "user-agent": "Tapcart-Webhooks/2.1"},
            timeout=30,
        )

    def spool_depth(self) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        match = re.search(r"^receiver_spool_depth (\S+)$", text, re.MULTILINE)
        assert match, text
        return float(match.group(1))

    def log_tail(self) -> str:
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-30:])


@pytest.fixture
def start_receiver(
    tmp_path: Path, free_port: Callable[[], int]
) -> Iterator[Callable[..., ReceiverProcess]]:
    started: list[ReceiverProcess] = []

    def start(bootstrap: str, spool_dir: Path | None = None) -> ReceiverProcess:
        receiver = ReceiverProcess(
            free_port(), bootstrap, spool_dir or tmp_path / "spool", tmp_path / "receiver.log"
        )
        receiver.start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


def event_body(event_id: str) -> bytes:
    # Odd spacing and a non-ASCII character: the record must keep the exact bytes.
    return (
        f'{{"event_type":"AppOpened",  "event_id": "{event_id}", "app_id": "app-int",'
        f' "metadata": {{"schema_id": "Event_AppOpened_5_0_0"}}, "note": "gr\u00fc\u00df"}}'
    ).encode()


def read_keys(
    bootstrap: str, topic: str, keys: collections.Counter[bytes], *, settle: float = 0.0
) -> list[Message]:
    """This test's records (by key) until `keys` are all seen, then `settle` s for extras."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"receiver-test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    found: list[Message] = []
    deadline = time.monotonic() + 90
    settled_at: float | None = None
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None:
                assert message.error() is None, message.error()
                if message.key() in keys:
                    found.append(message)
            complete = collections.Counter(m.key() for m in found) >= keys
            if complete and settled_at is None:
                settled_at = time.monotonic()
            if settled_at is not None and time.monotonic() - settled_at >= settle:
                break
    finally:
        consumer.close()
    return found


def headers_of(message: Message) -> dict[str, str]:
    return {name: value.decode() for name, value in message.headers() or []}


def test_posted_event_arrives_byte_for_byte_with_its_headers(
    kafka_bootstrap: str, start_receiver: Callable[..., ReceiverProcess]
) -> None:
    receiver = start_receiver(kafka_bootstrap)
    event_id = f"int-raw-{uuid.uuid4().hex}"
    body = event_body(event_id)
    response = receiver.post(body)
    assert response.status_code == 200, response.text
    [message] = read_keys(kafka_bootstrap, RAW_TOPIC, collections.Counter([event_id.encode()]))
    assert message.value() == body
    assert message.key() == event_id.encode()
    headers = headers_of(message)
    assert list(headers) == ["received_at", "request_id", "source_ip", "user_agent", "envelope"]
    assert RECEIVED_AT.match(headers["received_at"])
    assert headers["request_id"] == response.json()["request_id"]
    assert headers["source_ip"] == "127.0.0.1"
    assert headers["user_agent"] == "Tapcart-Webhooks/2.1"
    assert headers["envelope"] == "insights"


def test_422_and_400_bodies_arrive_on_the_rejected_topic(
    kafka_bootstrap: str, start_receiver: Callable[..., ReceiverProcess]
) -> None:
    receiver = start_receiver(kafka_bootstrap)
    event_id = f"int-rejected-{uuid.uuid4().hex}"
    missing_app = f'{{"event_type": "AppOpened", "event_id": "{event_id}"}}'.encode()
    unprocessable = receiver.post(missing_app)
    assert unprocessable.status_code == 422
    not_json = b"{event_id: unquoted}"
    invalid = receiver.post(not_json)
    assert invalid.status_code == 400
    invalid_key = invalid.headers["x-request-id"].encode()

    messages = read_keys(
        kafka_bootstrap, REJECTED_TOPIC, collections.Counter([event_id.encode(), invalid_key])
    )
    by_key = {message.key(): message for message in messages}
    rejected = by_key[event_id.encode()]
    assert rejected.value() == missing_app
    headers = headers_of(rejected)
    assert headers["reject_reason"] == "missing_fields"
    assert headers["reject_detail"] == unprocessable.json()["detail"]
    assert headers["envelope"] == "insights"
    assert RECEIVED_AT.match(headers["received_at"])

    garbled = by_key[invalid_key]
    assert garbled.value() == not_json
    assert headers_of(garbled)["reject_reason"] == "invalid_json"
    assert headers_of(garbled)["request_id"] == invalid_key.decode()


def post_all(receiver: ReceiverProcess, event_ids: list[str]) -> None:
    for event_id in event_ids:
        response = receiver.post(event_body(event_id))
        assert response.status_code == 200, response.text


def test_broker_outage_is_bridged_by_the_spool_without_loss_or_duplicates(
    kafka_broker_factory: Callable[..., KafkaBroker],
    start_receiver: Callable[..., ReceiverProcess],
) -> None:
    broker = kafka_broker_factory()
    receiver = start_receiver(broker.bootstrap)
    prefix = f"int-outage-{uuid.uuid4().hex[:8]}"
    before = [f"{prefix}-before-{n}" for n in range(5)]
    during = [f"{prefix}-during-{n}" for n in range(30)]
    # Tapcart retries: some events arrive twice, and must be on the topic twice.
    posted = before + during + during[:5]
    post_all(receiver, before)

    broker.stop()
    post_all(receiver, during + during[:5])
    assert receiver.spool_depth() == len(during) + 5
    ready = httpx.get(f"{receiver.url}/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json()["broker"] == "unreachable"

    broker.start()
    expected = collections.Counter(event_id.encode() for event_id in posted)
    messages = read_keys(broker.bootstrap, RAW_TOPIC, expected, settle=5.0)
    assert collections.Counter(message.key() for message in messages) == expected
    assert all(message.value() == event_body(message.key().decode()) for message in messages)
    assert receiver.spool_depth() == 0


def test_spooled_events_survive_a_receiver_restart(
    kafka_broker_factory: Callable[..., KafkaBroker],
    start_receiver: Callable[..., ReceiverProcess],
    tmp_path: Path,
) -> None:
    broker = kafka_broker_factory()
    spool_dir = tmp_path / "restart-spool"
    first = start_receiver(broker.bootstrap, spool_dir)
    broker.stop()
    event_ids = [f"int-restart-{uuid.uuid4().hex[:8]}-{n}" for n in range(10)]
    post_all(first, event_ids)
    assert first.spool_depth() == len(event_ids)
    # uvicorn shuts down gracefully, then re-raises SIGTERM to exit with it.
    assert first.stop() == -signal.SIGTERM
    stopped = [record for record in first.log_records() if record["message"] == "receiver stopped"]
    assert stopped[-1]["spooled_records"] == len(event_ids)

    broker.start()
    second = start_receiver(broker.bootstrap, spool_dir)
    expected = collections.Counter(event_id.encode() for event_id in event_ids)
    messages = read_keys(broker.bootstrap, RAW_TOPIC, expected, settle=3.0)
    assert collections.Counter(message.key() for message in messages) == expected
    assert second.spool_depth() == 0
