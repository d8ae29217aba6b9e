# Beam's public API is largely unannotated; calls into it are not type errors.
# mypy: untyped-calls-exclude=apache_beam
"""Flatten parsed events into `events` rows with the catalog's `flatten`.

The pipeline fills the columns flatten leaves to it (`kafka_*`; `inserted_at`
is stamped just before the write). A row with a fatal problem becomes a dead
letter (failed_step `flatten`, error_type the first fatal problem's kind).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import DoOutputsTuple, PCollection

from pipeline import counters
from pipeline.dead_letters import ErrorType, FailedStep, from_record
from pipeline.flatten import Problem, flatten
from pipeline.parse import DEAD_LETTERS, ParsedEvent

EventRow = tuple[str, dict[str, Any]]


def flatten_event(event: ParsedEvent, keep_payload: bool = True) -> EventRow | dict[str, Any]:
    """(event_id, row) for a usable row, else the dead-letter row."""
    row, problems = flatten(event.payload, event.received_at, keep_payload=keep_payload)
    fatal = [problem for problem in problems if problem.fatal]
    if fatal:
        return from_record(
            event.record,
            step=FailedStep.FLATTEN,
            error_type=str(fatal[0].kind),
            message=describe_problems(fatal),
            event_id=_text(row.get("event_id")),
            app_id=_text(row.get("app_id")),
        )
    record = event.record
    row["kafka_topic"] = record.topic
    row["kafka_partition"] = record.partition
    row["kafka_offset"] = record.offset
    return str(row["event_id"]), row


def describe_problems(problems: Iterable[Problem]) -> str:
    return "; ".join(
        f"{problem.kind} at {problem.path or '(payload)'}: {problem.detail}" for problem in problems
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


class FlattenEventsFn(beam.DoFn):
    """ParsedEvent -> (event_id, row); unusable rows on the DEAD_LETTERS output."""

    def __init__(self, keep_payload: bool) -> None:
        self._keep_payload = keep_payload
        self._flattened = Metrics.counter(counters.NAMESPACE, counters.FLATTENED)

    def process(self, event: ParsedEvent) -> Iterator[Any]:
        try:
            result = flatten_event(event, self._keep_payload)
        except Exception as error:
            # flatten promises never to raise; if the glue here does, keep the event.
            yield beam.pvalue.TaggedOutput(
                DEAD_LETTERS,
                from_record(
                    event.record,
                    step=FailedStep.FLATTEN,
                    error_type=ErrorType.UNEXPECTED_EXCEPTION,
                    message=f"{type(error).__name__}: {error}",
                    error=error,
                ),
            )
            return
        if isinstance(result, tuple):
            self._flattened.inc()
            yield result
        else:
            yield beam.pvalue.TaggedOutput(DEAD_LETTERS, result)


class FlattenEvents(beam.PTransform[PCollection[Any], DoOutputsTuple]):
    """Parsed events to keyed rows (main output) and dead letters (`DEAD_LETTERS`)."""

    def __init__(self, keep_payload: bool = True) -> None:
        super().__init__()
        self.keep_payload = keep_payload

    def expand(self, events: PCollection[Any]) -> DoOutputsTuple:
        outputs: DoOutputsTuple = events | "Flatten" >> beam.ParDo(
            FlattenEventsFn(self.keep_payload)
        ).with_outputs(DEAD_LETTERS, main="rows")
        return outputs
