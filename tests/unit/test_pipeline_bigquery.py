"""The BigQuery side without a service: the emulator client, rows, dead letters, views."""

from __future__ import annotations

import base64
import pickle
from typing import Any

import apache_beam as beam
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

import schemas
from pipeline.bigquery_client import EmulatorBigQueryClient
from pipeline.bigquery_writes import REJECTED, CheckRowsFn, failed_insert_to_dead_letter
from pipeline.dead_letters import from_failed_insert, raw_payload_columns, raw_payload_of
from pipeline.tables import table_definition
from pipeline.views import deduplicated_view_sql, event_type_views, view_name_of
from schemas.row_check import validate_row

EVENTS_SCHEMA = schemas.load_table_schema("events")
DEAD_LETTER_SCHEMA = schemas.load_table_schema("events_dead_letter")


def test_the_emulator_client_pickles_to_its_endpoint_and_project_only() -> None:
    client = EmulatorBigQueryClient("http://127.0.0.1:9050", "local")
    # Build both clients, as a worker would, then pickle as Beam does with the DoFn.
    assert client.cloud.project == "local"
    assert client.tables is client.apitools.tables
    state = client.__getstate__()
    assert state == {"endpoint": "http://127.0.0.1:9050", "project": "local"}
    copy = pickle.loads(pickle.dumps(client))
    assert (copy.endpoint, copy.project) == ("http://127.0.0.1:9050", "local")
    assert copy._cloud is None and copy._apitools is None


def test_the_emulator_client_serves_both_apis_beam_calls() -> None:
    client = EmulatorBigQueryClient("http://127.0.0.1:9050", "local")
    # apitools: BigQueryWrapper calls client.tables / datasets / jobs / tabledata.
    assert client.apitools.url == "http://127.0.0.1:9050/bigquery/v2/"
    for service in ("tables", "datasets", "jobs", "tabledata"):
        assert hasattr(getattr(client, service), "Get") or hasattr(getattr(client, service), "List")
    # google-cloud: BigQueryWrapper.insert_rows calls client.insert_rows_json.
    assert client.cloud._connection.API_BASE_URL == "http://127.0.0.1:9050"
    assert callable(client.insert_rows_json)


def test_raw_payload_keeps_readable_text_and_the_exact_bytes() -> None:
    assert raw_payload_columns(b'{"a": 1}') == {
        "raw_payload": '{"a": 1}',
        "raw_payload_bytes": base64.b64encode(b'{"a": 1}').decode(),
    }
    odd = b"\x80\x81 binary"
    columns = raw_payload_columns(odd)
    assert columns["raw_payload"] == "\ufffd\ufffd binary"
    assert columns["raw_payload_bytes"] == base64.b64encode(odd).decode()
    assert raw_payload_of(columns) == odd
    assert raw_payload_of({"raw_payload": "é", "raw_payload_bytes": None}) == "é".encode()
    # The BigQuery client hands BYTES back as bytes.
    assert raw_payload_of({"raw_payload": "?", "raw_payload_bytes": odd}) == odd


def events_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        field["name"]: [] if field.get("mode") == "REPEATED" else None for field in EVENTS_SCHEMA
    }
    row.update(
        event_id="evt-1",
        event_name="AppOpened",
        app_id="app-1",
        event_time="2026-11-30T12:00:00.000000Z",
        received_at="2026-11-30T12:00:01.000000Z",
        inserted_at="2026-11-30T12:00:02.000000Z",
        payload='{"event_id": "evt-1"}',
        kafka_topic="tapcart.events.raw",
        kafka_partition=1,
        kafka_offset=7,
    )
    row.update(changes)
    return row


