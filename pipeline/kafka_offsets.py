"""Where each partition's read starts and stops, and committing offsets.

Kafka's committed offset is the next offset to read: after the record at
offset N is written, the group commits N + 1.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

_LOGGER = logging.getLogger(__name__)

# The end of an unbounded restriction; any real offset is smaller.
UNBOUNDED_STOP = 2**63 - 1

METADATA_TIMEOUT_SECONDS = 30.0

# Answers of a group coordinator that is moving or still loading the offsets topic (a
# broker that just started, a leader change): the same call succeeds a moment later.
COORDINATOR_NOT_READY = frozenset(
    {
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError._WAIT_COORD,
    }
)
RETRY_PAUSE_SECONDS = 0.5

_T = TypeVar("_T")


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


def _not_ready(error: KafkaError | None) -> bool:
    return error is not None and (error.code() in COORDINATOR_NOT_READY or error.retriable())


def until_coordinator_ready(
    call: Callable[[], _T],
    what: str,
    timeout: float = METADATA_TIMEOUT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> _T:
    """`call()`, again while the group coordinator is not ready, for up to `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except KafkaException as exception:
            error = exception.args[0] if exception.args else None
            if not isinstance(error, KafkaError) or not _not_ready(error):
                raise
            if time.monotonic() >= deadline:
                raise
            _LOGGER.info("%s: %s; trying again", what, error.str())
            sleep(RETRY_PAUSE_SECONDS)


def committed_positions(consumer: Consumer, topic: str, partitions: Iterable[int]) -> list[Any]:
    """The group's committed `TopicPartition`s, waiting for a coordinator that is not ready."""
    wanted = [TopicPartition(topic, p) for p in partitions]

    def ask() -> list[Any]:
        answers: list[Any] = consumer.committed(wanted, timeout=METADATA_TIMEOUT_SECONDS)
        for tp in answers:
            if tp.error is not None:
                raise KafkaException(tp.error)
        return answers

    return until_coordinator_ready(ask, f"committed offsets of {topic}")


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
    ranges = []
    for tp in committed_positions(consumer, topic, partitions):
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

    def send() -> None:
        results = consumer.commit(offsets=offsets, asynchronous=False)
        for tp in results or []:
            if tp.error is not None:
                raise KafkaException(tp.error)

    # Committing the same offsets again is harmless, so a coordinator move is waited out.
    until_coordinator_ready(send, "commit")


def committed_offsets(consumer: Consumer, topic: str) -> dict[int, int]:
    """The group's committed next offset per partition (-1001 when none)."""
    partitions = partitions_of(consumer, topic)
    return {tp.partition: tp.offset for tp in committed_positions(consumer, topic, partitions)}
