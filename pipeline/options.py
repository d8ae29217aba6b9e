"""The pipeline's own flags, as a `PipelineOptions` view.

Every default works on the local stack (the same environment variables the
rest of the project reads), so `python -m pipeline --mode drain` needs no
flags on a machine where `make infra-up` ran.
"""

from __future__ import annotations

import argparse
import os

from apache_beam.options.pipeline_options import (
    GoogleCloudOptions,
    PipelineOptions,
)

RAW_TOPIC = "tapcart.events.raw"

MODES = ("streaming", "drain")
READ_METHODS = ("splittable", "beam_kafka_io")
WRITE_METHODS = ("STREAMING_INSERTS", "STORAGE_WRITE_API")


class EventsPipelineOptions(PipelineOptions):
    """Flags of `python -m pipeline`; `--help` lists them with their defaults.

    Two flags are Beam's own and are read through the helpers below:
    `--project` (GoogleCloudOptions; else BIGQUERY_PROJECT, else `local`) and
    `--bootstrap_servers` (defined by Beam's Kafka Streams runner options;
    else KAFKA_BOOTSTRAP_SERVERS, else 127.0.0.1:9092).
    """

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        env = os.environ
        group = parser.add_argument_group("tapcart events pipeline")
        group.add_argument(
            "--mode",
            choices=MODES,
            default="drain",
            help="streaming: run until stopped. drain: read every partition up to the end "
            "offsets found at start, write, commit, exit.",
        )
        group.add_argument("--topic", default=RAW_TOPIC, help="Kafka topic with the raw events.")
        group.add_argument(
            "--consumer_group",
            default="tapcart-events-pipeline",
            help="Consumer group whose committed offsets say where a run starts.",
        )
        group.add_argument(
            "--read_method",
            choices=READ_METHODS,
            default="splittable",
            help="splittable: the Python splittable DoFn over confluent-kafka (local runners). "
            "beam_kafka_io: Beam's cross-language ReadFromKafka (Dataflow; needs Java).",
        )
        group.add_argument(
            "--dataset", default=env.get("BIGQUERY_DATASET", "tapcart"), help="BigQuery dataset."
        )
        group.add_argument("--events_table", default="events", help="Table of event rows.")
        group.add_argument(
            "--dead_letter_table", default="events_dead_letter", help="Table of failures."
        )
        group.add_argument(
            "--bigquery_endpoint",
            default=None,
            help="BigQuery REST endpoint of an emulator, e.g. http://127.0.0.1:9050. "
            "Absent: the real BigQuery with the usual Google credentials.",
        )
        group.add_argument(
            "--write_method",
            choices=WRITE_METHODS,
            default="STREAMING_INSERTS",
            help="How rows reach BigQuery; STORAGE_WRITE_API is cross-language (Dataflow).",
        )
        group.add_argument(
            "--dedupe_window_seconds",
            type=float,
            default=600.0,
            help="Duplicates of an event_id within this much event time are dropped in the "
            "pipeline; the deduplicated view catches the rest.",
        )
        group.add_argument(
            "--allowed_lateness_seconds",
            type=float,
            default=300.0,
            help="How long past the dedupe window the state of an event_id is kept, so that "
            "late copies are still dropped.",
        )
        group.add_argument(
            "--commit_interval_seconds",
            type=float,
            default=5.0,
            help="Streaming: offsets are committed per interval of read time, once every row "
            "of the interval is written.",
        )
        group.add_argument(
            "--max_records_per_pass",
            type=int,
            default=100_000,
            help="Drain: records per pipeline pass (all partitions together); offsets are "
            "committed after each pass, which bounds memory and replay after a crash.",
        )
        group.add_argument(
            "--poll_timeout_seconds",
            type=float,
            default=1.0,
            help="How long one Kafka poll waits for messages.",
        )
        group.add_argument(
            "--no_payload_column",
            dest="keep_payload",
            action="store_false",
            default=True,
            help="Do not store the whole original payload in the events table.",
        )
        group.add_argument(
            "--no_create_tables",
            dest="create_tables",
            action="store_false",
            default=True,
            help="Do not create the dataset, tables and views when missing.",
        )


def bigquery_project(options: PipelineOptions) -> str:
    """Beam's `--project`, else the local stack's project."""
    project = options.view_as(GoogleCloudOptions).project
    return str(project or os.environ.get("BIGQUERY_PROJECT", "local"))


def bootstrap_servers(options: PipelineOptions) -> str:
    """`--bootstrap_servers` when given, else the local stack's broker."""
    given = options.get_all_options(drop_default=True).get("bootstrap_servers")
    if given:
        return str(given)
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
