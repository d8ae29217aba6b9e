"""Drain throughput: events/s from Kafka to the BigQuery emulator, beside the emulator alone.

(a) One drain run of the real pipeline (`python -m pipeline --mode drain`, in
its own process, on the runner the launcher picks) over a fresh topic of N
messages as the receiver writes them: about 10% duplicates (retries) and 5%
invalid bodies. (b) The baseline: the rows that drain must write (the
flattened first copies, and the dead letters) inserted straight into the
emulator with google-cloud-bigquery's `insert_rows_json`, in batches of the
pipeline's streaming-insert size, into a second dataset, with the request
flags Beam's streaming insert sends (`skip_invalid_rows`, which the emulator
serves several times more slowly) and, shown beside it, with the client's
defaults. Both in this one run,
against the same broker and emulator. Rates are input events per second of
each; the drain's own time excludes interpreter start-up and table creation,
which the wall time includes. The drain's rows are counted afterwards, so a
broken pipeline cannot post a good figure.

Environment: BENCH_PIPELINE_EVENTS (default 5000), KAFKA_BOOTSTRAP_SERVERS,
BIGQUERY_ENDPOINT, TAPCART_STATE_DIR (the local stack's settings: a running
broker or emulator is reused, else started for the run and stopped after).
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from google.cloud import bigquery

from benchmarks.services import local_broker, local_emulator
from infra.local.settings import StackSettings
from pipeline.bigquery_client import cloud_client
from pipeline.bigquery_writes import INSERT_BATCH_SIZE, stamp_inserted_at
from pipeline.dedupe import view_order
from pipeline.flatten_events import flatten_event
from pipeline.kafka_records import KafkaRecord
from pipeline.parse import ParsedEvent, parse_record
from pipeline.tables import Destination, ensure_destination
from pipeline.timestamps import utc_text

REPO = Path(__file__).resolve().parents[1]
DEFAULT_EVENTS = 5000
DUPLICATE_SHARE = 0.10
INVALID_SHARE = 0.05
PARTITIONS = 3
BASE_TIME = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
EVENT_TYPES = ("AppOpened", "ProductViewed", "AddedToCart", "CartUpdated", "CheckoutCreated")
INVALID_KINDS = ("not_json", "array", "no_event_id", "no_app_id")
DRAIN_TIMEOUT_SECONDS = 600


@dataclass
class Message:
    value: bytes
    key: bytes | None
    headers: list[tuple[str, str | bytes | None]]
    timestamp_ms: int
    partition: int = -1
    offset: int = -1


def _event_body(index: int, rng: random.Random) -> dict[str, Any]:
    return {
        "event_type": EVENT_TYPES[index % len(EVENT_TYPES)],
        "event_id": f"evt-{index:07d}",
        "app_id": f"app-{index % 7}",
        "session_id": f"s-{index // 10}",
        "device_id": f"d-{index % 97}",
        "timestamp": int((BASE_TIME + timedelta(seconds=index)).timestamp() * 1000),
        "metadata": {"schema_id": "Event_AppOpened_5_0_0"},
        "event_properties": {
            "product_id": f"p-{rng.randint(1, 300)}",
            "variant_price": f"{rng.randint(100, 9999) / 100:.2f}",
            "cart_total_items": str(rng.randint(1, 5)),
            "source": rng.choice(["home", "search", ""]),
        },
        "device_properties": {"os": rng.choice(["iOS", "Android"])},
        "session_properties": {"session_id": f"s-{index // 10}", "source": "direct"},
    }


def _invalid_body(kind: str, index: int) -> bytes:
    if kind == "not_json":
        return f'{{"event_type": "AppOpened", event_id: bad-{index}}}'.encode()
    if kind == "array":
        return b'[{"event_id": "in-a-list"}]'
    body = {"event_type": "AppOpened", "event_id": f"bad-{index}", "app_id": "app-1"}
    body.pop("event_id" if kind == "no_event_id" else "app_id")
    return json.dumps(body).encode()


def sample_messages(total: int, seed: int = 7) -> list[Message]:
    """`total` messages: distinct events, later copies of some (retries), invalid bodies."""
    rng = random.Random(seed)
    invalid = round(total * INVALID_SHARE)
    duplicates = round(total * DUPLICATE_SHARE)
    bodies: list[tuple[bytes, bytes | None, bool]] = []
    for index in range(total - invalid - duplicates):
        body = _event_body(index, rng)
        bodies.append((json.dumps(body).encode(), body["event_id"].encode(), True))
    for index in range(invalid):
        kind = INVALID_KINDS[index % len(INVALID_KINDS)]
        bodies.append((_invalid_body(kind, index), None, False))
    rng.shuffle(bodies)
    # A retry arrives after its original: place it anywhere later in the stream.
    placed = [(float(position), body) for position, body in enumerate(bodies)]
    valid_positions = [position for position, body in enumerate(bodies) if body[2]]
    for _ in range(duplicates):
        position = rng.choice(valid_positions)
        placed.append((rng.uniform(position + 0.5, len(bodies)), bodies[position]))
    placed.sort(key=lambda item: item[0])
    messages = []
    for index, (_, (value, key, _valid)) in enumerate(placed):
        received = BASE_TIME + timedelta(milliseconds=250 * index)
        headers: list[tuple[str, str | bytes | None]] = [
            ("received_at", utc_text(received).encode()),
            ("request_id", f"req-{index}".encode()),
            ("envelope", b"insights"),
        ]
        messages.append(Message(value, key, headers, int(received.timestamp() * 1000)))
    return messages


def produce(bootstrap: str, topic: str, messages: Sequence[Message]) -> float:
    """Produce all messages (acks=all), filling in their coordinates; seconds taken."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    failures: list[Any] = []

    def delivered_to(message: Message) -> Any:
        def callback(error: Any, delivered: Any) -> None:
            if error is not None:
                failures.append(error)
                return
            message.partition, message.offset = delivered.partition(), delivered.offset()

        return callback

    started = time.perf_counter()
    for message in messages:
        while True:
            try:
                producer.produce(
                    topic,
                    value=message.value,
                    key=message.key,
                    headers=message.headers,
                    timestamp=message.timestamp_ms,
                    on_delivery=delivered_to(message),
                )
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    left = producer.flush(60)
    if left or failures:
        raise RuntimeError(f"producing failed: {left} undelivered, errors {failures[:3]}")
    return time.perf_counter() - started


