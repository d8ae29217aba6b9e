"""Where each partition's read starts and stops, and committing offsets.

Kafka's committed offset is the next offset to read: after the record at
offset N is written, the group commits N + 1.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

_LOGGER = logging.getLogger(__name__)

# The end of an unbounded restriction; any real offset is smaller.
UNBOUNDED_STOP = 2**63 - 1

METADATA_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class PartitionRange:
    """Offsets [start, stop) of one partition; stop UNBOUNDED_STOP in streaming mode."""

    topic: str
    partition: int
    start: int
    stop: int

    @property
    def size(self) -> int:
        return max(0, self.stop - self.start)


def consumer_config(bootstrap_servers: str, group_id: str, **extra: Any) -> dict[str, Any]:
    """Settings for a consumer that never commits on its own."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": True,
    }
    config.update(extra)
    return config


def partitions_of(consumer: Consumer, topic: str) -> list[int]:
    metadata = consumer.list_topics(topic, timeout=METADATA_TIMEOUT_SECONDS)
    topic_metadata = metadata.topics.get(topic)
    if topic_metadata is None or topic_metadata.error is not None:
        error = topic_metadata.error if topic_metadata is not None else "not found"
        raise RuntimeError(f"Kafka topic {topic!r} is not available: {error}")
    return sorted(topic_metadata.partitions)


def starting_ranges(consumer: Consumer, topic: str, bounded: bool) -> list[PartitionRange]:
    """One range per partition: from the group's committed offset (else the
    earliest offset kept) to the end offset now (bounded) or without end."""
    partitions = partitions_of(consumer, topic)
    committed = consumer.committed(
        [TopicPartition(topic, p) for p in partitions], timeout=METADATA_TIMEOUT_SECONDS
    )
    ranges = []
    for tp in committed:
        if tp.error is not None:
            raise KafkaException(tp.error)
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, tp.partition), timeout=METADATA_TIMEOUT_SECONDS
        )
        start = tp.offset if tp.offset >= 0 else low
        if start < low:
            # Retention deleted records the group never read: say so, read what is left.
            _LOGGER.warning(
                "partition %s: committed offset %s is below the earliest kept offset %s; "
                "records %s..%s were deleted by retention before this group read them",
                tp.partition,
                start,
                low,
                start,
                low - 1,
            )
            start = low
        stop = max(high, start) if bounded else UNBOUNDED_STOP
        ranges.append(PartitionRange(topic, tp.partition, start, stop))
    return sorted(ranges, key=lambda r: r.partition)


def next_pass(remaining: Iterable[PartitionRange], max_records: int) -> list[PartitionRange]:
    """The ranges of one drain pass: at most `max_records` in all, shared out
    evenly between the partitions that still have records (at least one each)."""
    pending = [r for r in remaining if r.size > 0]
    if not pending:
        return []
    taken = []
    budget = max(max_records, len(pending))
    # Smallest backlogs first, so that their unused share goes to the others.
    for index, r in enumerate(sorted(pending, key=lambda r: r.size)):
        left = len(pending) - index
        share = max(1, budget // left)
        count = min(r.size, share)
        budget -= count
        taken.append(PartitionRange(r.topic, r.partition, r.start, r.start + count))
    return sorted(taken, key=lambda r: r.partition)


def after_pass(
    remaining: Iterable[PartitionRange], done: Iterable[PartitionRange]
) -> list[PartitionRange]:
    """What is left of `remaining` once the ranges of a pass are written."""
    done_stop = {(r.topic, r.partition): r.stop for r in done}
    return [
        PartitionRange(r.topic, r.partition, done_stop.get((r.topic, r.partition), r.start), r.stop)
        for r in remaining
    ]


def commit(consumer: Consumer, next_offsets: Mapping[tuple[str, int], int]) -> None:
    """Commit, synchronously, the next offset to read of each (topic, partition)."""
    if not next_offsets:
        return
    offsets = [TopicPartition(t, p, o) for (t, p), o in sorted(next_offsets.items())]
    results = consumer.commit(offsets=offsets, asynchronous=False)
    for tp in results or []:
        if tp.error is not None:
            raise KafkaException(tp.error)


def committed_offsets(consumer: Consumer, topic: str) -> dict[int, int]:
    """The group's committed next offset per partition (-1001 when none)."""
    partitions = partitions_of(consumer, topic)
    committed = consumer.committed(
        [TopicPartition(topic, p) for p in partitions], timeout=METADATA_TIMEOUT_SECONDS
    )
    return {tp.partition: tp.offset for tp in committed}
