"""Send dead letters back through the pipeline: `python -m infra.replay_dead_letters`.

After the cause of a failure is fixed (a pipeline release, a schema change),
the raw payloads kept in `events_dead_letter` are produced again to the raw
topic, byte for byte, as the receiver would have: key = event id, headers with
the original `received_at`, plus `replayed_from` naming the dead letter. The
running pipeline then loads them like any event; duplicates of events that
did get through are dropped by the deduplicated view. Rows are selected by the
time they failed and, optionally, by error type and step; `--dry-run` only
counts them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError, Message, Producer
from google.cloud import bigquery

from receiver.config import DEFAULT_RAW_TOPIC
from receiver.records import Headers, format_received_at

SELECT = """
SELECT event_id, raw_payload_bytes, received_at, failed_at, error_type, failed_step,
       kafka_topic, kafka_partition, kafka_offset
FROM `{table}`
WHERE failed_at >= @since AND failed_at < @until
  AND raw_payload_bytes IS NOT NULL
  {filters}
ORDER BY failed_at
"""


@dataclass(frozen=True)
class Selection:
    """Which dead letters to replay."""

    since: datetime
    until: datetime
    error_type: str | None = None
    failed_step: str | None = None


@dataclass(frozen=True)
class DeadLetter:
    event_id: str | None
    raw_payload: bytes
    received_at: datetime | None
    failed_at: datetime
    origin: str

    @classmethod
    def from_row(cls, row: Any) -> DeadLetter:
        origin = f"{row['kafka_topic']}:{row['kafka_partition']}:{row['kafka_offset']}"
        return cls(
            event_id=row["event_id"],
            raw_payload=bytes(row["raw_payload_bytes"]),
            received_at=row["received_at"],
            failed_at=row["failed_at"],
            origin=origin,
        )

    def headers(self) -> Headers:
        # The receiver's header contract (receiver/records.py), so the pipeline treats it as
        # the event it was; received_at keeps the original time, hence the original partition.
        received = self.received_at or self.failed_at
        return (
            ("received_at", format_received_at(received).encode()),
            ("request_id", f"replay:{self.origin}".encode()),
            ("source_ip", b""),
            ("user_agent", b"replay_dead_letters"),
            ("envelope", b""),
            ("replayed_from", f"events_dead_letter@{format_received_at(self.failed_at)}".encode()),
        )


def query(table: str, selection: Selection) -> tuple[str, list[bigquery.ScalarQueryParameter]]:
    """The SQL and its parameters; values never enter the SQL text."""
    filters = []
    parameters = [
        bigquery.ScalarQueryParameter("since", "TIMESTAMP", selection.since),
        bigquery.ScalarQueryParameter("until", "TIMESTAMP", selection.until),
    ]
    if selection.error_type is not None:
        filters.append("AND error_type = @error_type")
        parameters.append(
            bigquery.ScalarQueryParameter("error_type", "STRING", selection.error_type)
        )
    if selection.failed_step is not None:
        filters.append("AND failed_step = @failed_step")
        parameters.append(
            bigquery.ScalarQueryParameter("failed_step", "STRING", selection.failed_step)
        )
    return SELECT.format(table=table, filters="\n  ".join(filters)), parameters


def read_dead_letters(
    client: bigquery.Client, table: str, selection: Selection
) -> Iterator[DeadLetter]:
    sql, parameters = query(table, selection)
    job = client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=parameters))
    for row in job.result():
        yield DeadLetter.from_row(row)


def replay(
    dead_letters: Iterable[DeadLetter], producer: Producer, topic: str, timeout: float = 60.0
) -> int:
    """Produce every dead letter and wait for the broker's acknowledgements; returns the count."""
    failures: list[KafkaError] = []
    produced = 0

    def delivered(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            failures.append(error)

    for dead_letter in dead_letters:
        key = dead_letter.event_id.encode() if dead_letter.event_id else None
        while True:
            try:
                producer.produce(
                    topic,
                    value=dead_letter.raw_payload,
                    key=key,
                    headers=list(dead_letter.headers()),
                    on_delivery=delivered,
                )
                break
            except BufferError:
                # The local queue is full: let deliveries drain, then try the same record again.
                producer.poll(0.5)
        producer.poll(0)
        produced += 1
    remaining = producer.flush(timeout)
    if remaining or failures:
        raise RuntimeError(
            f"{len(failures)} record(s) failed and {remaining} were unacknowledged "
            f"after {timeout:.0f}s: {failures[:3]}"
        )
    return produced


def producer_for(bootstrap_servers: str) -> Producer:
    """Durable writes, as the receiver's: acks from all in-sync replicas, no duplicates on retry."""
    return Producer(
        {"bootstrap.servers": bootstrap_servers, "acks": "all", "enable.idempotence": True}
    )


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.replay_dead_letters", description=__doc__
    )
    parser.add_argument("--project", required=True, help="BigQuery project of the table")
    parser.add_argument("--dataset", default="tapcart")
    parser.add_argument("--table", default="events_dead_letter")
    parser.add_argument("--since", type=_moment, required=True, help="failed_at from (ISO-8601)")
    parser.add_argument("--until", type=_moment, required=True, help="failed_at before (ISO-8601)")
    parser.add_argument("--error-type", help="only this error_type, e.g. invalid_json")
    parser.add_argument(
        "--failed-step", help="only this failed_step: parse, validate, flatten, write"
    )
    parser.add_argument(
        "--bootstrap-servers", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    )
    parser.add_argument("--topic", default=DEFAULT_RAW_TOPIC)
    parser.add_argument("--bigquery-endpoint", help="a BigQuery emulator's URL (tests)")
    parser.add_argument("--dry-run", action="store_true", help="count what would be replayed")
    args = parser.parse_args(argv)
    selection = Selection(args.since, args.until, args.error_type, args.failed_step)
    client = _client(args.project, args.bigquery_endpoint)
    table = f"{args.project}.{args.dataset}.{args.table}"
    dead_letters = list(read_dead_letters(client, table, selection))
    if args.dry_run:
        print(f"{len(dead_letters)} dead letter(s) would be replayed to {args.topic}")
        return 0
    count = replay(dead_letters, producer_for(args.bootstrap_servers), args.topic)
    print(f"replayed {count} dead letter(s) to {args.topic}")
    return 0


def _client(project: str, endpoint: str | None) -> bigquery.Client:
    if endpoint is None:
        return bigquery.Client(project=project)
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    return bigquery.Client(
        project=project,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options=ClientOptions(api_endpoint=endpoint),
    )


if __name__ == "__main__":
    sys.exit(main())
