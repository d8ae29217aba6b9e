"""The whole system under load and under faults.

Simulator -> receiver -> Kafka -> streaming pipeline (Prism) -> BigQuery
emulator, each a real process started the way `make run` starts it. Each
test has a broker of its own (so that stopping it disturbs no other test), a
dataset of its own on the shared emulator, and its own receiver and pipeline.

What every test checks, as a BI user would: each event acked with 200 is in
the deduplicated view exactly once (lost: 0, duplicates: 0), and each
malformed body is on the rejected topic or in the dead-letter table.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition

from infra.local.kafka import KafkaBroker
from infra.local.pipeline_service import StreamingPipeline
from infra.local.prism import fetch_prism
from infra.local.receiver_service import ReceiverService
from infra.local.settings import RAW_TOPIC, REJECTED_TOPIC, REPO_ROOT, StackSettings
from infra.local.verify import (
    SimulatorRun,
    copies_in,
    read_report,
    run_simulator,
    simulator_command,
    wait_for_events,
)
from pipeline.views import DEDUPLICATED_VIEW

pytestmark = pytest.mark.integration

TOKEN = "system-test-token-7f3a"
# How long acked events may take to become queryable once the load is over
# (the freshness bar is 10 s at p95; restarts add Prism's start-up).
ROWS_TIMEOUT_SECONDS = 180.0
SIMULATOR_DEFAULTS = ("--no-retry-rejected", "--backoff-max", "2", "--concurrency", "8")


@dataclass
class System:
    broker: KafkaBroker
    receiver: ReceiverService
    pipeline: StreamingPipeline
    client: Any
    dataset: str
    workdir: Path

    @property
    def view(self) -> str:
        return f"{self.pipeline.project}.{self.dataset}.{DEDUPLICATED_VIEW}"

    @property
    def events_table(self) -> str:
        return f"{self.pipeline.project}.{self.dataset}.events"

    def spooled_records(self) -> float:
        """Records the receiver has written to its spool since it started (its metrics)."""
        text = httpx.get(f"{self.receiver.url}/metrics", timeout=5).text
        pattern = r'^receiver_records_stored_total{[^}]*store="spool"[^}]*} (\S+)$'
        return sum(float(m.group(1)) for m in re.finditer(pattern, text, re.MULTILINE))

    def simulate(self, *arguments: str, name: str = "report") -> SimulatorRun:
        return run_simulator(
            f"{self.receiver.url}/tapcart_webhooks",
            TOKEN,
            self.workdir / f"{name}.json",
            [*SIMULATOR_DEFAULTS, *arguments],
        )

    def simulate_in_background(
        self, *arguments: str, name: str = "report"
    ) -> Callable[[], SimulatorRun]:
        """Start the simulator; the returned function waits for it and reads its report."""
        report = self.workdir / f"{name}.json"
        command = simulator_command(
            f"{self.receiver.url}/tapcart_webhooks",
            TOKEN,
            report,
            [*SIMULATOR_DEFAULTS, *arguments],
        )
        log = (self.workdir / f"{name}.log").open("wb")
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)

        def finish() -> SimulatorRun:
            code = process.wait(timeout=900)
            log.close()
            return read_report(report, code)

        return finish


@pytest.fixture
def system(
    kafka_broker_factory: Callable[..., KafkaBroker],
    bigquery_endpoint: str,
    bigquery_client: Any,
    stack_settings: StackSettings,
    free_port: Callable[[], int],
    tmp_path: Path,
) -> Iterator[System]:
    broker = kafka_broker_factory()
    dataset = f"system_{uuid.uuid4().hex[:10]}"
    receiver = ReceiverService(
        port=free_port(),
        bootstrap=broker.bootstrap,
        state_dir=tmp_path / "receiver",
        token=TOKEN,
        # Short, so that a broker outage reaches the spool quickly.
        extra_env={"RECEIVER_DELIVERY_TIMEOUT_SECONDS": "2"},
    )
    pipeline = StreamingPipeline(
        bootstrap=broker.bootstrap,
        bigquery_endpoint=bigquery_endpoint,
        project=stack_settings.bigquery_project,
        dataset=dataset,
        prism_binary=fetch_prism(stack_settings.cache_dir),
        state_dir=tmp_path / "pipeline",
        consumer_group=f"system-{dataset}",
    )
    receiver.start()
    pipeline.start()
    try:
        yield System(broker, receiver, pipeline, bigquery_client, dataset, tmp_path)
    finally:
        pipeline.stop()
        receiver.stop()
        bigquery_client.delete_dataset(
            f"{stack_settings.bigquery_project}.{dataset}", delete_contents=True, not_found_ok=True
        )


def rejected_bodies(bootstrap: str) -> set[str]:
    """SHA-256 of every record on the rejected topic."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"system-test-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    try:
        metadata = consumer.list_topics(REJECTED_TOPIC, timeout=10)
        partitions = list(metadata.topics[REJECTED_TOPIC].partitions)
        bodies: set[str] = set()
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(REJECTED_TOPIC, partition), timeout=10
            )
            if high <= low:
                continue
            consumer.assign([TopicPartition(REJECTED_TOPIC, partition, low)])
            offset = low
            while offset < high:
                message = consumer.poll(5)
                assert message is not None, f"{REJECTED_TOPIC}[{partition}] stopped at {offset}"
                assert message.error() is None, message.error()
                bodies.add(hashlib.sha256(message.value() or b"").hexdigest())
                offset = (message.offset() or 0) + 1
        return bodies
    finally:
        consumer.close()


