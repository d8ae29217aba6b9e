"""The production topic definitions checked and applied by real Kafka brokers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import replace

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from infra.kafka.topics import (
    EXISTS,
    VALID,
    TopicSpec,
    admin_client,
    apply,
    load_topics,
    validate_on_cluster,
)
from infra.local.kafka import KafkaBroker

pytestmark = pytest.mark.integration


def _renamed(prefix: str) -> list[TopicSpec]:
    return [replace(spec, name=f"{prefix}.{spec.name}") for spec in load_topics()]


def _configs_once_propagated(
    admin: AdminClient, expected: dict[str, dict[str, str]], timeout: float = 15.0
) -> dict[str, dict[str, str]]:
    """The topics' values of the expected keys, polled until they match (KRaft is async)."""
    deadline = time.monotonic() + timeout
    while True:
        resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in expected]
        described = {
            resource.name: future.result(timeout=10)
            for resource, future in admin.describe_configs(resources).items()
        }
        found = {
            name: {key: described[name][key].value for key in keys}
            for name, keys in expected.items()
        }
        if found == expected or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def _partitions_once_propagated(
    admin: AdminClient, expected: dict[str, int], timeout: float = 15.0
) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        topics = admin.list_topics(timeout=10).topics
        found = {name: len(topics[name].partitions) for name in expected}
        if found == expected or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_broker_accepts_every_config_of_the_definitions(kafka_bootstrap: str) -> None:
    # validate_only creates nothing; fresh names so that "exists" cannot hide a bad config.
    specs = _renamed(f"test.infra.{uuid.uuid4().hex[:8]}")
    admin = admin_client(kafka_bootstrap)
    # The local broker is one node: replication 1 here, 3 in production.
    verdicts = validate_on_cluster(admin, specs, replication_factor=1)
    assert verdicts == {spec.name: VALID for spec in specs}
    assert not {spec.name for spec in specs} & set(admin.list_topics(timeout=10).topics)


def test_broker_refuses_a_bad_config_and_too_few_brokers(kafka_bootstrap: str) -> None:
    (raw, _) = _renamed(f"test.infra.{uuid.uuid4().hex[:8]}")
    admin = admin_client(kafka_bootstrap)
    typo = replace(raw, configs={**raw.configs, "retention.mss": "1"})
    assert "retention.mss" in validate_on_cluster(admin, [typo], replication_factor=1)[typo.name]
    # Replication 3 cannot be met by one broker: the check is the broker's own.
    assert "INVALID_REPLICATION_FACTOR" in validate_on_cluster(admin, [raw])[raw.name]


def test_apply_brings_existing_topics_to_the_definitions(
    kafka_broker_factory: Callable[..., KafkaBroker],
) -> None:
    # A private broker: its topics exist with 3 partitions and default configs.
    broker = kafka_broker_factory()
    admin = admin_client(broker.bootstrap)
    specs = load_topics()
    assert validate_on_cluster(admin, specs, replication_factor=1) == {
        spec.name: EXISTS for spec in specs
    }
    done = apply(admin, specs)
    assert any(line.startswith("raised partitions of tapcart.events.raw") for line in done)
    expected_partitions = {spec.name: spec.partitions for spec in specs}
    assert _partitions_once_propagated(admin, expected_partitions) == expected_partitions
    expected = {spec.name: spec.configs for spec in specs}
    assert _configs_once_propagated(admin, expected) == expected
    # A second run changes no partition count.
    assert not [line for line in apply(admin, specs) if "partitions" in line]
