# Beam's public API is largely unannotated; calls into it are not type errors.
# mypy: untyped-calls-exclude=apache_beam
"""Reading Kafka with a splittable DoFn over confluent-kafka.

One restriction per partition: an offset range, bounded by the end offsets a
drain found at start, unbounded in streaming mode (the DoFn checkpoints with
`defer_remainder` whenever it has caught up, so bundles end and rows flow).

Element timestamps are the *read time*: the record's `received_at` (else the
broker timestamp), raised to the reader's watermark when it is older. So no
record is ever behind the watermark its own reader reported, which is what
lets the offset commit wait on the watermark (pipeline/commit.py) without
ever committing an offset whose row is still in flight. The event time,
known only after flattening, drives the dedupe window instead
(pipeline/dedupe.py).

For Dataflow, `ReadWithBeamKafkaIO` wraps Beam's cross-language
`ReadFromKafka`, which commits in bundle finalization (safe there: Dataflow
finalizes only once the bundle's output is durably persisted).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PBegin, PCollection
from apache_beam.transforms.core import RestrictionProvider, WatermarkEstimatorProvider
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import MIN_TIMESTAMP, Duration, Timestamp
from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from pipeline.counters import NAMESPACE, READ
from pipeline.kafka_offsets import UNBOUNDED_STOP, PartitionRange
from pipeline.kafka_records import KafkaRecord, received_at_of

_LOGGER = logging.getLogger(__name__)

# Messages asked of one consume() call.
CONSUME_BATCH = 1000
# Streaming: checkpoint after this many records or seconds, so bundles end.
STREAMING_RECORDS_PER_CALL = 5000
STREAMING_SECONDS_PER_CALL = 2.0
# Streaming: when caught up, resume after this long, and let the watermark
# trail the wall clock by this much (records stamped later still carry a
# received_at from before they reached the broker).
STREAMING_IDLE_RESUME_SECONDS = 0.5
IDLE_WATERMARK_LAG_SECONDS = 5.0
# Drain: a partition that stops answering below its end offset is an error,
# not a reason to wait forever.
DRAIN_STALL_SECONDS = 120.0
PROGRESS_EVERY_SECONDS = 10.0


class PartitionTracker(OffsetRestrictionTracker):
    """Offsets of one partition, split only to checkpoint.

    One consumer reads a partition in order, so splitting its range into
    parallel pieces gains nothing, and a split of an unbounded range in the
    middle (which Prism asks for) would point a consumer at an offset that
    does not exist yet.
    """

    def try_split(self, fraction_of_remainder: float) -> tuple[OffsetRange, OffsetRange] | None:
        if fraction_of_remainder != 0:
            return None
        split: tuple[OffsetRange, OffsetRange] | None = OffsetRestrictionTracker.try_split(self, 0)
        return split

    def is_bounded(self) -> bool:
        restriction = OffsetRestrictionTracker.current_restriction(self)
        return bool(restriction.stop < UNBOUNDED_STOP)


class _PartitionRestrictions(RestrictionProvider):
    def initial_restriction(self, element: PartitionRange) -> OffsetRange:
        return OffsetRange(element.start, element.stop)

    def create_tracker(self, restriction: OffsetRange) -> PartitionTracker:
        return PartitionTracker(restriction)

    def restriction_size(self, element: PartitionRange, restriction: OffsetRange) -> int:
        return int(restriction.size())


class _ReadTimeWatermarks(WatermarkEstimatorProvider):
    def initial_estimator_state(self, element: PartitionRange, restriction: OffsetRange) -> None:
        return None

    def create_watermark_estimator(self, state: Timestamp | None) -> ManualWatermarkEstimator:
        return ManualWatermarkEstimator(state)


def record_from_message(message: Message) -> KafkaRecord:
    timestamp_type, timestamp_ms = message.timestamp()
    return KafkaRecord(
        topic=message.topic() or "",
        partition=_known(message.partition()),
        offset=_known(message.offset()),
        value=_as_bytes(message.value()),
        key=_as_bytes(message.key()),
        headers=_header_pairs(message.headers()),
        timestamp_ms=timestamp_ms if timestamp_type != TIMESTAMP_NOT_AVAILABLE else None,
    )


def _known(number: int | None) -> int:
    # A message read from a partition always has its partition and offset.
    if number is None:
        raise ValueError("a Kafka message without partition or offset")
    return number


def _header_pairs(
    headers: dict[str, str | bytes | None] | list[tuple[str, str | bytes | None]] | None,
) -> tuple[tuple[str, bytes], ...]:
    if not headers:
        return ()
    pairs = headers.items() if isinstance(headers, dict) else headers
    return tuple((key, _as_bytes(value) or b"") for key, value in pairs)


def _as_bytes(value: str | bytes | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return value.encode("utf-8")


def read_time_of(record: KafkaRecord, watermark: Timestamp | None) -> Timestamp:
    """The record's received_at, never below the watermark already reported."""
    received = received_at_of(record) or datetime.now(UTC)
    stamp = Timestamp.from_utc_datetime(received)
    floor = watermark if watermark is not None else MIN_TIMESTAMP
    return max(stamp, floor)


