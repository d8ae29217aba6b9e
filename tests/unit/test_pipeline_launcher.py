"""Flags, runner choice, the drain summary, and the replay command's pieces."""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner

from pipeline import counters, launcher
from pipeline.events_pipeline import EventsJob
from pipeline.launcher import pick_runner
from pipeline.replay import REPLAYED_FROM_HEADER, ReplaySelection, replay, selection_query


def job(*flags: str) -> EventsJob:
    return EventsJob.from_options(PipelineOptions(list(flags)))


def test_defaults_are_the_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "BIGQUERY_PROJECT", "BIGQUERY_DATASET"):
        monkeypatch.delenv(name, raising=False)
    defaults = job()
    assert defaults.bootstrap_servers == "127.0.0.1:9092"
    assert defaults.topic == "tapcart.events.raw"
    assert defaults.consumer_group == "tapcart-events-pipeline"
    assert defaults.destination.events == "local.tapcart.events"
    assert defaults.destination.dead_letters == "local.tapcart.events_dead_letter"
    assert defaults.bigquery_endpoint is None
    assert defaults.test_client() is None
    assert defaults.bounded
    assert (defaults.dedupe_window_seconds, defaults.allowed_lateness_seconds) == (600, 300)
    assert defaults.write_method == "STREAMING_INSERTS"
    assert defaults.keep_payload


def test_flags_and_environment_override_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "10.0.0.1:9092")
    monkeypatch.setenv("BIGQUERY_DATASET", "from_env")
    assert job().bootstrap_servers == "10.0.0.1:9092"
    assert job().destination.dataset == "from_env"
    given = job(
        "--bootstrap_servers=broker:9093",
        "--topic=t",
        "--consumer_group=g",
        "--project=p",
        "--dataset=d",
        "--bigquery_endpoint=http://127.0.0.1:9050",
        "--mode=streaming",
        "--dedupe_window_seconds=60",
        "--no_payload_column",
    )
    assert given.bootstrap_servers == "broker:9093"
    assert (given.topic, given.consumer_group) == ("t", "g")
    assert given.destination.events == "p.d.events"
    client = given.test_client()
    assert client is not None and (client.endpoint, client.project) == (
        "http://127.0.0.1:9050",
        "p",
    )
    assert not given.bounded and given.dedupe_window_seconds == 60 and not given.keep_payload


def test_beams_kafka_io_is_refused_for_a_drain() -> None:
    with pytest.raises(ValueError, match="streaming"):
        job("--read_method=beam_kafka_io")


def test_a_drain_runs_on_the_fn_api_runner_without_touching_prism() -> None:
    assert isinstance(pick_runner(PipelineOptions(["--mode=drain"])), FnApiRunner)
    assert pick_runner(PipelineOptions(["--mode=drain", "--runner=DataflowRunner"])) == (
        "DataflowRunner"
    )


def test_streaming_refuses_to_start_without_a_prism_binary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PRISM_LOCATION", raising=False)
    with pytest.raises(SystemExit, match="--prism_location"):
        pick_runner(PipelineOptions(["--mode=streaming"]))


def test_the_drain_summary_lists_every_counter_and_rows_written() -> None:
    totals = {
        counters.READ: 5000,
        counters.ROWS_SUBMITTED: 4250,
        counters.WRITE_FAILED: 0,
        counters.DEAD_LETTERED: 250,
        counters.DUPLICATES_DROPPED: 500,
    }
    text = counters.format_summary(totals, 12.34, 1)
    assert text.splitlines()[0] == "drain finished: 1 pass(es) in 12.3s"
    assert "rows_written" in text and "4250" in text
    for name in counters.SUMMARY_ORDER:
        assert name in text


def test_replay_selects_with_parameters_never_with_text() -> None:
    selection = ReplaySelection(
        failed_steps=("flatten",),
        error_types=("missing_app_id",),
        since=datetime(2026, 12, 1, tzinfo=UTC),
        limit=10,
    )
    sql, parameters = selection_query("local.tapcart.events_dead_letter", selection)
    assert "failed_step IN UNNEST(@failed_steps)" in sql
    assert "missing_app_id" not in sql and "flatten'" not in sql
    assert sql.endswith("LIMIT @limit")
    assert [p.name for p in parameters] == ["failed_steps", "error_types", "since", "limit"]


class FakeProducer:
    """Records what would be produced (a stand-in for confluent_kafka.Producer)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def produce(self, topic: str, **kwargs: Any) -> None:
        self.sent.append({"topic": topic, **kwargs})
        kwargs["on_delivery"](None, None)

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return 0


def test_replay_sends_the_exact_bytes_with_the_original_received_at() -> None:
    producer = FakeProducer()
    rows = [
        {
            "event_id": "evt-1",
            "raw_payload": "�",
            "raw_payload_bytes": b"\xff\x00",
            "received_at": datetime(2026, 11, 30, 12, 0, 0, 1, tzinfo=UTC),
            "kafka_topic": "tapcart.events.raw",
            "kafka_partition": 2,
            "kafka_offset": 99,
        },
        {"event_id": None, "raw_payload": None, "raw_payload_bytes": None},
    ]
    produced, skipped = replay(rows, producer, "tapcart.events.raw")  # type: ignore[arg-type]
    assert (produced, skipped) == (1, Counter({"no raw payload": 1}))
    (sent,) = producer.sent
    assert (sent["topic"], sent["value"], sent["key"]) == (
        "tapcart.events.raw",
        b"\xff\x00",
        b"evt-1",
    )
    assert dict(sent["headers"]) == {
        "received_at": b"2026-11-30T12:00:00.000001Z",
        REPLAYED_FROM_HEADER: b"tapcart.events.raw:2:99",
    }


def test_help_lists_every_flag_with_its_default() -> None:
    out = io.StringIO()
    assert launcher.run(["--help"], out=out) is None
    text = out.getvalue()
    for flag in ("--mode", "--topic", "--consumer_group", "--bigquery_endpoint", "--project"):
        assert flag in text
    assert "(default: 600.0)" in text  # the dedupe window
