"""Dropping duplicates by event_id, driven through time with TestStream.

Defaults: a 600 s dedupe window and 300 s of allowed lateness, so the state
of an event id lives until the watermark passes its event time + 900 s.
Element timestamps are the read time (as the Kafka reader gives them); the
event time is the row's `event_time`. TestStream needs the bundle-based
DirectRunner in streaming mode. (That runner does not report the counters of
this stateful DoFn, so the duplicates counter is checked on the FnApiRunner,
in test_pipeline_steps.py.)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing import test_pipeline, test_stream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from pipeline.dedupe import DropDuplicateEvents, event_time_of
from pipeline.timestamps import utc_text

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def at(seconds: float) -> float:
    return (T0 + timedelta(seconds=seconds)).timestamp()


def copy_of(event_id: str, event_seconds: float, copy: int) -> tuple[str, dict[str, Any]]:
    event_time = utc_text(T0 + timedelta(seconds=event_seconds))
    return event_id, {"event_id": event_id, "event_time": event_time, "copy": copy}


def arrive(
    stream: test_stream.TestStream, read_seconds: float, *elements: Any
) -> test_stream.TestStream:
    """Elements read at `read_seconds`, stamped with that read time."""
    return stream.add_elements([TimestampedValue(e, at(read_seconds)) for e in elements])


def run_dedupe(stream: test_stream.TestStream, expected: Iterable[tuple[str, int]]) -> None:
    """Asserts the (event_id, copy) pairs let through."""
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    p = test_pipeline.TestPipeline(runner="BundleBasedDirectRunner", options=options, argv=[])
    kept = (
        p
        | stream
        | DropDuplicateEvents(window_seconds=600, allowed_lateness_seconds=300)
        | beam.Map(lambda kv: (kv[0], kv[1]["copy"]))
    )
    assert_that(kept, equal_to(list(expected)))
    p.run().wait_until_finish()


def test_duplicates_inside_the_window_are_dropped() -> None:
    stream = test_stream.TestStream().advance_watermark_to(at(0))
    stream = arrive(stream, 0, copy_of("evt-1", 0, 1), copy_of("evt-2", 0, 1))
    stream = stream.advance_watermark_to(at(120))
    # Retries two and eight minutes later (Tapcart retries for about five).
    stream = arrive(stream, 120, copy_of("evt-1", 0, 2))
    stream = stream.advance_watermark_to(at(480))
    stream = arrive(stream, 480, copy_of("evt-1", 0, 3), copy_of("evt-2", 0, 2))
    stream = stream.advance_watermark_to_infinity()
    run_dedupe(stream, [("evt-1", 1), ("evt-2", 1)])


def test_a_duplicate_after_the_window_is_let_through_for_the_view_to_catch() -> None:
    stream = test_stream.TestStream().advance_watermark_to(at(0))
    stream = arrive(stream, 0, copy_of("evt-1", 0, 1))
    # Past event time + window + allowed lateness: the state of evt-1 is gone.
    stream = stream.advance_watermark_to(at(901))
    stream = arrive(stream, 901, copy_of("evt-1", 0, 2))
    stream = stream.advance_watermark_to_infinity()
    run_dedupe(stream, [("evt-1", 1), ("evt-1", 2)])


def test_a_duplicate_inside_the_allowed_lateness_is_still_dropped() -> None:
    stream = test_stream.TestStream().advance_watermark_to(at(0))
    stream = arrive(stream, 0, copy_of("evt-1", 0, 1))
    # After the window (600 s) but within window + lateness (900 s).
    stream = stream.advance_watermark_to(at(850))
    stream = arrive(stream, 850, copy_of("evt-1", 0, 2))
    stream = stream.advance_watermark_to_infinity()
    run_dedupe(stream, [("evt-1", 1)])


def test_late_data_within_the_allowed_lateness_is_kept_and_deduplicated() -> None:
    stream = test_stream.TestStream().advance_watermark_to(at(1000))
    # Event time 800 s: 200 s behind the watermark, inside the 300 s lateness.
    stream = arrive(stream, 1000, copy_of("late-1", 800, 1))
    stream = stream.advance_watermark_to(at(1100))
    stream = arrive(stream, 1100, copy_of("late-1", 800, 2), copy_of("on-time", 1100, 1))
    stream = stream.advance_watermark_to_infinity()
    run_dedupe(stream, [("late-1", 1), ("on-time", 1)])


def test_data_later_than_the_allowed_lateness_is_still_kept() -> None:
    # Never dropped for being late: the view deduplicates what the window cannot.
    stream = test_stream.TestStream().advance_watermark_to(at(5000))
    stream = arrive(stream, 5000, copy_of("very-late", 0, 1))
    stream = stream.advance_watermark_to_infinity()
    run_dedupe(stream, [("very-late", 1)])


def test_event_time_falls_back_to_the_element_timestamp() -> None:
    fallback = Timestamp.of(at(7))
    assert event_time_of({"event_time": "not a time"}, fallback) == fallback
    assert event_time_of({"event_time": utc_text(T0)}, fallback).micros == int(at(0) * 1e6)