def test_a_refused_insert_becomes_a_write_dead_letter() -> None:
    errors = [{"reason": "invalid", "location": "event_time", "message": "bad time"}]
    dead = failed_insert_to_dead_letter(("local:ds.events", events_row(), errors))
    assert (dead["failed_step"], dead["error_type"]) == ("write", "insert_failed")
    assert dead["error_message"] == "invalid at event_time: bad time"
    assert dead["raw_payload"] == '{"event_id": "evt-1"}'
    assert raw_payload_of(dead) == b'{"event_id": "evt-1"}'
    assert (dead["kafka_partition"], dead["kafka_offset"]) == (1, 7)
    assert validate_row(dead, DEAD_LETTER_SCHEMA) == []
    # The Storage Write API hands failures over as a dict.
    storage = failed_insert_to_dead_letter({"error_message": "x", "failed_row": events_row()})
    assert storage["error_message"] == "storage_write: x"


def test_without_the_payload_column_the_dead_letter_keeps_the_whole_row() -> None:
    dead = from_failed_insert(events_row(payload=None), [])
    assert '"event_id": "evt-1"' in dead["raw_payload"]
    assert dead["error_message"] == "the row was not inserted"


def test_rows_that_do_not_fit_the_schema_are_rejected_before_the_write() -> None:
    good = events_row()
    missing = events_row(event_id=None)
    epoch = events_row(event_time=1764504000000)
    unknown = {**events_row(), "surprise": 1}
    with test_pipeline.TestPipeline(runner="FnApiRunner", argv=[]) as p:
        checked = (
            p
            | beam.Create([good, missing, epoch, unknown])
            | beam.ParDo(CheckRowsFn(EVENTS_SCHEMA)).with_outputs(REJECTED, main="ok")
        )
        assert_that(
            checked.ok | "Ok" >> beam.Map(lambda row: row["event_id"]),
            equal_to(["evt-1"]),
            label="ok",
        )
        assert_that(
            checked[REJECTED] | "Why" >> beam.Map(lambda d: (d["error_type"], d["error_message"])),
            equal_to(
                [
                    ("row_rejected", "invalid: event_id: required"),
                    (
                        "row_rejected",
                        "invalid: event_time: expected UTC text like 2023-08-15T18:51:06.000000Z",
                    ),
                    ("row_rejected", "invalid: surprise: not in the schema"),
                ]
            ),
            label="rejected",
        )


def test_tables_are_partitioned_and_clustered_as_the_catalog_says() -> None:
    events = table_definition(
        "local.tapcart.events", EVENTS_SCHEMA, schemas.table_options("events")
    )
    assert (events.time_partitioning.type_, events.time_partitioning.field) == ("DAY", "event_time")
    assert events.clustering_fields == ["app_id", "event_name"]
    assert [f.name for f in events.schema] == [f["name"] for f in EVENTS_SCHEMA]
    dead = table_definition(
        "local.tapcart.events_dead_letter",
        DEAD_LETTER_SCHEMA,
        schemas.table_options("events_dead_letter"),
    )
    assert dead.time_partitioning.field == "failed_at"
    required = {f.name for f in dead.schema if f.mode == "REQUIRED"}
    assert required == {"error_type", "failed_at"}


def test_the_deduplicated_view_keeps_the_first_received_copy_per_event_id() -> None:
    sql = deduplicated_view_sql("local", "tapcart")
    assert "ROW_NUMBER() OVER (" in sql
    assert "PARTITION BY event_id" in sql
    assert "ORDER BY received_at, inserted_at, kafka_partition, kafka_offset" in sql
    assert "`local.tapcart.events`" in sql
    assert sql.rstrip().endswith("WHERE dedupe_row_number = 1")


def test_one_view_per_event_type_reads_the_deduplicated_view() -> None:
    views = event_type_views("local", "tapcart")
    assert view_name_of("Added to Cart") == "events_added_to_cart"
    assert len(views) == len(set(views)) >= 30
    assert views["events_app_opened"] == (
        "SELECT * FROM `local.tapcart.events_deduplicated`\nWHERE event_display_name = 'App Opened'"
    )
