"""Smoke tests against the real Kafka broker of the local stack."""

from __future__ import annotations

import uuid

import psutil
import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from infra.local.settings import TOPICS

pytestmark = pytest.mark.integration


def _port(bootstrap: str) -> int:
    return int(bootstrap.split(",")[0].rsplit(":", 1)[1])


def _new_topic(bootstrap: str, partitions: int = 1) -> str:
    name = f"test.smoke.{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[
        name
    ].result(timeout=30)
    return name


def _consumer(bootstrap: str, group: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )


def _poll_values(consumer: Consumer, count: int, timeout_s: float = 30.0) -> list[Message]:
    messages: list[Message] = []
    for _ in range(int(timeout_s * 10)):
        if len(messages) == count:
            break
        message = consumer.poll(0.1)
        if message is None:
            continue
        assert message.error() is None, message.error()
        messages.append(message)
    return messages


def test_the_client_port_is_served_by_a_java_kafka_broker(kafka_bootstrap: str) -> None:
    port = _port(kafka_bootstrap)
    listeners = [
        c for c in psutil.net_connections("tcp") if c.status == "LISTEN" and c.laddr.port == port
    ]
    assert listeners, f"nothing listens on port {port}"
    process = psutil.Process(listeners[0].pid)
    assert process.name() == "java"
    assert "kafka.Kafka" in process.cmdline()


def test_the_project_topics_exist(kafka_bootstrap: str) -> None:
    metadata = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10)
    for topic in TOPICS:
        assert topic in metadata.topics
        assert len(metadata.topics[topic].partitions) >= 1


def test_a_consumer_group_resumes_at_its_committed_offset(kafka_bootstrap: str) -> None:
    topic = _new_topic(kafka_bootstrap)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all"})
    for n in range(10):
        producer.produce(topic, key=f"k{n}", value=f"event-{n}".encode())
    assert producer.flush(30) == 0

    group = f"smoke-{uuid.uuid4().hex[:8]}"
    first = _consumer(kafka_bootstrap, group)
    first.subscribe([topic])
    read = _poll_values(first, 4)
    assert [m.value() for m in read] == [f"event-{n}".encode() for n in range(4)]
    # Commit what was processed, then go away as a crashed worker would.
    first.commit(message=read[-1], asynchronous=False)
    first.close()

    second = _consumer(kafka_bootstrap, group)
    second.subscribe([topic])
    rest = _poll_values(second, 6)
    second.close()
    assert [m.value() for m in rest] == [f"event-{n}".encode() for n in range(4, 10)]
    assert [m.offset() for m in rest] == list(range(4, 10))

    committed = _consumer(kafka_bootstrap, group).committed([TopicPartition(topic, 0)], timeout=10)
    assert committed[0].offset == 4