def expected_rows(
    topic: str, messages: Sequence[Message]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The events rows and dead letters a drain of `messages` writes, by the pipeline's own
    functions: parse, flatten, keep the first copy of each event id."""
    first: dict[str, dict[str, Any]] = {}
    dead_letters: list[dict[str, Any]] = []
    for message in messages:
        record = KafkaRecord(
            topic=topic,
            partition=message.partition,
            offset=message.offset,
            value=message.value,
            key=message.key,
            headers=tuple(
                (name, value) for name, value in message.headers if isinstance(value, bytes)
            ),
            timestamp_ms=message.timestamp_ms,
        )
        parsed = parse_record(record)
        if not isinstance(parsed, ParsedEvent):
            dead_letters.append(parsed)
            continue
        flattened = flatten_event(parsed)
        if isinstance(flattened, dict):
            dead_letters.append(flattened)
            continue
        event_id, row = flattened
        kept = first.get(event_id)
        if kept is None or view_order(row) < view_order(kept):
            first[event_id] = row
    return [stamp_inserted_at(row) for row in first.values()], dead_letters


def insert_all(
    client: bigquery.Client, table_id: str, rows: Sequence[dict[str, Any]], **flags: Any
) -> None:
    for start in range(0, len(rows), INSERT_BATCH_SIZE):
        batch = rows[start : start + INSERT_BATCH_SIZE]
        errors = client.insert_rows_json(table_id, batch, **flags)
        if errors:
            raise RuntimeError(f"the emulator refused rows of {table_id}: {errors[:3]}")


def insert_baseline(
    client: bigquery.Client,
    destination: Destination,
    rows: Sequence[dict[str, Any]],
    dead_letters: Sequence[dict[str, Any]],
    **flags: Any,
) -> float:
    """Seconds to insert both lists into fresh tables of `destination`, batch by batch."""
    ensure_destination(client, destination)
    started = time.perf_counter()
    insert_all(client, destination.events, rows, **flags)
    insert_all(client, destination.dead_letters, dead_letters, **flags)
    seconds = time.perf_counter() - started
    inserted = (_count(client, destination.events), _count(client, destination.dead_letters))
    if inserted != (len(rows), len(dead_letters)):
        raise RuntimeError(f"the baseline inserted {inserted}")
    return seconds


@dataclass(frozen=True)
class DrainRun:
    wall_seconds: float
    drain_seconds: float
    peak_rss_mib: float
    runner: str
    counters: dict[str, int]


def run_drain(argv: Sequence[str], log: Path) -> DrainRun:
    """`python -m pipeline` in a child process; its progress lines are echoed."""
    command = [sys.executable, "-m", "pipeline", *argv]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    lines: list[str] = []
    started = time.perf_counter()
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
        assert process.stdout is not None
        with process.stdout:
            for line in process.stdout:
                lines.append(line.rstrip("\n"))
                print(f"    | {lines[-1]}", flush=True)
        # wait4, not wait: its resource usage is this child's alone, peak RSS included.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"the drain exited with {process.returncode}:\n{tail}")
    output = "\n".join(lines)
    runner = re.search(r"record\(s\) to read on (\S+)", output)
    finished = re.search(r"drain finished: \d+ pass\(es\) in ([\d.]+)s", output)
    counters = {name: int(value) for name, value in re.findall(r"^\s+(\w+)\s+(\d+)$", output, re.M)}
    if runner is None or finished is None:
        raise RuntimeError(f"the drain printed no summary:\n{output}")
    return DrainRun(
        wall_seconds=wall,
        drain_seconds=float(finished.group(1)),
        peak_rss_mib=usage.ru_maxrss / 1024,  # KiB on Linux
        runner=runner.group(1),
        counters=counters,
    )


def _count(client: bigquery.Client, table_id: str) -> int:
    (row,) = client.query(f"SELECT COUNT(*) AS n FROM `{table_id}`").result()
    return int(row["n"])


def main() -> None:
    total = int(os.environ.get("BENCH_PIPELINE_EVENTS", str(DEFAULT_EVENTS)))
    settings = StackSettings.from_env()
    project = settings.bigquery_project
    run_id = uuid.uuid4().hex[:8]
    topic = f"bench.pipeline.{run_id}"
    drained = Destination(project, f"bench_drain_{run_id}")
    same_requests = Destination(project, f"bench_insert_{run_id}")
    plain_requests = Destination(project, f"bench_insert_plain_{run_id}")
    messages = sample_messages(total)
    with (
        local_broker(settings) as bootstrap,
        local_emulator(settings) as endpoint,
        tempfile.TemporaryDirectory() as tmp,
    ):
        admin = AdminClient({"bootstrap.servers": bootstrap})
        client = cloud_client(project, endpoint)
        try:
            new = NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)
            admin.create_topics([new])[topic].result(timeout=30)
            produce_seconds = produce(bootstrap, topic, messages)
            rows, dead_letters = expected_rows(topic, messages)
            print(
                f"produced {total} messages to {topic} ({PARTITIONS} partitions) in "
                f"{produce_seconds:.1f} s: {len(rows)} distinct valid events, "
                f"{len(dead_letters)} invalid",
                flush=True,
            )

            print("(a) drain, Kafka -> pipeline -> emulator:", flush=True)
            drain = run_drain(
                [
                    "--mode=drain",
                    f"--bootstrap_servers={bootstrap}",
                    f"--topic={topic}",
                    f"--consumer_group=bench-{run_id}",
                    f"--project={project}",
                    f"--dataset={drained.dataset}",
                    f"--bigquery_endpoint={endpoint}",
                ],
                Path(tmp) / "drain.log",
            )
            written = (_count(client, drained.events), _count(client, drained.dead_letters))
            if written != (len(rows), len(dead_letters)):
                raise RuntimeError(
                    f"the drain wrote {written[0]} events and {written[1]} dead letters, "
                    f"expected {len(rows)} and {len(dead_letters)}"
                )

            print("(b) baseline, insert_rows_json of the same rows ...", flush=True)
            # Beam's streaming insert always asks for skip_invalid_rows, which the emulator
            # serves far more slowly; the client's defaults are shown beside it.
            insert_seconds = insert_baseline(
                client, same_requests, rows, dead_letters, skip_invalid_rows=True
            )
            plain_seconds = insert_baseline(client, plain_requests, rows, dead_letters)
        finally:
            for destination in (drained, same_requests, plain_requests):
                client.delete_dataset(destination.dataset, delete_contents=True, not_found_ok=True)
            client.close()  # type: ignore[no-untyped-call]
            admin.delete_topics([topic])[topic].result(timeout=30)

    drain_rate = total / drain.drain_seconds
    insert_rate = total / insert_seconds
    plain_rate = total / plain_seconds
    writes = len(rows) + len(dead_letters)
    print(
        f"{total} events in: {len(rows)} rows + {len(dead_letters)} dead letters written, "
        f"{drain.counters.get('duplicates_dropped', 0)} duplicates dropped; runner "
        f"{drain.runner}; insert batches of {INSERT_BATCH_SIZE}; {os.cpu_count()} cores shared "
        "with the broker and the emulator"
    )
    print(
        f"(a) drain, Kafka -> emulator                 {drain_rate:>7,.0f} events/s   "
        f"({drain.drain_seconds:.1f} s in the drain; {drain.wall_seconds:.1f} s wall with "
        f"start-up: {total / drain.wall_seconds:,.0f} events/s)"
    )
    print(
        f"(b) insert_rows_json, Beam's request flags   {insert_rate:>7,.0f} events/s   "
        f"({insert_seconds:.1f} s, {writes / insert_seconds:,.0f} rows/s; skip_invalid_rows)"
    )
    print(
        f"    insert_rows_json, client defaults        {plain_rate:>7,.0f} events/s   "
        f"({plain_seconds:.1f} s, {writes / plain_seconds:,.0f} rows/s)"
    )
    print(
        f"ratio a/b: {drain_rate / insert_rate:.2f}  (a / client defaults: "
        f"{drain_rate / plain_rate:.2f})"
    )
    print(f"drain peak RSS: {drain.peak_rss_mib:.0f} MiB")


if __name__ == "__main__":
    main()
