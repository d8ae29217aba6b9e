# Beam's public API is largely unannotated; calls into it are not type errors.
# mypy: untyped-calls-exclude=apache_beam
"""Commit Kafka offsets only after the rows of those offsets are written.

Bundle finalization is not enough on the local runners: the FnApiRunner and
Prism finalize the read's bundle as soon as its output is in their memory,
before the downstream write has run, so a crash in between would lose rows
whose offsets are already committed. (On Dataflow, finalization waits until
the output is durably persisted, which is why `ReadFromKafka` commits there.)

So the commit waits on the writes instead. The offsets, and the outputs of
both writes, are windowed into the same fixed windows of read time (the
rows themselves stay in the global window: Prism mishandles the write's
reshuffle under fixed windows); the last offset per partition of a window
goes through a step whose side inputs are those write outputs, in the same
window. A runner makes a side input's window available only once the
watermark of that PCollection has passed the window's end, and the
watermark of a write's output passes a time only once every row up to that
time has been through the write (written, or refused and dead-lettered). In a bounded
drain pass the side inputs are computed in full before the commit stage
runs at all. Element timestamps never fall behind the reader's watermark
(see pipeline/kafka_read.py), so no row arrives late to its window.

A bounded (drain) pass skips the windows: its side inputs are complete before
the commit stage runs, so one commit per partition at the end of the pass is
all it needs. (Windows of read time there would cost one synchronous commit
per partition and interval of `received_at` the backlog spans: thousands for
a day's backlog, for no gain in safety.)

Offsets of duplicates that were dropped are committed with the rest: the
copy that was kept is in the same or an earlier window.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.coders import VarIntCoder
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection
from apache_beam.transforms import trigger, window
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec
from apache_beam.typehints.decorators import no_annotations
from apache_beam.utils.windowed_value import PaneInfoTiming
from confluent_kafka import Consumer

from pipeline import counters
from pipeline.kafka_offsets import commit
from pipeline.kafka_records import KafkaRecord

_LOGGER = logging.getLogger(__name__)

PartitionKey = tuple[str, int]

_COMMITTED = ReadModifyWriteStateSpec("committed", VarIntCoder())
_COMMITTED_STATE = beam.DoFn.StateParam(_COMMITTED)
_PANE = beam.DoFn.PaneInfoParam


def offset_of(record: KafkaRecord) -> tuple[PartitionKey, int]:
    return (record.topic, record.partition), record.offset


def _nothing(element: Any) -> list[Any]:
    return []


class OnTimeAfterWritesFn(beam.DoFn):
    """Passes on-time offsets on; its side inputs (the writes' outputs) are the barrier.

    A late pane (offsets that reached their window after the watermark) is
    dropped: its window's side inputs may have been computed before those
    rows were written. A later window of the partition commits past them.
    """

    def __init__(self) -> None:
        self._late = Metrics.counter(counters.NAMESPACE, counters.LATE_OFFSET_PANES)

    # Beam reads `*written: Any` as one Tuple-typed side input and refuses a single
    # barrier; the output type is declared where the step is applied instead.
    @no_annotations  # type: ignore[untyped-decorator]
    def process(
        self, element: tuple[PartitionKey, int], pane: Any = _PANE, *written: Any
    ) -> Iterator[tuple[PartitionKey, int]]:
        if pane.timing == PaneInfoTiming.LATE:
            self._late.inc()
            return
        yield element


class CommitOffsetsFn(beam.DoFn):
    """((topic, partition), last written offset) -> the group commits offset + 1.

    Keyed state keeps the highest commit, so a window that completes after a
    later one never moves the group's offset back.
    """

    def __init__(self, consumer_config: dict[str, Any]) -> None:
        self._config = dict(consumer_config)
        self._commits = Metrics.counter(counters.NAMESPACE, counters.OFFSET_COMMITS)

    def setup(self) -> None:
        self._consumer = Consumer(self._config)

    def teardown(self) -> None:
        consumer = getattr(self, "_consumer", None)
        if consumer is not None:
            consumer.close()

    def process(
        self,
        element: tuple[PartitionKey, int],
        committed: Any = _COMMITTED_STATE,
    ) -> Iterator[tuple[PartitionKey, int]]:
        (topic, partition), last_offset = element
        next_offset = last_offset + 1
        previous = committed.read()
        if previous is not None and previous >= next_offset:
            return
        commit(self._consumer, {(topic, partition): next_offset})
        committed.write(next_offset)
        self._commits.inc()
        _LOGGER.info("committed %s[%s] at offset %s", topic, partition, next_offset)
        yield (topic, partition), next_offset


class CommitWrittenOffsets(beam.PTransform[PCollection[Any], PCollection[Any]]):
    """Commits each partition's offsets once `written` (the writes' outputs) cover them.

    Returns the commits made, ((topic, partition), next offset).
    """

    def __init__(
        self,
        consumer_config: dict[str, Any],
        written: Sequence[PCollection[Any]],
        window_seconds: float,
        bounded: bool = False,
    ) -> None:
        super().__init__()
        self.consumer_config = consumer_config
        self.written = list(written)
        self.window_seconds = window_seconds
        self.bounded = bounded

    def expand(self, records: PCollection[Any]) -> PCollection[Any]:
        windows: window.WindowFn = (
            window.GlobalWindows() if self.bounded else window.FixedWindows(self.window_seconds)
        )
        # Only when each write is complete matters, not what it output.
        barriers = [
            beam.pvalue.AsList(
                signal
                | f"WrittenWindows{index}" >> beam.WindowInto(windows)
                | f"Completion{index}" >> beam.FlatMap(_nothing)
            )
            for index, signal in enumerate(self.written)
        ]
        offsets = records | "OffsetOfRecord" >> beam.Map(offset_of)
        if self.bounded:
            windowed = offsets | "WholePass" >> beam.WindowInto(windows)
        else:
            windowed = offsets | "ReadTimeWindows" >> beam.WindowInto(
                windows,
                trigger=trigger.AfterWatermark(),
                accumulation_mode=trigger.AccumulationMode.DISCARDING,
                allowed_lateness=0,
            )
        commits: PCollection[Any] = (
            windowed
            | "LastOffsetPerPartition" >> beam.CombinePerKey(max)
            | "AfterWrites"
            >> beam.ParDo(OnTimeAfterWritesFn(), *barriers).with_output_types(
                tuple[tuple[str, int], int]
            )
            | "BackToGlobalWindow" >> beam.WindowInto(window.GlobalWindows())
            | "CommitOffsets" >> beam.ParDo(CommitOffsetsFn(self.consumer_config))
        )
        return commits
