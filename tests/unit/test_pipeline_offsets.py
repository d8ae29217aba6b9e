"""Planning drain passes over partition ranges, and the reader's split and time rules."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from apache_beam.io.restriction_trackers import OffsetRange
from apache_beam.utils.timestamp import Timestamp
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from pipeline import kafka_offsets
from pipeline.kafka_offsets import (
    UNBOUNDED_STOP,
    PartitionRange,
    after_pass,
    commit,
    next_pass,
    starting_ranges,
)
from pipeline.kafka_read import PartitionTracker, read_time_of, record_from_beam_row
from pipeline.kafka_records import KafkaRecord, received_at_of

TOPIC = "tapcart.events.raw"


def ranges(*spans: tuple[int, int]) -> list[PartitionRange]:
    return [PartitionRange(TOPIC, p, start, stop) for p, (start, stop) in enumerate(spans)]


def test_a_pass_takes_everything_when_the_backlog_fits() -> None:
    backlog = ranges((0, 1700), (10, 1610), (5, 1705))
    assert next_pass(backlog, 100_000) == backlog


def test_a_pass_shares_its_budget_and_gives_unused_share_to_bigger_backlogs() -> None:
    backlog = ranges((0, 100), (0, 1000), (0, 1000))
    first = next_pass(backlog, 900)
    assert [r.size for r in first] == [100, 400, 400]
    assert sum(r.size for r in first) == 900


def test_passes_cover_every_offset_once_and_then_stop() -> None:
    remaining = ranges((3, 1003), (0, 0), (50, 777))
    seen: dict[int, list[tuple[int, int]]] = {0: [], 1: [], 2: []}
    passes = 0
    while chunk := next_pass(remaining, 250):
        passes += 1
        for r in chunk:
            seen[r.partition].append((r.start, r.stop))
        remaining = after_pass(remaining, chunk)
    assert passes == 7
    for partition, (start, stop) in enumerate([(3, 1003), (0, 0), (50, 777)]):
        spans = seen[partition]
        assert [s for s, _ in spans[1:]] == [e for _, e in spans[:-1]]  # contiguous
        if stop > start:
            assert (spans[0][0], spans[-1][1]) == (start, stop)
        else:
            assert spans == []


def test_a_partition_range_is_split_only_to_checkpoint() -> None:
    tracker = PartitionTracker(OffsetRange(10, UNBOUNDED_STOP))
    assert not tracker.is_bounded()
    assert tracker.try_claim(10)
    # Prism asks for fractional splits; reading a partition in pieces gains nothing.
    assert tracker.try_split(0.5) is None
    primary, residual = tracker.try_split(0)
    assert (primary.start, primary.stop) == (10, 11)
    assert (residual.start, residual.stop) == (11, UNBOUNDED_STOP)
    assert PartitionTracker(OffsetRange(0, 5)).is_bounded()


def record(headers: dict[str, str], timestamp_ms: int | None = None) -> KafkaRecord:
    return KafkaRecord(
        TOPIC,
        0,
        1,
        b"{}",
        headers=tuple((k, v.encode()) for k, v in headers.items()),
        timestamp_ms=timestamp_ms,
    )


def test_read_time_is_received_at_but_never_behind_the_watermark() -> None:
    received = record({"received_at": "2026-11-30T12:00:00.500000Z"})
    stamp = Timestamp.from_utc_datetime(datetime(2026, 11, 30, 12, 0, 0, 500000, tzinfo=UTC))
    assert read_time_of(received, None) == stamp
    assert read_time_of(received, stamp - 5) == stamp
    later_watermark = stamp + 60
    assert read_time_of(received, later_watermark) == later_watermark


@pytest.mark.parametrize("header", ["", "yesterday", "2026-11-30T12:00:00"])
def test_an_unreadable_received_at_header_falls_back_to_the_broker_time(header: str) -> None:
    fallback = record({"received_at": header}, timestamp_ms=1_796_000_000_000)
    assert received_at_of(fallback) == datetime.fromtimestamp(1_796_000_000, tz=UTC)


def test_rows_from_beams_kafka_io_become_kafka_records() -> None:
    import apache_beam as beam

    header = beam.Row(key="received_at", value=b"2026-11-30T12:00:00.000000Z")
    row = beam.Row(
        topic=TOPIC,
        partition=2,
        offset=41,
        key=b"evt-1",
        value=b'{"event_id": "evt-1"}',
        headers=[header],
        timestamp=1_796_000_000_000,
    )
    converted = record_from_beam_row(row)
    assert converted == KafkaRecord(
        TOPIC,
        2,
        41,
        b'{"event_id": "evt-1"}',
        key=b"evt-1",
        headers=(("received_at", b"2026-11-30T12:00:00.000000Z"),),
        timestamp_ms=1_796_000_000_000,
    )


class NewBrokerConsumer:
    """A consumer of a broker that just started: its group coordinator is not ready at first."""

    def __init__(self, not_ready: int, error: int = KafkaError.NOT_COORDINATOR) -> None:
        self.not_ready = not_ready
        self.error = error
        self.calls = 0

    def _answer(self) -> None:
        self.calls += 1
        if self.calls <= self.not_ready:
            raise KafkaException(KafkaError(self.error))

    def list_topics(self, topic: str, timeout: float) -> Any:
        partitions = SimpleNamespace(partitions={0: None, 1: None}, error=None)
        return SimpleNamespace(topics={topic: partitions})

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[Any]:
        self._answer()
        return [TopicPartition(tp.topic, tp.partition, -1001) for tp in partitions]

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float) -> tuple[int, int]:
        return 0, 10 + tp.partition

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> list[Any]:
        self._answer()
        return offsets


@pytest.fixture
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka_offsets, "RETRY_PAUSE_SECONDS", 0.0)


@pytest.mark.usefixtures("no_pause")
@pytest.mark.parametrize(
    "error",
    [KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS],
)
def test_planning_waits_for_a_group_coordinator_that_is_not_ready(error: int) -> None:
    consumer = NewBrokerConsumer(not_ready=2, error=error)
    planned = starting_ranges(consumer, TOPIC, bounded=True)  # type: ignore[arg-type]
    assert planned == [PartitionRange(TOPIC, 0, 0, 10), PartitionRange(TOPIC, 1, 0, 11)]
    assert consumer.calls == 3


@pytest.mark.usefixtures("no_pause")
def test_a_commit_waits_for_a_group_coordinator_that_is_not_ready() -> None:
    consumer = NewBrokerConsumer(not_ready=1)
    commit(consumer, {(TOPIC, 0): 5})  # type: ignore[arg-type]
    assert consumer.calls == 2


@pytest.mark.usefixtures("no_pause")
def test_other_kafka_errors_are_not_retried() -> None:
    consumer = NewBrokerConsumer(not_ready=1, error=KafkaError.GROUP_AUTHORIZATION_FAILED)
    with pytest.raises(KafkaException):
        starting_ranges(consumer, TOPIC, bounded=True)  # type: ignore[arg-type]
    assert consumer.calls == 1
