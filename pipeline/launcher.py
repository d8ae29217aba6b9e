# Beam's public API is largely unannotated; calls into it are not type errors.
# mypy: untyped-calls-exclude=apache_beam
"""`python -m pipeline`: parse the options, pick the runner, run a drain or a stream.

Runners, unless `--runner` says otherwise:

- drain: the Python FnApiRunner, in process. It is picked directly, because
  Beam's DirectRunner first tries Prism and would try to download it.
- streaming: Prism, which runs unbounded splittable DoFns (the FnApiRunner
  does not); it needs a binary: `--prism_location` or PRISM_LOCATION. The
  launcher refuses to start without one rather than let Beam download it.

A drain reads each partition up to the end offsets found at start, in passes
of at most `--max_records_per_pass` records; each pass is one bounded
pipeline that writes and then commits its offsets. It prints progress after
each pass and a summary of the counters at the end.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.options.pipeline_options import (
    PipelineOptions,
    PrismRunnerOptions,
    StandardOptions,
)
from apache_beam.runners.runner import PipelineRunner
from confluent_kafka import Consumer

from pipeline import counters
from pipeline.bigquery_client import cloud_client
from pipeline.events_pipeline import EventsJob, build_events_pipeline
from pipeline.kafka_offsets import (
    PartitionRange,
    after_pass,
    committed_offsets,
    next_pass,
    starting_ranges,
)
from pipeline.options import EventsPipelineOptions
from pipeline.tables import ensure_destination

_LOGGER = logging.getLogger(__name__)

PRISM_LOCATION_ENV = "PRISM_LOCATION"


@dataclass
class DrainReport:
    """What a drain did: counter totals over all passes."""

    runner: str
    passes: int = 0
    seconds: float = 0.0
    records: int = 0
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def rows_written(self) -> int:
        return counters.rows_written(self.totals)


def configure_logging() -> None:
    if logging.getLogger().handlers:
        return
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("pipeline").setLevel(logging.INFO)


def pick_runner(options: PipelineOptions) -> PipelineRunner | str:
    """The runner named by --runner, else FnApiRunner (drain) or Prism (streaming)."""
    named = options.view_as(StandardOptions).runner
    mode = options.view_as(EventsPipelineOptions).mode
    if named:
        return str(named)
    if mode == "drain":
        from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner

        return FnApiRunner()
    prism = options.view_as(PrismRunnerOptions)
    if not prism.prism_location:
        location = os.environ.get(PRISM_LOCATION_ENV)
        if not location:
            raise SystemExit(
                "streaming mode runs on Prism and needs its binary: pass --prism_location "
                f"or set {PRISM_LOCATION_ENV} (build it with `go install "
                "github.com/apache/beam/sdks/v2/go/cmd/prism@v2.77.0`)"
            )
        prism.prism_location = location
    from apache_beam.runners.portability.prism_runner import PrismRunner

    return PrismRunner()


def runner_name(runner: PipelineRunner | str) -> str:
    return runner if isinstance(runner, str) else type(runner).__name__


def prepare_tables(job: EventsJob) -> None:
    client = cloud_client(job.destination.project, job.bigquery_endpoint)
    try:
        ensure_destination(client, job.destination)
    finally:
        client.close()  # type: ignore[no-untyped-call]


def run_pass(
    options: PipelineOptions, job: EventsJob, ranges: Sequence[PartitionRange]
) -> dict[str, int]:
    """One bounded pipeline over `ranges`; its counter totals."""
    runner = pick_runner(options)
    pipeline = beam.Pipeline(runner=runner, options=options)
    build_events_pipeline(pipeline, job, ranges)
    result = pipeline.run()
    result.wait_until_finish()
    return counters.counter_totals(result)


def drain(options: PipelineOptions, job: EventsJob, out: object = None) -> DrainReport:
    """Read every partition up to its end offset now; write; commit; return the report."""
    stream = out if out is not None else sys.stdout
    report = DrainReport(runner=runner_name(pick_runner(options)))
    started = time.monotonic()
    planner = Consumer(job.consumer_config)
    try:
        remaining = starting_ranges(planner, job.topic, bounded=True)
        report.records = sum(r.size for r in remaining)
        _say(stream, f"drain {job.topic}: {report.records} record(s) to read on {report.runner}")
        _say(stream, "  " + ", ".join(f"[{r.partition}] {r.start}..{r.stop}" for r in remaining))
        done = 0
        max_records = options.view_as(EventsPipelineOptions).max_records_per_pass
        while ranges := next_pass(remaining, max_records):
            report.passes += 1
            counters.add_totals(report.totals, run_pass(options, job, ranges))
            remaining = after_pass(remaining, ranges)
            done += sum(r.size for r in ranges)
            _check_committed(planner, job.topic, ranges)
            _say(
                stream,
                f"pass {report.passes}: {done}/{report.records} records read, "
                f"{report.rows_written} rows written, "
                f"{report.totals.get(counters.DEAD_LETTERED, 0)} dead letters, "
                f"{time.monotonic() - started:.1f}s",
            )
    finally:
        planner.close()
    report.seconds = time.monotonic() - started
    _say(stream, counters.format_summary(report.totals, report.seconds, report.passes))
    return report


def _check_committed(consumer: Consumer, topic: str, ranges: Sequence[PartitionRange]) -> None:
    committed = committed_offsets(consumer, topic)
    for r in ranges:
        if r.size and committed.get(r.partition, -1) < r.stop:
            # Only offsets missing at the end of the range (compaction, transaction
            # markers) explain this; the next run reads from the committed offset again.
            _LOGGER.warning(
                "%s[%s]: committed offset %s is below the end of the pass %s",
                topic,
                r.partition,
                committed.get(r.partition),
                r.stop,
            )


def stream(options: PipelineOptions, job: EventsJob) -> None:
    """Run until stopped (Ctrl-C cancels the job)."""
    options.view_as(StandardOptions).streaming = True
    runner = pick_runner(options)
    planner = Consumer(job.consumer_config)
    try:
        ranges = (
            starting_ranges(planner, job.topic, bounded=False)
            if job.read_method == "splittable"
            else []
        )
    finally:
        planner.close()
    _LOGGER.info("streaming %s on %s from %s", job.topic, runner_name(runner), ranges)
    pipeline = beam.Pipeline(runner=runner, options=options)
    build_events_pipeline(pipeline, job, ranges)
    result = pipeline.run()
    # SIGTERM stops the job like Ctrl-C, so that Prism is shut down with it.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        result.wait_until_finish()
    except KeyboardInterrupt:
        _LOGGER.info("stopping: cancelling the streaming job")
        result.cancel()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def help_text() -> str:
    """The flags of `python -m pipeline`: this pipeline's own, then the Beam ones it reads.

    Beam's PipelineOptions parses leniently and answers `--help` with an empty
    usage line, so the help is put together here.
    """
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Tapcart events: Kafka -> validate, flatten, dedupe -> BigQuery.",
        epilog="Any other Beam pipeline option (--runner, --temp_location, ...) is passed "
        "to Beam as given.",
    )
    EventsPipelineOptions._add_argparse_args(parser)
    beam_group = parser.add_argument_group("Beam options read by this pipeline")
    beam_group.add_argument(
        "--project", help="BigQuery project (default: BIGQUERY_PROJECT, else `local`)."
    )
    beam_group.add_argument(
        "--bootstrap_servers",
        help="Kafka bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS, else 127.0.0.1:9092).",
    )
    beam_group.add_argument(
        "--runner",
        help="Beam runner (default: the in-process FnApiRunner for drain, Prism for streaming).",
    )
    beam_group.add_argument(
        "--prism_location", help=f"Streaming: the Prism binary (default: ${PRISM_LOCATION_ENV})."
    )
    return parser.format_help()


def run(argv: Sequence[str] | None = None, out: object = None) -> DrainReport | None:
    """The entry point tests drive: the report of a drain, None after streaming."""
    arguments = list(argv) if argv is not None else sys.argv[1:]
    if "-h" in arguments or "--help" in arguments:
        _say(out if out is not None else sys.stdout, help_text())
        return None
    configure_logging()
    options = PipelineOptions(arguments)
    own = options.view_as(EventsPipelineOptions)
    job = EventsJob.from_options(options)
    if own.create_tables:
        prepare_tables(job)
    if own.mode == "drain":
        return drain(options, job, out)
    stream(options, job)
    return None


def _say(stream: object, text: str) -> None:
    print(text, file=stream, flush=True)  # type: ignore[call-overload]


def main() -> int:
    run()
    return 0
