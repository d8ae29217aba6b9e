"""`python -m pipeline.replay`: send dead letters through the pipeline again, after a fix.

It reads the chosen rows of the dead-letter table and produces each raw
payload, byte for byte, back to the raw topic, with its original
`received_at` header (so its event time and dedupe ordering are the
original ones) and a `replayed_from` header naming where it first came from.
The running pipeline (or the next drain) then treats them like any event:
those that now pass land in `events`, the others become new dead letters.
Replayed rows stay in the dead-letter table as history; replaying one twice
is harmless, because the deduplicated view keeps one row per event id.

    python -m pipeline.replay --failed_step flatten --since 2026-12-01T00:00:00Z --dry_run
    python -m pipeline.replay --failed_step flatten --since 2026-12-01T00:00:00Z
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from confluent_kafka import KafkaError, Message, Producer
from google.cloud import bigquery

from pipeline.bigquery_client import cloud_client
from pipeline.dead_letters import raw_payload_of
from pipeline.kafka_records import RECEIVED_AT_HEADER, parse_utc
from pipeline.options import RAW_TOPIC
from pipeline.timestamps import utc_text

REPLAYED_FROM_HEADER = "replayed_from"


@dataclass(frozen=True)
class ReplaySelection:
    failed_steps: tuple[str, ...] = ()
    error_types: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = None


def selection_query(table_id: str, selection: ReplaySelection) -> tuple[str, list[Any]]:
    """The SQL and its parameters; values never go into the SQL text."""
    conditions = []
    parameters: list[Any] = []
    if selection.failed_steps:
        conditions.append("failed_step IN UNNEST(@failed_steps)")
        parameters.append(
            bigquery.ArrayQueryParameter("failed_steps", "STRING", list(selection.failed_steps))
        )
    if selection.error_types:
        conditions.append("error_type IN UNNEST(@error_types)")
        parameters.append(
            bigquery.ArrayQueryParameter("error_types", "STRING", list(selection.error_types))
        )
    if selection.since is not None:
        conditions.append("failed_at >= @since")
        parameters.append(bigquery.ScalarQueryParameter("since", "TIMESTAMP", selection.since))
    if selection.until is not None:
        conditions.append("failed_at < @until")
        parameters.append(bigquery.ScalarQueryParameter("until", "TIMESTAMP", selection.until))
    sql = (
        "SELECT event_id, raw_payload, raw_payload_bytes, error_type, failed_step, "
        "kafka_topic, kafka_partition, kafka_offset, received_at, failed_at "
        f"FROM `{table_id}`"
    )
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    sql += " ORDER BY failed_at, kafka_topic, kafka_partition, kafka_offset"
    if selection.limit is not None:
        sql += " LIMIT @limit"
        parameters.append(bigquery.ScalarQueryParameter("limit", "INT64", selection.limit))
    return sql, parameters


def replay_headers(row: Mapping[str, Any]) -> list[tuple[str, str | bytes | None]]:
    headers: list[tuple[str, str | bytes | None]] = []
    received_at = row.get("received_at")
    if isinstance(received_at, datetime):
        headers.append((RECEIVED_AT_HEADER, utc_text(received_at).encode()))
    origin = f"{row.get('kafka_topic')}:{row.get('kafka_partition')}:{row.get('kafka_offset')}"
    headers.append((REPLAYED_FROM_HEADER, origin.encode()))
    return headers


def replay(
    rows: Iterable[Mapping[str, Any]], producer: Producer, topic: str
) -> tuple[int, Counter[str]]:
    """Produce every row's raw payload; (count produced, count skipped by reason)."""
    errors: list[KafkaError] = []
    skipped: Counter[str] = Counter()

    def delivered(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            errors.append(error)

    produced = 0
    for row in rows:
        value = raw_payload_of(row)
        if value is None:
            skipped["no raw payload"] += 1
            continue
        key = row.get("event_id")
        while True:
            try:
                producer.produce(
                    topic,
                    value=value,
                    key=key.encode() if isinstance(key, str) else None,
                    headers=replay_headers(row),
                    on_delivery=delivered,
                )
                break
            except BufferError:
                # The local queue is full: wait for deliveries, then try again.
                producer.poll(0.5)
        producer.poll(0)
        produced += 1
    remaining = producer.flush(60)
    if remaining or errors:
        raise RuntimeError(
            f"replay incomplete: {len(errors)} delivery error(s) "
            f"(first: {errors[0] if errors else None}), {remaining} message(s) not delivered"
        )
    return produced, skipped


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m pipeline.replay", description=__doc__)
    parser.add_argument("--project", default=env.get("BIGQUERY_PROJECT", "local"))
    parser.add_argument("--dataset", default=env.get("BIGQUERY_DATASET", "tapcart"))
    parser.add_argument("--dead_letter_table", default="events_dead_letter")
    parser.add_argument(
        "--bigquery_endpoint", default=None, help="emulator endpoint; absent: real BigQuery"
    )
    parser.add_argument(
        "--bootstrap_servers", default=env.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    )
    parser.add_argument("--topic", default=RAW_TOPIC, help="topic the pipeline reads")
    parser.add_argument("--failed_step", action="append", default=[], help="repeatable")
    parser.add_argument("--error_type", action="append", default=[], help="repeatable")
    parser.add_argument("--since", type=_instant, default=None, help="failed_at >= (ISO-8601)")
    parser.add_argument("--until", type=_instant, default=None, help="failed_at < (ISO-8601)")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument(
        "--dry_run", action="store_true", help="count what would be replayed, send nothing"
    )
    return parser.parse_args(argv)


def _instant(text: str) -> datetime:
    moment = parse_utc(text)
    if moment is None:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 instant with an offset: {text!r}")
    return moment


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    selection = ReplaySelection(
        failed_steps=tuple(args.failed_step),
        error_types=tuple(args.error_type),
        since=args.since,
        until=args.until,
        limit=args.limit,
    )
    table_id = f"{args.project}.{args.dataset}.{args.dead_letter_table}"
    sql, parameters = selection_query(table_id, selection)
    client = cloud_client(args.project, args.bigquery_endpoint)
    try:
        job = client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=parameters))
        rows = [dict(row.items()) for row in job.result()]
    finally:
        client.close()  # type: ignore[no-untyped-call]
    by_type = Counter(f"{row.get('failed_step')}/{row.get('error_type')}" for row in rows)
    print(f"{len(rows)} dead letter(s) selected from {table_id}")
    for name, count in sorted(by_type.items()):
        print(f"  {name}: {count}")
    if args.dry_run:
        print("dry run: nothing sent")
        return 0
    producer = Producer(
        {"bootstrap.servers": args.bootstrap_servers, "acks": "all", "enable.idempotence": True}
    )
    produced, skipped = replay(rows, producer, args.topic)
    print(
        f"replayed {produced} to {args.topic}" + (f"; skipped {dict(skipped)}" if skipped else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
