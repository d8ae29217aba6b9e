# Beam's public API is largely unannotated; calls into it are not type errors.
# mypy: untyped-calls-exclude=apache_beam
"""Drop duplicate events by `event_id` within an event-time window.

A stateful DoFn keyed by event id, in the global window (before any fixed
windowing, so copies that straddle a window boundary are still caught):
the first copy goes through, later copies are dropped and counted. In
streaming mode the state of an id is cleared once the watermark passes its
event time plus the dedupe window plus the allowed lateness; a copy that
arrives after that goes through, and the deduplicated view catches it.

A bounded (drain) pass drops every duplicate inside the pass, with a
GroupByKey instead of keyed state: same result, but the FnApiRunner's state
calls cost about 2 ms per event (10 s for 5,000) where the grouping costs
almost nothing. It keeps the copy the view would keep: the first received.

The event time is the row's `event_time`. Elements keep the read time as
their timestamp (pipeline/kafka_read.py explains why); the watermark the
timers follow is the reader's, which tracks when events were received, so
"late" means an event time older than what has been received since.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.coders import BooleanCoder
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    ReadModifyWriteStateSpec,
    TimerSpec,
    on_timer,
)
from apache_beam.utils.timestamp import Duration, Timestamp

from pipeline import counters
from pipeline.flatten_events import EventRow
from pipeline.kafka_records import parse_utc

_SEEN = ReadModifyWriteStateSpec("seen", BooleanCoder())
_EXPIRY = TimerSpec("expiry", TimeDomain.WATERMARK)
_SEEN_STATE = beam.DoFn.StateParam(_SEEN)
_EXPIRY_TIMER = beam.DoFn.TimerParam(_EXPIRY)


def event_time_of(row: dict[str, Any], fallback: Timestamp) -> Timestamp:
    """The row's `event_time` as a Beam timestamp; the fallback when unreadable."""
    text = row.get("event_time")
    moment = parse_utc(text) if isinstance(text, str) else None
    return Timestamp.from_utc_datetime(moment) if moment is not None else fallback


class DedupeByEventIdFn(beam.DoFn):
    """(event_id, row) -> the first copy of each event_id; later copies dropped."""

    def __init__(self, keep_for: Duration) -> None:
        self._keep_for = keep_for
        self._duplicates = Metrics.counter(counters.NAMESPACE, counters.DUPLICATES_DROPPED)

    def process(
        self,
        element: EventRow,
        timestamp: Any = beam.DoFn.TimestampParam,
        seen: Any = _SEEN_STATE,
        expiry: Any = _EXPIRY_TIMER,
    ) -> Iterator[EventRow]:
        if seen.read():
            self._duplicates.inc()
            return
        seen.write(True)
        expiry.set(event_time_of(element[1], timestamp) + self._keep_for)
        yield element

    @on_timer(_EXPIRY)
    def expire(self, seen: Any = _SEEN_STATE) -> None:
        seen.clear()


def view_order(row: dict[str, Any]) -> tuple[str, int, int]:
    """The order the deduplicated view ranks copies in (received first wins)."""
    received = row.get("received_at")
    partition = row.get("kafka_partition")
    offset = row.get("kafka_offset")
    return (
        received if isinstance(received, str) else "",
        partition if isinstance(partition, int) else -1,
        offset if isinstance(offset, int) else -1,
    )


class KeepFirstCopyFn(beam.DoFn):
    """(event_id, copies) -> (event_id, the copy received first); the rest counted."""

    def __init__(self) -> None:
        self._duplicates = Metrics.counter(counters.NAMESPACE, counters.DUPLICATES_DROPPED)

    def process(self, element: tuple[str, Iterable[dict[str, Any]]]) -> Iterator[EventRow]:
        event_id, copies = element
        ordered = sorted(copies, key=view_order)
        if len(ordered) > 1:
            self._duplicates.inc(len(ordered) - 1)
        yield event_id, ordered[0]


class DropDuplicateEvents(beam.PTransform[PCollection[Any], PCollection[Any]]):
    """Keyed rows to rows, without the duplicates the window catches."""

    def __init__(
        self,
        window_seconds: float = 600.0,
        allowed_lateness_seconds: float = 300.0,
        bounded: bool = False,
    ) -> None:
        super().__init__()
        self.window_seconds = window_seconds
        self.allowed_lateness_seconds = allowed_lateness_seconds
        self.bounded = bounded

    def expand(self, keyed_rows: PCollection[Any]) -> PCollection[Any]:
        first_copies: PCollection[Any]
        if self.bounded:
            first_copies = (
                keyed_rows
                | "CopiesPerEventId" >> beam.GroupByKey()
                | "FirstCopyPerEventId" >> beam.ParDo(KeepFirstCopyFn())
            )
            return first_copies
        keep_for = Duration(seconds=self.window_seconds + self.allowed_lateness_seconds)
        first_copies = keyed_rows | "FirstCopyPerEventId" >> beam.ParDo(DedupeByEventIdFn(keep_for))
        return first_copies
