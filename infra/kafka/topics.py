"""The production topic definitions, and how they reach a cluster.

`topics.json` is the one place the partitions, replication and retention of the
production topics are written down. `apply` makes a cluster match it without
ever deleting data: it creates missing topics, raises partition counts and sets
configs; it never lowers a partition count (Kafka cannot) or drops a topic.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

TOPICS_FILE = Path(__file__).with_name("topics.json")


@dataclass(frozen=True)
class TopicSpec:
    name: str
    description: str
    partitions: int
    replication_factor: int
    configs: dict[str, str] = field(default_factory=dict)

    def new_topic(self, replication_factor: int | None = None) -> NewTopic:
        """The admin-client request that creates this topic.

        `replication_factor` overrides the definition, for checking the configs on a
        cluster with fewer brokers than production (the local single-node broker).
        """
        return NewTopic(
            self.name,
            num_partitions=self.partitions,
            replication_factor=replication_factor or self.replication_factor,
            config=dict(self.configs),
        )


def load_topics(path: Path = TOPICS_FILE) -> list[TopicSpec]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return [
        TopicSpec(
            name=str(entry["name"]),
            description=str(entry["description"]),
            partitions=int(entry["partitions"]),
            replication_factor=int(entry["replication_factor"]),
            configs={str(key): str(value) for key, value in entry["configs"].items()},
        )
        for entry in document["topics"]
    ]


def admin_client(bootstrap_servers: str, extra: dict[str, str] | None = None) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap_servers, **(extra or {})})


VALID = "valid"
EXISTS = "exists"


def validate_on_cluster(
    admin: AdminClient,
    specs: Sequence[TopicSpec],
    *,
    replication_factor: int | None = None,
    timeout: float = 30.0,
) -> dict[str, str]:
    """Ask the brokers to check each creation without doing it.

    Returns topic -> VALID, EXISTS (a topic of that name is there; `apply` updates
    it) or the broker's error. The broker checks every config name and value, the
    partition count and the replication factor against its live brokers; nothing
    is created.
    """
    futures = admin.create_topics(
        [spec.new_topic(replication_factor) for spec in specs],
        validate_only=True,
        request_timeout=timeout,
    )
    verdicts: dict[str, str] = {}
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            verdicts[name] = VALID
        except KafkaException as exc:
            error = exc.args[0]
            verdicts[name] = EXISTS if error.name() == "TOPIC_ALREADY_EXISTS" else str(error)
    return verdicts


def apply(admin: AdminClient, specs: Sequence[TopicSpec], *, timeout: float = 30.0) -> list[str]:
    """Make the cluster match the definitions; returns what was done, one line per change."""
    existing = admin.list_topics(timeout=timeout).topics
    done: list[str] = []
    missing = [spec for spec in specs if spec.name not in existing]
    if missing:
        created = admin.create_topics(
            [spec.new_topic() for spec in missing], request_timeout=timeout
        )
        for name, future in created.items():
            future.result(timeout=timeout)
            done.append(f"created {name}")
    grow = [
        spec
        for spec in specs
        if spec.name in existing and len(existing[spec.name].partitions) < spec.partitions
    ]
    if grow:
        grown = admin.create_partitions(
            [NewPartitions(spec.name, spec.partitions) for spec in grow], request_timeout=timeout
        )
        for name, future in grown.items():
            future.result(timeout=timeout)
            done.append(f"raised partitions of {name}")
    present = [spec for spec in specs if spec.name in existing]
    if present:
        altered = admin.incremental_alter_configs(
            [_config_resource(spec) for spec in present], request_timeout=timeout
        )
        for resource, future in altered.items():
            future.result(timeout=timeout)
            done.append(f"set configs of {resource.name}")
    for spec in present:
        if len(existing[spec.name].partitions) > spec.partitions:
            done.append(
                f"left {spec.name} at {len(existing[spec.name].partitions)} partitions "
                f"(more than the {spec.partitions} defined; Kafka cannot lower it)"
            )
    return done


def kafka_topics_commands(specs: Iterable[TopicSpec], bootstrap_servers: str) -> list[str]:
    """The same definitions as Kafka's own command-line tools, for operators without Python."""
    commands = []
    for spec in specs:
        words = [
            "kafka-topics.sh",
            "--bootstrap-server",
            bootstrap_servers,
            "--create",
            "--if-not-exists",
            "--topic",
            spec.name,
            "--partitions",
            str(spec.partitions),
            "--replication-factor",
            str(spec.replication_factor),
        ]
        for key, value in spec.configs.items():
            words += ["--config", f"{key}={value}"]
        commands.append(shlex.join(words))
        alter = [
            "kafka-configs.sh",
            "--bootstrap-server",
            bootstrap_servers,
            "--alter",
            "--entity-type",
            "topics",
            "--entity-name",
            spec.name,
            "--add-config",
            ",".join(f"{key}={value}" for key, value in spec.configs.items()),
        ]
        commands.append(shlex.join(alter))
    return commands


def _config_resource(spec: TopicSpec) -> ConfigResource:
    entries = [
        ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
        for key, value in spec.configs.items()
    ]
    return ConfigResource(ConfigResource.Type.TOPIC, spec.name, incremental_configs=entries)
