"""Smoke test: the official BigQuery client against the local emulator."""

from __future__ import annotations

import uuid

import pytest
from google.cloud import bigquery

pytestmark = pytest.mark.integration


def test_round_trip_through_a_partitioned_table_with_nested_and_repeated_fields(
    bigquery_client: bigquery.Client,
) -> None:
    dataset_id = f"smoke_{uuid.uuid4().hex[:10]}"
    dataset = bigquery_client.create_dataset(dataset_id)
    try:
        table = bigquery.Table(
            f"{bigquery_client.project}.{dataset_id}.events",
            schema=[
                bigquery.SchemaField("event_id", "STRING", mode="REQUIRED"),
                bigquery.SchemaField("event_time", "TIMESTAMP", mode="REQUIRED"),
                bigquery.SchemaField("tags", "STRING", mode="REPEATED"),
                bigquery.SchemaField(
                    "device",
                    "RECORD",
                    fields=[
                        bigquery.SchemaField("os", "STRING"),
                        bigquery.SchemaField("screen_width", "INT64"),
                    ],
                ),
            ],
        )
        table.time_partitioning = bigquery.TimePartitioning(
            type_=bigquery.TimePartitioningType.DAY, field="event_time"
        )
        created = bigquery_client.create_table(table)
        assert created.time_partitioning.field == "event_time"

        rows = [
            {
                "event_id": "e1",
                "event_time": "2026-12-01T10:00:00.000000Z",
                "tags": ["sale", "new"],
                "device": {"os": "iOS", "screen_width": 1170},
            },
            {
                "event_id": "e2",
                "event_time": "2026-12-02T11:30:00.500000Z",
                "tags": [],
                "device": {"os": "Android", "screen_width": 1080},
            },
        ]
        assert bigquery_client.insert_rows_json(created, rows) == []

        result = bigquery_client.query(
            f"SELECT event_id, event_time, tags, device.os AS os, device.screen_width AS width "
            f"FROM `{created.project}.{dataset_id}.events` ORDER BY event_id"
        ).result()
        read = [dict(row.items()) for row in result]
        assert [r["event_id"] for r in read] == ["e1", "e2"]
        assert read[0]["tags"] == ["sale", "new"]
        assert read[1]["tags"] == []
        assert (read[0]["os"], read[0]["width"]) == ("iOS", 1170)
        assert read[1]["event_time"].isoformat() == "2026-12-02T11:30:00.500000+00:00"
    finally:
        bigquery_client.delete_dataset(dataset, delete_contents=True, not_found_ok=True)
