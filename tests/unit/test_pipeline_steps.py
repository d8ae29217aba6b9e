"""The pipeline's steps on raw sample records: parse, validate, flatten, drop duplicates.

Raw input lives in SAMPLE_DATA (Kafka records as the receiver writes them)
and goes through the real DoFns in a TestPipeline on the FnApiRunner (named
directly: the default DirectRunner would first try to download Prism).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

import schemas
from pipeline.counters import DUPLICATES_DROPPED, FLATTENED, PARSED, counter_totals
from pipeline.dedupe import DropDuplicateEvents
from pipeline.flatten_events import FlattenEvents, flatten_event
from pipeline.kafka_records import KafkaRecord
from pipeline.parse import DEAD_LETTERS, ParseAndValidateEvents, ParsedEvent, parse_record
from schemas.row_check import validate_row

TOPIC = "tapcart.events.raw"
RECEIVED_AT = "2026-11-30T12:00:00.250000Z"
DEAD_LETTER_SCHEMA = schemas.load_table_schema("events_dead_letter")
EVENTS_SCHEMA = schemas.load_table_schema("events")


def record(offset: int, value: bytes, key: str | None = None, **headers: str) -> KafkaRecord:
    all_headers = {"received_at": RECEIVED_AT, "request_id": f"req-{offset}", **headers}
    return KafkaRecord(
        topic=TOPIC,
        partition=offset % 3,
        offset=offset,
        value=value,
        key=key.encode() if key else None,
        headers=tuple((k, v.encode()) for k, v in all_headers.items()),
        timestamp_ms=1_796_000_000_000,
    )


def insights(event_id: str, event_type: str = "ProductViewed", **extra: Any) -> bytes:
    body = {
        "event_type": event_type,
        "event_id": event_id,
        "app_id": "app-42",
        "timestamp": 1764504000000,
        "event_properties": {"product_id": "p-1", "product_price": "79.99"},
        **extra,
    }
    return json.dumps(body).encode()


SAMPLE_DATA = [
    record(0, insights("evt-1"), "evt-1"),
    record(1, insights("evt-2", "AddedToCart"), "evt-2"),
    # A Tapcart retry: the same event again.
    record(2, insights("evt-1"), "evt-1"),
    record(3, b'{"event_type": "AppOpened", event_id: broken}', "evt-3"),
    record(4, b"[1, 2, 3]"),
    record(5, json.dumps({"event_type": "AppOpened", "app_id": "app-42"}).encode()),
    record(6, b"\xff\xfe not utf-8"),
]


def test_parse_record_returns_the_object_and_when_it_was_received() -> None:
    parsed = parse_record(SAMPLE_DATA[0])
    assert isinstance(parsed, ParsedEvent)
    assert parsed.payload["event_id"] == "evt-1"
    assert parsed.received_at == datetime(2026, 11, 30, 12, 0, 0, 250000, tzinfo=UTC)


def test_received_at_falls_back_to_the_broker_timestamp() -> None:
    bare = KafkaRecord(TOPIC, 0, 9, insights("evt-9"), timestamp_ms=1_796_000_000_123)
    parsed = parse_record(bare)
    assert isinstance(parsed, ParsedEvent)
    assert parsed.received_at == datetime.fromtimestamp(1_796_000_000.123, tz=UTC)


def test_invalid_json_is_a_parse_dead_letter_with_its_raw_body() -> None:
    dead = parse_record(SAMPLE_DATA[3])
    assert isinstance(dead, dict)
    assert dead["failed_step"] == "parse"
    assert dead["error_type"] == "invalid_json"
    assert dead["raw_payload"] == '{"event_type": "AppOpened", event_id: broken}'
    assert base64.b64decode(dead["raw_payload_bytes"]) == SAMPLE_DATA[3].value
    assert dead["exception_class"].endswith("JSONDecodeError")
    assert "Traceback" in dead["stack_trace"]
    assert (dead["kafka_topic"], dead["kafka_partition"], dead["kafka_offset"]) == (TOPIC, 0, 3)
    assert dead["event_id"] == "evt-3"
    assert dead["received_at"] == RECEIVED_AT
    assert validate_row(dead, DEAD_LETTER_SCHEMA) == []


def test_a_body_that_is_not_an_object_fails_validation() -> None:
    dead = parse_record(SAMPLE_DATA[4])
    assert isinstance(dead, dict)
    assert (dead["failed_step"], dead["error_type"]) == ("validate", "not_an_object")
    assert "array" in dead["error_message"]
    assert validate_row(dead, DEAD_LETTER_SCHEMA) == []


def test_bytes_that_are_not_utf8_keep_their_exact_bytes() -> None:
    dead = parse_record(SAMPLE_DATA[6])
    assert isinstance(dead, dict)
    assert dead["failed_step"] == "parse"
    assert dead["raw_payload"] == "\ufffd\ufffd not utf-8"
    assert dead["raw_payload_bytes"] == "//4gbm90IHV0Zi04"  # base64 of the exact body
    assert validate_row(dead, DEAD_LETTER_SCHEMA) == []


def test_flatten_event_fills_the_kafka_columns_and_keys_by_event_id() -> None:
    parsed = parse_record(SAMPLE_DATA[1])
    assert isinstance(parsed, ParsedEvent)
    keyed = flatten_event(parsed)
    assert isinstance(keyed, tuple)
    event_id, row = keyed
    assert event_id == "evt-2"
    assert (row["kafka_topic"], row["kafka_partition"], row["kafka_offset"]) == (TOPIC, 1, 1)
    assert row["event_name"] == "AddedToCart"
    assert row["event_time"] == "2025-11-30T12:00:00.000000Z"
    assert row["received_at"] == RECEIVED_AT
    # inserted_at is stamped just before the write.
    assert validate_row({**row, "inserted_at": RECEIVED_AT}, EVENTS_SCHEMA) == []


def test_an_event_without_an_id_is_a_flatten_dead_letter() -> None:
    parsed = parse_record(SAMPLE_DATA[5])
    assert isinstance(parsed, ParsedEvent)
    dead = flatten_event(parsed)
    assert isinstance(dead, dict)
    assert (dead["failed_step"], dead["error_type"]) == ("flatten", "missing_event_id")
    assert dead["app_id"] == "app-42"
    assert json.loads(dead["raw_payload"]) == {"event_type": "AppOpened", "app_id": "app-42"}
    assert validate_row(dead, DEAD_LETTER_SCHEMA) == []


def test_the_switch_leaves_the_payload_column_empty() -> None:
    parsed = parse_record(SAMPLE_DATA[0])
    assert isinstance(parsed, ParsedEvent)
    with_payload = flatten_event(parsed)
    without = flatten_event(parsed, keep_payload=False)
    assert isinstance(with_payload, tuple) and isinstance(without, tuple)
    assert json.loads(str(with_payload[1]["payload"]))["event_id"] == "evt-1"
    assert without[1]["payload"] is None


def test_sample_records_become_unique_rows_and_dead_letters() -> None:
    p = test_pipeline.TestPipeline(runner="FnApiRunner", argv=[])
    records = p | beam.Create(SAMPLE_DATA)
    parsed = records | ParseAndValidateEvents()
    flattened = parsed.events | FlattenEvents()
    rows = flattened.rows | DropDuplicateEvents(bounded=True) | beam.Values()
    dead = (parsed[DEAD_LETTERS], flattened[DEAD_LETTERS]) | beam.Flatten()

    assert_that(
        rows | "Ids" >> beam.Map(lambda row: (row["event_id"], row["event_name"])),
        equal_to([("evt-1", "ProductViewed"), ("evt-2", "AddedToCart")]),
        label="rows",
    )
    assert_that(
        dead | "Where" >> beam.Map(lambda d: (d["kafka_offset"], d["failed_step"])),
        equal_to([(3, "parse"), (4, "validate"), (5, "flatten"), (6, "parse")]),
        label="dead_letters",
    )
    result = p.run()
    result.wait_until_finish()
    totals = counter_totals(result)
    assert (totals[PARSED], totals[FLATTENED], totals[DUPLICATES_DROPPED]) == (4, 3, 1)