class _PartitionConsumer:
    """A consumer assigned to one partition, and the next offset it will return."""

    def __init__(self, config: dict[str, Any], topic: str, partition: int, offset: int) -> None:
        self.consumer = Consumer(config)
        self.topic = topic
        self.partition = partition
        self.next_offset: int | None = None
        self.seek(offset)

    def seek(self, offset: int) -> None:
        self.consumer.assign([TopicPartition(self.topic, self.partition, offset)])
        self.next_offset = offset

    def close(self) -> None:
        self.consumer.close()


_RESTRICTION = beam.DoFn.RestrictionParam(_PartitionRestrictions())
_WATERMARK = beam.DoFn.WatermarkEstimatorParam(_ReadTimeWatermarks())


class ReadPartitionFn(beam.DoFn):
    """Reads the offset range of one partition (bounded: the drain mode)."""

    bounded = True

    def __init__(self, consumer_config: dict[str, Any], poll_timeout_seconds: float) -> None:
        # An offset that is gone (retention) or not there is an error, never a silent
        # jump to another offset.
        self._config = {**consumer_config, "auto.offset.reset": "error"}
        self._poll_timeout = poll_timeout_seconds
        self._records_read = Metrics.counter(NAMESPACE, READ)

    def setup(self) -> None:
        self._consumers: dict[tuple[str, int], _PartitionConsumer] = {}
        self._last_progress = 0.0

    def teardown(self) -> None:
        for reader in getattr(self, "_consumers", {}).values():
            reader.close()

    def process(
        self,
        element: PartitionRange,
        watermark: Any = _WATERMARK,
        tracker: Any = _RESTRICTION,
    ) -> Iterator[TimestampedValue[KafkaRecord]]:
        yield from self._read(element, tracker, watermark)

    def _reader_at(self, element: PartitionRange, offset: int) -> _PartitionConsumer:
        key = (element.topic, element.partition)
        reader = self._consumers.get(key)
        if reader is None:
            reader = _PartitionConsumer(self._config, element.topic, element.partition, offset)
            self._consumers[key] = reader
        elif reader.next_offset != offset:
            reader.seek(offset)
        return reader

    def _read(
        self,
        element: PartitionRange,
        tracker: Any,
        watermark: ManualWatermarkEstimator,
    ) -> Iterator[TimestampedValue[KafkaRecord]]:
        restriction = tracker.current_restriction()
        if restriction.start >= restriction.stop:
            return
        reader = self._reader_at(element, restriction.start)
        started = time.monotonic()
        last_record_at = started
        last_claimed = restriction.start - 1
        emitted = 0
        while True:
            wanted = CONSUME_BATCH
            if self.bounded:
                # consume() waits (up to the poll timeout) until it has all it was asked
                # for: asking for more than the range holds would cost a timeout per range.
                wanted = max(1, min(CONSUME_BATCH, restriction.stop - 1 - last_claimed))
            messages: Sequence[Message] = reader.consumer.consume(
                num_messages=wanted, timeout=self._poll_timeout
            )
            if not messages:
                if self.bounded:
                    if time.monotonic() - last_record_at > DRAIN_STALL_SECONDS:
                        raise RuntimeError(
                            f"{element.topic}[{element.partition}]: no record after offset "
                            f"{reader.next_offset} for {DRAIN_STALL_SECONDS:.0f}s, "
                            f"expected records up to {restriction.stop - 1}"
                        )
                    continue
                self._advance_idle_watermark(watermark)
                tracker.defer_remainder(Duration(seconds=STREAMING_IDLE_RESUME_SECONDS))
                return
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        raise KafkaException(error)
                    if self.bounded and _known(message.offset()) >= restriction.stop:
                        # Offsets missing at the end (compaction, transaction
                        # markers) are claimed without output, so the range is done.
                        if last_claimed < restriction.stop - 1:
                            tracker.try_claim(restriction.stop - 1)
                        reader.next_offset = None
                        return
                    continue
                offset = _known(message.offset())
                if not tracker.try_claim(offset):
                    reader.next_offset = None
                    return
                last_claimed = offset
                record = record_from_message(message)
                read_time = read_time_of(record, watermark.current_watermark())
                watermark.set_watermark(read_time)
                reader.next_offset = offset + 1
                emitted += 1
                self._records_read.inc()
                yield TimestampedValue(record, read_time)
            last_record_at = time.monotonic()
            self._log_progress(element, reader, restriction)
            if self.bounded and last_claimed >= restriction.stop - 1:
                return
            if not self.bounded and (
                emitted >= STREAMING_RECORDS_PER_CALL
                or time.monotonic() - started > STREAMING_SECONDS_PER_CALL
            ):
                tracker.defer_remainder()
                return

    @staticmethod
    def _advance_idle_watermark(watermark: ManualWatermarkEstimator) -> None:
        idle = Timestamp.now() - Duration(seconds=IDLE_WATERMARK_LAG_SECONDS)
        current = watermark.current_watermark()
        if current is None or idle > current:
            watermark.set_watermark(idle)

    def _log_progress(
        self, element: PartitionRange, reader: _PartitionConsumer, restriction: OffsetRange
    ) -> None:
        now = time.monotonic()
        if now - self._last_progress < PROGRESS_EVERY_SECONDS:
            return
        self._last_progress = now
        if self.bounded:
            done = (reader.next_offset or restriction.start) - element.start
            _LOGGER.info(
                "read %s[%s]: %s of %s records (next offset %s, stop %s)",
                element.topic,
                element.partition,
                done,
                element.size,
                reader.next_offset,
                element.stop,
            )
        else:
            _LOGGER.info(
                "read %s[%s]: next offset %s", element.topic, element.partition, reader.next_offset
            )


