"""Offsets are committed only after the writes have covered them.

The real `CommitWrittenOffsets` runs on the FnApiRunner (in this process)
with the Kafka commit replaced by a log, beside a stand-in write that logs
each row it handles, so the test sees the order in which both happened.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from pipeline import commit as commit_module
from pipeline.commit import CommitWrittenOffsets
from pipeline.kafka_records import KafkaRecord

TOPIC = "tapcart.events.raw"
# (what happened, detail), in order: ("write", offset) or ("commit", {(topic, p): next}).
LOG: list[tuple[str, Any]] = []


class NoConsumer:
    def __init__(self, config: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


def logged_commit(consumer: object, next_offsets: dict[tuple[str, int], int]) -> None:
    LOG.append(("commit", dict(next_offsets)))


class LoggedWriteFn(beam.DoFn):
    """Stands in for a write: handles each row and outputs nothing (no failures)."""

    def process(self, record: KafkaRecord) -> Iterator[Any]:
        LOG.append(("write", (record.partition, record.offset)))
        return iter(())


@pytest.fixture(autouse=True)
def logged_kafka(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    LOG.clear()
    monkeypatch.setattr(commit_module, "Consumer", NoConsumer)
    monkeypatch.setattr(commit_module, "commit", logged_commit)
    yield
    LOG.clear()


def records(per_partition: int, partitions: int = 2) -> list[KafkaRecord]:
    return [
        KafkaRecord(TOPIC, partition, offset, b"{}")
        for partition in range(partitions)
        for offset in range(per_partition)
    ]


def run(sample: list[KafkaRecord], bounded: bool, expected: list[Any]) -> None:
    """Reads `sample` (read time: 10 s per offset), writes, commits; checks the commits."""
    p = test_pipeline.TestPipeline(runner="FnApiRunner", argv=[])
    read = (
        p
        | beam.Create(sample)
        | "ReadTime" >> beam.Map(lambda r: TimestampedValue(r, r.offset * 10))
    )
    written = read | "Write" >> beam.ParDo(LoggedWriteFn())
    commits = read | CommitWrittenOffsets(
        {}, written=[written], window_seconds=100, bounded=bounded
    )
    assert_that(commits, equal_to(expected))
    p.run().wait_until_finish()


def test_a_drain_pass_commits_each_partition_once_after_every_write() -> None:
    run(records(25), bounded=True, expected=[((TOPIC, 0), 25), ((TOPIC, 1), 25)])
    writes = [index for index, (what, _) in enumerate(LOG) if what == "write"]
    committed = [index for index, (what, _) in enumerate(LOG) if what == "commit"]
    assert len(writes) == 50 and len(committed) == 2
    assert max(writes) < min(committed)


def test_streaming_commits_once_per_interval_of_read_time_after_the_writes() -> None:
    # Offsets 0..24 at read times 0..240 s: windows of 100 s end at offsets 9, 19, 24.
    run(
        records(25, partitions=1),
        bounded=False,
        expected=[((TOPIC, 0), 10), ((TOPIC, 0), 20), ((TOPIC, 0), 25)],
    )
    writes = [index for index, (what, _) in enumerate(LOG) if what == "write"]
    committed = [index for index, (what, _) in enumerate(LOG) if what == "commit"]
    assert max(writes) < min(committed)
