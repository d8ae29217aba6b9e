# Beam's public API is largely unannotated; calls into it are not type errors.
# mypy: untyped-calls-exclude=apache_beam
"""The events pipeline: Kafka to BigQuery, every failure to the dead-letter table.

    read Kafka -> parse + validate -> flatten -> drop duplicates -> write events
    parse/flatten/write failures -> write dead letters
    offsets -> commit once both writes have covered them

`build_events_pipeline` applies it to a `beam.Pipeline`; the launcher
(pipeline/launcher.py) picks the runner and, in drain mode, the offsets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import apache_beam as beam

import schemas
from pipeline.bigquery_client import EmulatorBigQueryClient
from pipeline.bigquery_writes import WriteDeadLetters, WriteEvents
from pipeline.commit import CommitWrittenOffsets
from pipeline.dedupe import DropDuplicateEvents
from pipeline.flatten_events import FlattenEvents
from pipeline.kafka_offsets import PartitionRange, consumer_config
from pipeline.kafka_read import ReadKafkaRecords, ReadWithBeamKafkaIO
from pipeline.options import EventsPipelineOptions, bigquery_project, bootstrap_servers
from pipeline.parse import DEAD_LETTERS, ParseAndValidateEvents
from pipeline.tables import Destination


@dataclass(frozen=True)
class EventsJob:
    """Everything the pipeline needs, resolved from the options."""

    bootstrap_servers: str
    topic: str
    consumer_group: str
    read_method: str
    destination: Destination
    bigquery_endpoint: str | None
    write_method: str
    bounded: bool
    dedupe_window_seconds: float
    allowed_lateness_seconds: float
    commit_interval_seconds: float
    poll_timeout_seconds: float
    keep_payload: bool

    @classmethod
    def from_options(cls, options: beam.options.pipeline_options.PipelineOptions) -> EventsJob:
        own = options.view_as(EventsPipelineOptions)
        if own.read_method == "beam_kafka_io" and own.mode == "drain":
            raise ValueError(
                "--read_method beam_kafka_io reads without end; use it with --mode streaming"
            )
        return cls(
            bootstrap_servers=bootstrap_servers(options),
            topic=own.topic,
            consumer_group=own.consumer_group,
            read_method=own.read_method,
            destination=Destination(
                project=bigquery_project(options),
                dataset=own.dataset,
                events_table=own.events_table,
                dead_letter_table=own.dead_letter_table,
            ),
            bigquery_endpoint=own.bigquery_endpoint,
            write_method=own.write_method,
            bounded=own.mode == "drain",
            dedupe_window_seconds=own.dedupe_window_seconds,
            allowed_lateness_seconds=own.allowed_lateness_seconds,
            commit_interval_seconds=own.commit_interval_seconds,
            poll_timeout_seconds=own.poll_timeout_seconds,
            keep_payload=own.keep_payload,
        )

    @property
    def consumer_config(self) -> dict[str, Any]:
        return consumer_config(self.bootstrap_servers, self.consumer_group)

    def test_client(self) -> EmulatorBigQueryClient | None:
        if self.bigquery_endpoint is None:
            return None
        return EmulatorBigQueryClient(self.bigquery_endpoint, self.destination.project)


def build_events_pipeline(
    pipeline: beam.Pipeline, job: EventsJob, ranges: Sequence[PartitionRange]
) -> None:
    """Apply the whole job to `pipeline`; `ranges` are the partitions' offsets to read."""
    test_client = job.test_client()
    if job.read_method == "beam_kafka_io":
        records = pipeline | "ReadKafka" >> ReadWithBeamKafkaIO(job.consumer_config, job.topic)
    else:
        records = pipeline | "ReadKafka" >> ReadKafkaRecords(
            ranges, job.consumer_config, job.bounded, job.poll_timeout_seconds
        )

    parsed = records | "ParseAndValidate" >> ParseAndValidateEvents()
    flattened = parsed.events | "FlattenEvents" >> FlattenEvents(job.keep_payload)
    rows = (
        flattened.rows
        | "DropDuplicates"
        >> DropDuplicateEvents(
            job.dedupe_window_seconds, job.allowed_lateness_seconds, bounded=job.bounded
        )
        | "Rows" >> beam.Values()
    )
    write_failures = rows | "WriteEvents" >> WriteEvents(
        job.destination.events,
        schemas.load_table_schema(schemas.EVENTS_TABLE),
        job.write_method,
        test_client,
    )
    dead_letters_written = (
        (parsed[DEAD_LETTERS], flattened[DEAD_LETTERS], write_failures)
        | "AllDeadLetters" >> beam.Flatten()
        | "WriteDeadLetters"
        >> WriteDeadLetters(
            job.destination.dead_letters,
            schemas.load_table_schema(schemas.DEAD_LETTER_TABLE),
            job.write_method,
            test_client,
        )
    )
    if job.read_method == "splittable":
        _ = records | "CommitOffsets" >> CommitWrittenOffsets(
            job.consumer_config,
            written=[write_failures, dead_letters_written],
            window_seconds=job.commit_interval_seconds,
            bounded=job.bounded,
        )