class ReadPartitionUnboundedFn(ReadPartitionFn):
    """The streaming variant: each partition's range has no end."""

    bounded = False

    @beam.DoFn.unbounded_per_element()  # type: ignore[untyped-decorator]
    def process(
        self,
        element: PartitionRange,
        watermark: Any = _WATERMARK,
        tracker: Any = _RESTRICTION,
    ) -> Iterator[TimestampedValue[KafkaRecord]]:
        yield from self._read(element, tracker, watermark)


class ReadKafkaRecords(beam.PTransform[PBegin, PCollection[Any]]):
    """The records of the given partition ranges, as `KafkaRecord`s."""

    def __init__(
        self,
        ranges: Iterable[PartitionRange],
        consumer_config: dict[str, Any],
        bounded: bool,
        poll_timeout_seconds: float = 1.0,
    ) -> None:
        super().__init__()
        self.ranges = list(ranges)
        self.consumer_config = consumer_config
        self.bounded = bounded
        self.poll_timeout_seconds = poll_timeout_seconds

    def expand(self, pbegin: PBegin) -> PCollection[Any]:
        fn_class = ReadPartitionFn if self.bounded else ReadPartitionUnboundedFn
        records: PCollection[Any] = (
            pbegin
            | "PartitionRanges" >> beam.Create(self.ranges)
            | "ReadPartitions"
            >> beam.ParDo(fn_class(self.consumer_config, self.poll_timeout_seconds))
        )
        return records


def record_from_beam_row(row: Any) -> KafkaRecord:
    """A `ReadFromKafka(with_metadata=True)` row as a `KafkaRecord`."""
    headers = tuple(
        (str(h.key), bytes(h.value) if h.value is not None else b"")
        for h in (getattr(row, "headers", None) or ())
    )
    timestamp_ms = getattr(row, "timestamp", None)
    return KafkaRecord(
        topic=str(row.topic),
        partition=int(row.partition),
        offset=int(row.offset),
        value=bytes(row.value) if row.value is not None else None,
        key=bytes(row.key) if row.key is not None else None,
        headers=headers,
        timestamp_ms=int(timestamp_ms) if timestamp_ms is not None else None,
    )


class ReadWithBeamKafkaIO(beam.PTransform[PBegin, PCollection[Any]]):
    """Beam's cross-language ReadFromKafka (Dataflow), committing in finalization."""

    def __init__(self, consumer_config: dict[str, Any], topic: str) -> None:
        super().__init__()
        self.consumer_config = {k: str(v) for k, v in consumer_config.items()}
        self.topic = topic

    def expand(self, pbegin: PBegin) -> PCollection[Any]:
        from apache_beam.io.kafka import ReadFromKafka

        config = {
            k: v
            for k, v in self.consumer_config.items()
            # librdkafka-only settings the Java client does not know.
            if k not in ("enable.auto.offset.store", "enable.partition.eof")
        }
        records: PCollection[Any] = (
            pbegin
            | "ReadFromKafka"
            >> ReadFromKafka(
                consumer_config=config,
                topics=[self.topic],
                with_metadata=True,
                commit_offset_in_finalize=True,
                timestamp_policy=ReadFromKafka.log_append_time,
            )
            | "ToKafkaRecords" >> beam.Map(record_from_beam_row)
        )
        return records
