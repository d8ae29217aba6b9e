"""`python -m pipeline.replay`: dead letters from the emulator, produced again to real Kafka."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import Consumer, Message
from confluent_kafka.admin import AdminClient, NewTopic

import schemas
from pipeline import replay
from pipeline.kafka_records import KafkaRecord, received_at_of

pytestmark = pytest.mark.integration

PAYLOAD = b'{"event_type": "AppOpened", "event_id": "e-1", "app_id": "a", "timestamp": "x\xff"}'


@pytest.fixture
def dead_letter_table(bigquery_client: Any, bigquery_project: str) -> Iterator[str]:
    from google.cloud import bigquery

    dataset = f"replay_{uuid.uuid4().hex[:8]}"
    bigquery_client.create_dataset(dataset)
    table_id = f"{bigquery_project}.{dataset}.events_dead_letter"
    fields = [
        bigquery.SchemaField.from_api_repr(field)
        for field in schemas.load_table_schema("events_dead_letter")
    ]
    bigquery_client.create_table(bigquery.Table(table_id, schema=fields))
    rows = [
        _row("e-1", PAYLOAD, "2026-12-01T10:00:00Z", "2026-12-01T10:00:05Z", "invalid_json", 7),
        _row("e-2", b"{}", "2026-12-01T11:00:00Z", "2026-12-01T11:00:05Z", "missing_event_id", 8),
        _row("e-3", b"{}", "2026-11-20T10:00:00Z", "2026-11-20T10:00:05Z", "invalid_json", 9),
    ]
    errors = bigquery_client.insert_rows_json(table_id, rows)
    assert errors == []
    yield dataset
    bigquery_client.delete_dataset(dataset, delete_contents=True, not_found_ok=True)


def _row(
    event_id: str, payload: bytes, received: str, failed: str, error: str, offset: int
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "app_id": "a",
        "raw_payload": payload.decode("utf-8", "replace"),
        "raw_payload_bytes": base64.b64encode(payload).decode(),
        "error_type": error,
        "failed_step": "parse",
        "kafka_topic": "tapcart.events.raw",
        "kafka_partition": 2,
        "kafka_offset": offset,
        "received_at": received,
        "failed_at": failed,
    }


def _topic(bootstrap: str) -> str:
    name = f"test.replay.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(30)
    return name


def _consume(bootstrap: str, topic: str, count: int, settle: float = 2.0) -> list[Message]:
    """Messages until `count` arrived (30 s at most), plus any that arrive `settle` s later."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    messages: list[Message] = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.1)
            if message is not None and message.error() is None:
                messages.append(message)
            if len(messages) >= count:
                deadline = min(deadline, time.monotonic() + settle)
    finally:
        consumer.close()
    return messages


def test_replays_the_selected_dead_letters_byte_for_byte(
    dead_letter_table: str, bigquery_endpoint: str, bigquery_project: str, kafka_bootstrap: str
) -> None:
    topic = _topic(kafka_bootstrap)
    code = replay.main(
        [
            "--project", bigquery_project,
            "--dataset", dead_letter_table,
            "--since", "2026-12-01T00:00:00Z",
            "--until", "2026-12-02T00:00:00Z",
            "--error_type", "invalid_json",
            "--bootstrap_servers", kafka_bootstrap,
            "--topic", topic,
            "--bigquery_endpoint", bigquery_endpoint,
        ]
    )  # fmt: skip
    assert code == 0
    # Only e-1: e-2 has another error type, e-3 failed before --since.
    (message,) = _consume(kafka_bootstrap, topic, 1)
    assert message.value() == PAYLOAD
    assert message.key() == b"e-1"
    headers = dict(message.headers() or [])
    assert headers["replayed_from"] == b"tapcart.events.raw:2:7"
    # The pipeline reads the original receive time from the header.
    record = KafkaRecord(topic, 0, 0, message.value(), message.key(), tuple(headers.items()))
    assert received_at_of(record) == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_dry_run_counts_without_producing(
    dead_letter_table: str,
    bigquery_endpoint: str,
    bigquery_project: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = replay.main(
        [
            "--project", bigquery_project,
            "--dataset", dead_letter_table,
            "--since", "2026-11-01T00:00:00Z",
            "--until", "2026-12-02T00:00:00Z",
            "--bootstrap_servers", "127.0.0.1:1",
            "--bigquery_endpoint", bigquery_endpoint,
            "--dry_run",
        ]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "3 dead letter(s) selected" in out
    assert "dry run: nothing sent" in out
