# Beam's public API is largely unannotated; calls into it are not type errors.
# mypy: untyped-calls-exclude=apache_beam
"""Parse and validate: raw Kafka records to JSON objects, failures to dead letters.

`parse_record` is the plain function (tested without Beam); `ParseEventsFn`
and `ParseAndValidateEvents` are its Beam adapters, with the failures on a
tagged output.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
import orjson
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import DoOutputsTuple, PCollection

from pipeline import counters
from pipeline.dead_letters import ErrorType, FailedStep, from_record
from pipeline.kafka_records import KafkaRecord, received_at_of
from schemas.envelope import json_kind

DEAD_LETTERS = "dead_letters"


@dataclass(frozen=True)
class ParsedEvent:
    """A record whose body is a JSON object, with when it was received."""

    record: KafkaRecord
    payload: dict[str, Any]
    received_at: datetime


def parse_record(record: KafkaRecord, now: datetime | None = None) -> ParsedEvent | dict[str, Any]:
    """The parsed event, or the dead-letter row saying why there is none."""
    received_at = received_at_of(record) or now or datetime.now(UTC)
    body = record.value if record.value is not None else b""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        return from_record(
            record,
            step=FailedStep.PARSE,
            error_type=ErrorType.INVALID_JSON,
            message=f"the body is not JSON: {error}",
            error=error,
        )
    if not isinstance(payload, dict):
        return from_record(
            record,
            step=FailedStep.VALIDATE,
            error_type=ErrorType.NOT_AN_OBJECT,
            message=f"the body is JSON {json_kind(payload)}, not an object",
        )
    return ParsedEvent(record=record, payload=payload, received_at=received_at)


class ParseEventsFn(beam.DoFn):
    """KafkaRecord -> ParsedEvent; failures on the DEAD_LETTERS output."""

    def __init__(self) -> None:
        self._parsed = Metrics.counter(counters.NAMESPACE, counters.PARSED)

    def process(self, record: KafkaRecord) -> Iterator[Any]:
        try:
            result = parse_record(record)
        except Exception as error:
            # A bug here must not lose the event: it becomes a dead letter.
            yield beam.pvalue.TaggedOutput(
                DEAD_LETTERS,
                from_record(
                    record,
                    step=FailedStep.PARSE,
                    error_type=ErrorType.UNEXPECTED_EXCEPTION,
                    message=f"{type(error).__name__}: {error}",
                    error=error,
                ),
            )
            return
        if isinstance(result, ParsedEvent):
            self._parsed.inc()
            yield result
        else:
            yield beam.pvalue.TaggedOutput(DEAD_LETTERS, result)


class ParseAndValidateEvents(beam.PTransform[PCollection[Any], DoOutputsTuple]):
    """Records to parsed events (main output) and dead letters (`DEAD_LETTERS`)."""

    def expand(self, records: PCollection[Any]) -> DoOutputsTuple:
        outputs: DoOutputsTuple = records | "ParseJson" >> beam.ParDo(ParseEventsFn()).with_outputs(
            DEAD_LETTERS, main="events"
        )
        return outputs
