"""Rows of the `events_dead_letter` table: one per event the pipeline could not write.

Each row keeps the raw payload (as text for people, and the exact bytes for
replay), what went wrong (`error_type`, `error_message`, and for
an exception its class and stack trace), the step that failed, and where
the event came from in Kafka, so that `python -m pipeline.replay` can send
it through the pipeline again after a fix.
"""

from __future__ import annotations

import base64
import json
import traceback
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pipeline.kafka_records import KafkaRecord, received_at_of
from pipeline.timestamps import utc_text

# Long messages and traces are cut, so one bad event cannot make a huge row.
MAX_MESSAGE_CHARS = 10_000
MAX_TRACE_CHARS = 20_000


class FailedStep(StrEnum):
    PARSE = "parse"
    VALIDATE = "validate"
    FLATTEN = "flatten"
    WRITE = "write"


class ErrorType(StrEnum):
    """Error types the pipeline itself assigns (flatten's fatal kinds come from
    schemas.problems)."""

    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    ROW_REJECTED = "row_rejected"
    INSERT_FAILED = "insert_failed"
    UNEXPECTED_EXCEPTION = "unexpected_exception"


def raw_payload_columns(value: bytes | None) -> dict[str, str | None]:
    """`raw_payload` as text (invalid UTF-8 replaced); `raw_payload_bytes` exact (base64)."""
    if value is None:
        return {"raw_payload": None, "raw_payload_bytes": None}
    return {
        "raw_payload": value.decode("utf-8", "replace"),
        "raw_payload_bytes": base64.b64encode(value).decode("ascii"),
    }


def raw_payload_of(row: Mapping[str, Any]) -> bytes | None:
    """The exact raw body a dead-letter row holds (the inverse of raw_payload_columns)."""
    encoded = row.get("raw_payload_bytes")
    if encoded:
        return encoded if isinstance(encoded, bytes) else base64.b64decode(encoded)
    text = row.get("raw_payload")
    return text.encode("utf-8") if isinstance(text, str) else None


def exception_columns(error: BaseException) -> dict[str, str]:
    trace = "".join(traceback.format_exception(error))
    return {
        "exception_class": f"{type(error).__module__}.{type(error).__qualname__}",
        "stack_trace": _cut(trace, MAX_TRACE_CHARS),
    }


def from_record(
    record: KafkaRecord,
    *,
    step: FailedStep,
    error_type: str,
    message: str,
    error: BaseException | None = None,
    event_id: str | None = None,
    app_id: str | None = None,
    failed_at: datetime | None = None,
) -> dict[str, Any]:
    """The dead-letter row of a Kafka record that failed before it became a row."""
    received_at = received_at_of(record)
    row: dict[str, Any] = {
        "event_id": event_id if event_id is not None else _key_text(record.key),
        "app_id": app_id,
        **raw_payload_columns(record.value),
        "error_type": error_type,
        "error_message": _cut(message, MAX_MESSAGE_CHARS),
        "exception_class": None,
        "stack_trace": None,
        "failed_step": step.value,
        "kafka_topic": record.topic,
        "kafka_partition": record.partition,
        "kafka_offset": record.offset,
        "received_at": utc_text(received_at) if received_at is not None else None,
        "failed_at": utc_text(failed_at or datetime.now(UTC)),
    }
    if error is not None:
        row.update(exception_columns(error))
    return row


def from_failed_insert(
    row: Mapping[str, Any],
    errors: Iterable[Mapping[str, Any]],
    *,
    error_type: str = ErrorType.INSERT_FAILED,
    failed_at: datetime | None = None,
) -> dict[str, Any]:
    """The dead-letter row of an events row that BigQuery (or our own check) refused.

    The raw body is no longer at hand here; the row's `payload` column holds
    the same JSON value (not byte for byte), which is what a replay needs.
    Without it (the payload column switched off) the whole row is kept as JSON.
    """
    payload = row.get("payload")
    raw = payload if isinstance(payload, str) else json.dumps(dict(row), default=str)
    return {
        "event_id": _text_or_none(row.get("event_id")),
        "app_id": _text_or_none(row.get("app_id")),
        **raw_payload_columns(raw.encode("utf-8")),
        "error_type": str(error_type),
        "error_message": _cut(describe_insert_errors(errors), MAX_MESSAGE_CHARS),
        "exception_class": None,
        "stack_trace": None,
        "failed_step": FailedStep.WRITE.value,
        "kafka_topic": _text_or_none(row.get("kafka_topic")),
        "kafka_partition": _int_or_none(row.get("kafka_partition")),
        "kafka_offset": _int_or_none(row.get("kafka_offset")),
        "received_at": _text_or_none(row.get("received_at")),
        "failed_at": utc_text(failed_at or datetime.now(UTC)),
    }


def describe_insert_errors(errors: Iterable[Mapping[str, Any]]) -> str:
    """insertAll errors ({reason, location, message}) as one line."""
    parts = []
    for error in errors:
        reason = error.get("reason") or "error"
        location = error.get("location")
        message = error.get("message") or ""
        parts.append(f"{reason}{f' at {location}' if location else ''}: {message}".strip())
    return "; ".join(parts) or "the row was not inserted"


def _key_text(key: bytes | None) -> str | None:
    if not key:
        return None
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 20] + f"... [{len(text) - limit + 20} more]"
