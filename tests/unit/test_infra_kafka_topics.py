"""The production topic definitions (infra/kafka/topics.json) and their command-line form."""

from __future__ import annotations

import shlex

from infra.kafka.topics import kafka_topics_commands, load_topics
from infra.local.settings import TOPICS
from pipeline.options import RAW_TOPIC
from receiver.config import DEFAULT_RAW_TOPIC, DEFAULT_REJECTED_TOPIC

DAY_MS = 24 * 60 * 60 * 1000


def test_the_production_topics_are_the_ones_the_code_uses() -> None:
    names = [spec.name for spec in load_topics()]
    assert names == [DEFAULT_RAW_TOPIC, DEFAULT_REJECTED_TOPIC]
    assert set(names) == set(TOPICS)
    assert RAW_TOPIC == DEFAULT_RAW_TOPIC


def test_every_topic_survives_a_broker_loss_without_losing_acknowledged_writes() -> None:
    for spec in load_topics():
        assert spec.replication_factor == 3
        # acks=all waits for min.insync.replicas; 2 of 3 keeps writing through one broker down.
        assert spec.configs["min.insync.replicas"] == "2"
        assert spec.configs["unclean.leader.election.enable"] == "false"


def test_retention_allows_replaying_a_day_noticed_late() -> None:
    for spec in load_topics():
        retention = int(spec.configs["retention.ms"])
        # A day to replay, after a weekend to notice: at least 3 days; no size cap.
        assert retention >= 3 * DAY_MS
        assert spec.configs["retention.bytes"] == "-1"
        assert int(spec.configs["segment.ms"]) <= DAY_MS


def test_messages_fit_the_receiver_body_limit() -> None:
    from receiver.config import Settings

    for spec in load_topics():
        assert int(spec.configs["max.message.bytes"]) > Settings().max_body_bytes + 16_384


def test_raw_topic_has_room_for_the_pipeline_to_scale() -> None:
    # Kafka partitions bound how many workers read in parallel; raising them later reorders keys.
    (raw,) = [spec for spec in load_topics() if spec.name == DEFAULT_RAW_TOPIC]
    assert raw.partitions >= 12


def test_commands_create_and_configure_each_topic() -> None:
    specs = load_topics()
    commands = [shlex.split(line) for line in kafka_topics_commands(specs, "kafka:9092")]
    creates = [words for words in commands if words[0] == "kafka-topics.sh"]
    assert len(creates) == len(specs)
    for spec, words in zip(specs, creates, strict=True):
        assert words[words.index("--topic") + 1] == spec.name
        assert words[words.index("--replication-factor") + 1] == "3"
        configs = [words[i + 1] for i, word in enumerate(words) if word == "--config"]
        assert configs == [f"{key}={value}" for key, value in spec.configs.items()]
