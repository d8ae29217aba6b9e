"""Drain runs against the real broker and the BigQuery emulator.

5,000 messages as the receiver writes them: 4,250 distinct valid events,
500 duplicates (Tapcart retries, later copies of earlier events) and 250
invalid ones of five kinds. Each scenario uses its own topic (3 partitions),
dataset and consumer group, so other work on the shared services does not
interfere. Tests run in file order: the second drain, the killed run (which
compares its view with the first drain's) and then the replay (which adds
an event) follow the first drain on the same topic.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from google.cloud import bigquery

from pipeline import counters, launcher, replay
from pipeline.launcher import DrainReport

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
TOTAL = 5000
DUPLICATES = 500
INVALID_PER_KIND = 50
BASE_TIME = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
EVENT_TYPES = ("AppOpened", "ProductViewed", "AddedToCart", "CartUpdated", "CheckoutCreated")
# Kind of invalid body -> (failed_step, error_type) the pipeline must record.
INVALID_KINDS = {
    "not_json": ("parse", "invalid_json"),
    "array": ("validate", "not_an_object"),
    "string": ("validate", "not_an_object"),
    "no_event_id": ("flatten", "missing_event_id"),
    "no_app_id": ("flatten", "missing_app_id"),
}
# Columns that differ between two loads of the same events (messages without
# a key land on a random partition, which moves the offsets of the others).
INGEST_ONLY = ("inserted_at", "kafka_topic", "kafka_partition", "kafka_offset")


@dataclass
class Message:
    value: bytes
    key: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp_ms: int
    event_id: str | None = None
    invalid_kind: str | None = None
    original: int | None = None  # index of the message a duplicate copies


@dataclass
class Produced:
    topic: str
    messages: list[Message]
    coordinates: list[tuple[int, int]] = field(default_factory=list)  # (partition, offset)

    @property
    def valid_ids(self) -> set[str]:
        return {m.event_id for m in self.messages if m.event_id and m.original is None}

    def first_copy_of(self) -> dict[str, tuple[int, int]]:
        return {
            m.event_id: self.coordinates[i]
            for i, m in enumerate(self.messages)
            if m.event_id and m.original is None
        }

    def invalid(self) -> dict[tuple[int, int], Message]:
        return {self.coordinates[i]: m for i, m in enumerate(self.messages) if m.invalid_kind}

    def end_offsets(self) -> dict[int, int]:
        ends: dict[int, int] = {}
        for partition, offset in self.coordinates:
            ends[partition] = max(ends.get(partition, 0), offset + 1)
        return ends


def event_body(index: int, rng: random.Random) -> dict[str, Any]:
    event_type = EVENT_TYPES[index % len(EVENT_TYPES)]
    moment = BASE_TIME + timedelta(seconds=index)
    return {
        "event_type": event_type,
        "event_id": f"evt-{index:05d}",
        "app_id": f"app-{index % 7}",
        "session_id": f"s-{index // 10}",
        "device_id": f"d-{index % 97}",
        "timestamp": int(moment.timestamp() * 1000),
        "event_properties": {
            "product_id": f"p-{rng.randint(1, 300)}",
            "variant_price": f"{rng.randint(100, 9999) / 100:.2f}",
            "cart_total_items": str(rng.randint(1, 5)),
            "source": rng.choice(["home", "search", ""]),
        },
        "device_properties": {"os": rng.choice(["iOS", "Android"])},
    }


def invalid_body(kind: str, index: int) -> bytes:
    if kind == "not_json":
        return f'{{"event_type": "AppOpened", event_id: evt-bad-{index}}}'.encode()
    if kind == "array":
        return b'[{"event_id": "in-a-list"}]'
    if kind == "string":
        return b'"just text"'
    body = {"event_type": "AppOpened", "event_id": f"bad-{index}", "app_id": "app-1"}
    body.pop("event_id" if kind == "no_event_id" else "app_id")
    return json.dumps(body).encode()


def headers_at(received: datetime, index: int) -> list[tuple[str, bytes]]:
    headers = [
        ("request_id", f"req-{index}".encode()),
        ("source_ip", b"203.0.113.7"),
        ("user_agent", b"Tapcart/1.0"),
        ("envelope", b"insights"),
    ]
    # One message in 50 lacks received_at: the pipeline uses the broker timestamp then.
    if index % 50 != 13:
        headers.insert(0, ("received_at", received.strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()))
    return headers


def sample_messages(seed: int = 5) -> list[Message]:
    """The same 5,000 messages for every run with the same seed."""
    rng = random.Random(seed)
    kinds = [kind for kind in INVALID_KINDS for _ in range(INVALID_PER_KIND)]
    distinct = TOTAL - DUPLICATES - len(kinds)
    bodies: list[Message] = []
    for index in range(distinct):
        body = event_body(index, rng)
        bodies.append(
            Message(json.dumps(body).encode(), body["event_id"].encode(), [], 0, body["event_id"])
        )
    for index, kind in enumerate(kinds):
        key = f"bad-{index}".encode() if kind != "no_event_id" else None
        bodies.append(Message(invalid_body(kind, index), key, [], 0, invalid_kind=kind))
    rng.shuffle(bodies)
    # Retries: a later copy of an earlier valid event, received later.
    for _ in range(DUPLICATES):
        while True:
            original = rng.randrange(len(bodies))
            if bodies[original].event_id and bodies[original].original is None:
                break
        copy = bodies[original]
        position = rng.randint(original + 1, len(bodies))
        bodies.insert(position, Message(copy.value, copy.key, [], 0, copy.event_id))
        bodies[position].original = -1  # marked; resolved below
    messages = []
    for index, message in enumerate(bodies):
        received = BASE_TIME + timedelta(milliseconds=250 * index)
        message.headers = headers_at(received, index)
        message.timestamp_ms = int(received.timestamp() * 1000)
        messages.append(message)
    return messages


def create_topic(bootstrap: str) -> str:
    name = f"test.pipeline.{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])[name].result(
        timeout=30
    )
    return name


def produce(bootstrap: str, topic: str, messages: list[Message]) -> Produced:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    coordinates: list[tuple[int, int] | None] = [None] * len(messages)

    def delivered(index: int) -> Any:
        def callback(error: Any, message: Any) -> None:
            assert error is None, error
            coordinates[index] = (message.partition(), message.offset())

        return callback

    for index, message in enumerate(messages):
        producer.produce(
            topic,
            value=message.value,
            key=message.key,
            headers=message.headers,
            timestamp=message.timestamp_ms,
            on_delivery=delivered(index),
        )
        producer.poll(0)
    assert producer.flush(60) == 0
    assert all(c is not None for c in coordinates)
    return Produced(topic, messages, [c for c in coordinates if c is not None])


@dataclass
class Scenario:
    bootstrap: str
    endpoint: str
    project: str
    topic: str
    dataset: str
    group: str
    produced: Produced

    def argv(self, *extra: str) -> list[str]:
        return [
            "--mode=drain",
            f"--bootstrap_servers={self.bootstrap}",
            f"--topic={self.topic}",
            f"--consumer_group={self.group}",
            f"--project={self.project}",
            f"--dataset={self.dataset}",
            f"--bigquery_endpoint={self.endpoint}",
            *extra,
        ]

    def drain(self, *extra: str) -> tuple[DrainReport, str]:
        out = io.StringIO()
        report = launcher.run(self.argv(*extra), out=out)
        assert report is not None
        return report, out.getvalue()

    def committed(self) -> dict[int, int]:
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group})
        try:
            parts = [TopicPartition(self.topic, p) for p in range(3)]
            return {tp.partition: tp.offset for tp in consumer.committed(parts, timeout=30)}
        finally:
            consumer.close()


def rows(client: bigquery.Client, sql: str) -> list[dict[str, Any]]:
    return [dict(row.items()) for row in client.query(sql).result()]


def table(s: Scenario, name: str) -> str:
    return f"`{s.project}.{s.dataset}.{name}`"


def make_scenario(
    kafka_bootstrap: str, bigquery_endpoint: str, bigquery_client: bigquery.Client
) -> Scenario:
    topic = create_topic(kafka_bootstrap)
    produced = produce(kafka_bootstrap, topic, sample_messages())
    return Scenario(
        bootstrap=kafka_bootstrap,
        endpoint=bigquery_endpoint,
        project=bigquery_client.project,
        topic=topic,
        dataset=f"pipeline_{uuid.uuid4().hex[:10]}",
        group=f"group-{uuid.uuid4().hex[:8]}",
        produced=produced,
    )


def cleanup(s: Scenario, client: bigquery.Client) -> None:
    client.delete_dataset(s.dataset, delete_contents=True, not_found_ok=True)
    AdminClient({"bootstrap.servers": s.bootstrap}).delete_topics([s.topic])


@pytest.fixture(scope="module")
def drained(
    kafka_bootstrap: str, bigquery_endpoint: str, bigquery_client: bigquery.Client
) -> Iterator[tuple[Scenario, DrainReport, str]]:
    """One topic with the 5,000 messages, drained once."""
    scenario = make_scenario(kafka_bootstrap, bigquery_endpoint, bigquery_client)
    report, output = scenario.drain()
    yield scenario, report, output
    cleanup(scenario, bigquery_client)


def view_rows(client: bigquery.Client, s: Scenario) -> dict[str, dict[str, Any]]:
    found = rows(client, f"SELECT * FROM {table(s, 'events_deduplicated')}")
    by_id = {row["event_id"]: row for row in found}
    assert len(by_id) == len(found), "the deduplicated view holds an event twice"
    return {
        event_id: {k: v for k, v in row.items() if k not in INGEST_ONLY}
        for event_id, row in by_id.items()
    }


def test_a_drain_writes_exactly_the_distinct_valid_events(
    drained: tuple[Scenario, DrainReport, str], bigquery_client: bigquery.Client
) -> None:
    s, report, output = drained
    expected = s.produced.first_copy_of()
    assert len(expected) == TOTAL - DUPLICATES - 5 * INVALID_PER_KIND == 4250

    found = rows(
        bigquery_client,
        f"SELECT event_id, kafka_partition, kafka_offset, received_at, event_time, "
        f"inserted_at FROM {table(s, 'events')}",
    )
    assert len(found) == 4250
    # Each event once, and the copy kept is the first one received.
    assert {r["event_id"]: (r["kafka_partition"], r["kafka_offset"]) for r in found} == expected
    assert all(r["received_at"] is not None and r["inserted_at"] is not None for r in found)
    first = next(r for r in found if r["event_id"] == "evt-00000")
    assert first["event_time"] == BASE_TIME

    assert report.records == TOTAL
    assert report.totals[counters.READ] == TOTAL
    assert report.totals[counters.DUPLICATES_DROPPED] == DUPLICATES
    assert report.rows_written == 4250
    assert report.totals[counters.DEAD_LETTERED] == 250
    assert report.totals.get(counters.WRITE_FAILED, 0) == 0
    assert "drain finished: 1 pass(es)" in output
    assert s.committed() == s.produced.end_offsets()


def test_a_drain_dead_letters_exactly_the_invalid_messages(
    drained: tuple[Scenario, DrainReport, str], bigquery_client: bigquery.Client
) -> None:
    s, _, _ = drained
    found = rows(bigquery_client, f"SELECT * FROM {table(s, 'events_dead_letter')}")
    invalid = s.produced.invalid()
    assert len(found) == len(invalid) == 250
    by_place = {(r["kafka_partition"], r["kafka_offset"]): r for r in found}
    assert set(by_place) == set(invalid)
    for place, message in invalid.items():
        dead = by_place[place]
        assert message.invalid_kind is not None
        assert (dead["failed_step"], dead["error_type"]) == INVALID_KINDS[message.invalid_kind]
        assert dead["raw_payload_bytes"] == message.value
        assert dead["kafka_topic"] == s.topic
        assert dead["failed_at"] is not None and dead["received_at"] is not None
    assert Counter(r["failed_step"] for r in found) == {
        "parse": 50,
        "validate": 100,
        "flatten": 100,
    }


def test_the_views_deduplicate_and_split_by_event_type(
    drained: tuple[Scenario, DrainReport, str], bigquery_client: bigquery.Client
) -> None:
    s, _, _ = drained
    view = view_rows(bigquery_client, s)
    assert set(view) == s.produced.valid_ids
    (opened,) = rows(bigquery_client, f"SELECT COUNT(*) AS n FROM {table(s, 'events_app_opened')}")
    assert opened["n"] == sum(1 for row in view.values() if row["event_name"] == "AppOpened") > 0
    events = bigquery_client.get_table(f"{s.project}.{s.dataset}.events")
    assert events.time_partitioning.field == "event_time"
    assert events.clustering_fields == ["app_id", "event_name"]


def test_a_second_drain_adds_nothing(
    drained: tuple[Scenario, DrainReport, str], bigquery_client: bigquery.Client
) -> None:
    s, _, _ = drained
    report, output = s.drain()
    assert (report.records, report.passes) == (0, 0)
    assert "0 record(s) to read" in output
    (counts,) = rows(
        bigquery_client,
        f"SELECT (SELECT COUNT(*) FROM {table(s, 'events')}) AS events, "
        f"(SELECT COUNT(*) FROM {table(s, 'events_dead_letter')}) AS dead",
    )
    assert counts == {"events": 4250, "dead": 250}
    assert s.committed() == s.produced.end_offsets()


def wait_for_line(process: subprocess.Popen[str], prefix: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith(prefix):
            return line
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"no line starting with {prefix!r} (exit code {process.poll()})")


def test_a_run_killed_half_way_then_rerun_loses_nothing_and_duplicates_nothing(
    drained: tuple[Scenario, DrainReport, str],
    kafka_bootstrap: str,
    bigquery_endpoint: str,
    bigquery_client: bigquery.Client,
) -> None:
    reference, _, _ = drained
    s = make_scenario(kafka_bootstrap, bigquery_endpoint, bigquery_client)
    try:
        # Passes of 1,200 records, so a kill in pass 2 leaves pass 1 committed.
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline", *s.argv("--max_records_per_pass=1200")],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            wait_for_line(process, "pass 1:", timeout=180)
            after_pass_one = s.committed()
            # Kill once pass 2 has started writing rows.
            (start,) = rows(bigquery_client, f"SELECT COUNT(*) AS n FROM {table(s, 'events')}")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                (now,) = rows(bigquery_client, f"SELECT COUNT(*) AS n FROM {table(s, 'events')}")
                if now["n"] > start["n"]:
                    break
                time.sleep(0.1)
            process.send_signal(signal.SIGKILL)
        finally:
            process.wait(timeout=30)
            assert process.stdout is not None
            process.stdout.close()
        assert process.returncode == -signal.SIGKILL
        killed_at = s.committed()
        assert killed_at == after_pass_one
        assert 0 < sum(killed_at.values()) < TOTAL

        report, _ = s.drain()
        assert report.records == TOTAL - sum(killed_at.values())
        assert s.committed() == s.produced.end_offsets()

        # Same rows as the clean run, each event once in the view, the first copy kept.
        assert view_rows(bigquery_client, s) == view_rows(bigquery_client, reference)
        kept = rows(
            bigquery_client,
            "SELECT event_id, kafka_partition, kafka_offset "
            f"FROM {table(s, 'events_deduplicated')}",
        )
        assert {
            r["event_id"]: (r["kafka_partition"], r["kafka_offset"]) for r in kept
        } == s.produced.first_copy_of()
        (loaded,) = rows(
            bigquery_client,
            f"SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS ids FROM {table(s, 'events')}",
        )
        assert loaded["ids"] == 4250 and loaded["n"] >= 4250
        dead = rows(
            bigquery_client,
            f"SELECT DISTINCT kafka_partition, kafka_offset FROM {table(s, 'events_dead_letter')}",
        )
        assert {(r["kafka_partition"], r["kafka_offset"]) for r in dead} == set(
            s.produced.invalid()
        )
        print(f"rows replayed after the kill: {loaded['n'] - 4250}")
    finally:
        cleanup(s, bigquery_client)


def test_a_replayed_dead_letter_goes_through_after_the_fix(
    drained: tuple[Scenario, DrainReport, str], bigquery_client: bigquery.Client
) -> None:
    s, _, _ = drained
    # A row BigQuery refused during an outage, now fixed: its payload is a valid event.
    body = json.dumps({"event_type": "AppOpened", "event_id": "evt-replay", "app_id": "app-1"})
    failed_at = datetime.now(UTC)
    assert (
        bigquery_client.insert_rows_json(
            f"{s.project}.{s.dataset}.events_dead_letter",
            [
                {
                    "event_id": "evt-replay",
                    "raw_payload": body,
                    "raw_payload_bytes": base64.b64encode(body.encode()).decode(),
                    "error_type": "insert_failed",
                    "failed_step": "write",
                    "kafka_topic": s.topic,
                    "kafka_partition": 0,
                    "kafka_offset": 999_999,
                    "received_at": "2026-11-30T08:00:00.000000Z",
                    "failed_at": failed_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                }
            ],
        )
        == []
    )
    command = [
        f"--project={s.project}",
        f"--dataset={s.dataset}",
        f"--bigquery_endpoint={s.endpoint}",
        f"--bootstrap_servers={s.bootstrap}",
        f"--topic={s.topic}",
        "--error_type=insert_failed",
    ]
    assert replay.main(command) == 0
    report, _ = s.drain()
    assert report.records == 1 and report.rows_written == 1
    (replayed,) = rows(
        bigquery_client,
        f"SELECT event_id, received_at FROM {table(s, 'events_deduplicated')} "
        "WHERE event_id = 'evt-replay'",
    )
    assert replayed["received_at"] == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