def dead_letter_bodies(system: System) -> set[str]:
    table = f"{system.pipeline.project}.{system.dataset}.events_dead_letter"
    rows = system.client.query(f"SELECT raw_payload_bytes FROM `{table}`").result()
    return {hashlib.sha256(row["raw_payload_bytes"] or b"").hexdigest() for row in rows}


def raw_record_count(bootstrap: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "system-test-count"})
    try:
        metadata = consumer.list_topics(RAW_TOPIC, timeout=10)
        total = 0
        for partition in metadata.topics[RAW_TOPIC].partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(RAW_TOPIC, partition), timeout=10
            )
            total += high - low
        return total
    finally:
        consumer.close()


def check_nothing_lost_or_doubled(system: System, run: SimulatorRun, label: str) -> None:
    """The assertions every test shares, and one line of figures for the record."""
    acked = run.acked_event_ids
    assert acked, "the simulator got nothing acked"
    assert run.unacked_event_ids == set(), "events the receiver never acked (see the report)"
    in_view = wait_for_events(system.client, system.view, acked, ROWS_TIMEOUT_SECONDS)
    lost = acked - set(in_view)
    doubled = {event_id: n for event_id, n in in_view.items() if n != 1}
    rows = sum(copies_in(system.client, system.events_table, acked).values())
    malformed = run.malformed_bodies
    kept = rejected_bodies(system.broker.bootstrap) | dead_letter_bodies(system)
    print(
        f"\n[{label}] sent {run.count('event')} events + {run.count('duplicate')} duplicate "
        f"deliveries + {len(malformed)} malformed; acked {len(acked)} distinct; raw records "
        f"{raw_record_count(system.broker.bootstrap)}; rows in events {rows}; in view "
        f"{len(in_view)}; malformed kept {len(malformed & kept)}; lost {len(lost)}; "
        f"duplicates in view {len(doubled)}"
    )
    assert lost == set(), f"{len(lost)} acked events are not in the view, e.g. {sorted(lost)[:3]}"
    assert doubled == {}, f"events more than once in the view: {list(doubled.items())[:3]}"
    assert malformed <= kept, f"{len(malformed - kept)} malformed bodies were not kept anywhere"


def test_every_acked_event_is_in_the_view_exactly_once(system: System) -> None:
    run = system.simulate(
        "--count", "400", "--rate", "80", "--duplicates", "0.1", "--malformed", "0.05"
    )
    assert run.count("malformed") > 0 and run.count("duplicate") > 0
    check_nothing_lost_or_doubled(system, run, "end to end")


def test_a_broker_outage_during_the_load_loses_nothing(system: System) -> None:
    finish = system.simulate_in_background(
        "--duration", "25", "--rate", "20", "--duplicates", "0.05", "--malformed", "0.02"
    )
    time.sleep(6)
    system.broker.stop()
    time.sleep(10)  # the receiver answers from its spool meanwhile
    system.broker.start()
    run = finish()
    assert system.spooled_records() > 0, "the outage did not reach the spool"
    check_nothing_lost_or_doubled(system, run, "broker outage")


def test_a_killed_pipeline_restarts_without_loss_or_duplicates(system: System) -> None:
    finish = system.simulate_in_background(
        "--duration", "25", "--rate", "20", "--duplicates", "0.05"
    )
    time.sleep(8)
    assert system.pipeline.kill()
    time.sleep(4)
    system.pipeline.start()
    run = finish()
    # Rows written before the kill whose offsets were not yet committed are read again:
    # the events table holds extra copies, the view must not.
    check_nothing_lost_or_doubled(system, run, "pipeline killed")


def test_a_killed_receiver_drains_its_spool_after_a_restart(system: System) -> None:
    system.broker.stop()
    # With the broker down every event is answered from the spool.
    spooled = system.simulate("--count", "60", "--rate", "30", name="spooled")
    assert len(spooled.acked_event_ids) == 60
    assert system.spooled_records() >= 60
    assert system.receiver.kill()
    system.broker.start()
    system.receiver.start()
    after = system.simulate("--count", "60", "--rate", "30", name="after")
    run = SimulatorRun(
        {"deliveries": spooled.deliveries + after.deliveries}, spooled.exit_code or after.exit_code
    )
    check_nothing_lost_or_doubled(system, run, "receiver killed with a spool")
