# Beam's public API is largely unannotated; calls into it are not type errors.
# mypy: untyped-calls-exclude=apache_beam
"""Writing the events and the dead letters to BigQuery.

Both use Beam's `WriteToBigQuery`: streaming inserts here and by default,
the Storage Write API selectable for Dataflow. Rows are checked against the
table schema first (the emulator would accept nearly anything; BigQuery
would refuse the row and the whole batch would be retried), and every row
that is refused, by the check or by BigQuery, becomes a dead letter.

The dead-letter write is the last stop: a dead letter that cannot be written
fails the bundle, so its offset is never committed and the event is read
again, rather than dropped.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
from apache_beam.io.gcp.bigquery import BigQueryDisposition, WriteToBigQuery
from apache_beam.io.gcp.bigquery_tools import RetryStrategy
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection

from pipeline import counters
from pipeline.dead_letters import ErrorType, from_failed_insert
from pipeline.timestamps import utc_text
from schemas.row_check import validate_row

REJECTED = "rejected"
# Rows per insertAll call, as Beam's default.
INSERT_BATCH_SIZE = 500


def stamp_inserted_at(row: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    stamped = dict(row)
    stamped["inserted_at"] = utc_text(now or datetime.now(UTC))
    return stamped


def failed_insert_to_dead_letter(element: Any) -> dict[str, Any]:
    """A `failed_rows_with_errors` element (either write method) as a dead-letter row."""
    if isinstance(element, Mapping) and "failed_row" in element:
        # STORAGE_WRITE_API: {"error_message": ..., "failed_row": {...}}
        errors = [{"reason": "storage_write", "message": element.get("error_message")}]
        return from_failed_insert(element["failed_row"], errors)
    # STREAMING_INSERTS: (destination, row, [{"reason", "location", "message"}, ...])
    _destination, row, errors = element
    return from_failed_insert(row, errors or [])


class CheckRowsFn(beam.DoFn):
    """Rows that fit the table schema pass; the others go to REJECTED as dead letters."""

    def __init__(self, schema: Sequence[Mapping[str, Any]]) -> None:
        self._schema = [dict(field) for field in schema]
        self._submitted = Metrics.counter(counters.NAMESPACE, counters.ROWS_SUBMITTED)
        self._failed = Metrics.counter(counters.NAMESPACE, counters.WRITE_FAILED)

    def process(self, row: dict[str, Any]) -> Iterator[Any]:
        problems = validate_row(row, self._schema)
        self._submitted.inc()
        if problems:
            self._failed.inc()
            errors = [{"reason": "invalid", "message": problem} for problem in problems]
            yield beam.pvalue.TaggedOutput(
                REJECTED, from_failed_insert(row, errors, error_type=ErrorType.ROW_REJECTED)
            )
            return
        yield row


class CountFn(beam.DoFn):
    def __init__(self, name: str) -> None:
        self._counter = Metrics.counter(counters.NAMESPACE, name)

    def process(self, element: Any) -> Iterator[Any]:
        self._counter.inc()
        yield element


def fail_run(element: Any) -> Any:
    """For dead letters that could not be written: stop rather than drop them."""
    raise RuntimeError(f"a dead letter could not be written, so the run stops: {element!r}")


def _write(
    table_id: str,
    schema: Sequence[Mapping[str, Any]],
    method: str,
    test_client: Any,
) -> WriteToBigQuery:
    return WriteToBigQuery(
        table=table_id,
        schema={"fields": [dict(field) for field in schema]},
        create_disposition=BigQueryDisposition.CREATE_NEVER,
        write_disposition=BigQueryDisposition.WRITE_APPEND,
        method=method,
        batch_size=INSERT_BATCH_SIZE,
        # Retry what may pass later (quota, 5xx); refused rows come back as failures.
        insert_retry_strategy=RetryStrategy.RETRY_ON_TRANSIENT_ERROR,
        test_client=test_client,
    )


class _WriteTable(beam.PTransform[PCollection[Any], PCollection[Any]]):
    """Where and how a write goes: the table, its schema, the write method."""

    def __init__(
        self,
        table_id: str,
        schema: Sequence[Mapping[str, Any]],
        method: str = WriteToBigQuery.Method.STREAMING_INSERTS,
        test_client: Any = None,
    ) -> None:
        super().__init__()
        self.table_id = table_id
        self.schema = schema
        self.method = method
        self.test_client = test_client

    def write_to_bigquery(self) -> Any:
        return _write(self.table_id, self.schema, self.method, self.test_client)


class WriteEvents(_WriteTable):
    """Rows to the events table; returns the dead letters of the rows it could not write."""

    def expand(self, rows: PCollection[Any]) -> PCollection[Any]:
        checked = (
            rows
            | "StampInsertedAt" >> beam.Map(stamp_inserted_at)
            | "CheckRows" >> beam.ParDo(CheckRowsFn(self.schema)).with_outputs(REJECTED, main="ok")
        )
        result = checked.ok | "WriteToBigQuery" >> self.write_to_bigquery()
        refused = (
            result.failed_rows_with_errors
            | "CountWriteFailures" >> beam.ParDo(CountFn(counters.WRITE_FAILED))
            | "FailedInsertsToDeadLetters" >> beam.Map(failed_insert_to_dead_letter)
        )
        dead_letters: PCollection[Any] = (checked[REJECTED], refused) | "DeadLettersOfWrite" >> (
            beam.Flatten()
        )
        return dead_letters


class WriteDeadLetters(_WriteTable):
    """Dead-letter rows to their table; returns the (empty) PCollection of write
    failures, whose completion tells the offset commit that the dead letters are in."""

    def expand(self, dead_letters: PCollection[Any]) -> PCollection[Any]:
        result = (
            dead_letters
            | "CountDeadLetters" >> beam.ParDo(CountFn(counters.DEAD_LETTERED))
            | "WriteToBigQuery" >> self.write_to_bigquery()
        )
        not_written: PCollection[Any] = result.failed_rows_with_errors | "FailIfNotWritten" >> (
            beam.Map(fail_run)
        )
        return not_written
