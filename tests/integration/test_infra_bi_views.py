"""The BI views Terraform creates (infra/terraform/views.json), run by the BigQuery emulator.

The same SQL, with the placeholders Terraform fills, over the events table built
from the generated schema: each event_id comes out once, the copy received first.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import schemas
from infra.terraform_inputs import EVENTS_DATASET, PROJECT, VIEWS_DATASET, VIEWS_FILE

pytestmark = pytest.mark.integration


def _render(query: str, project: str, dataset: str) -> str:
    # Terraform's replace() calls, with both datasets the same here.
    for placeholder, value in (
        (PROJECT, project),
        (EVENTS_DATASET, dataset),
        (VIEWS_DATASET, dataset),
    ):
        query = query.replace(placeholder, value)
    return query


def _event(event_id: str, name: str, display: str, received: str, offset: int) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_name": name,
        "event_display_name": display,
        "app_id": "app-1",
        "event_time": "2026-12-01T10:00:00Z",
        "received_at": received,
        "inserted_at": received,
        "kafka_topic": "tapcart.events.raw",
        "kafka_partition": 0,
        "kafka_offset": offset,
    }


@pytest.fixture
def dataset_with_views(bigquery_client: Any, bigquery_project: str) -> Iterator[str]:
    from google.cloud import bigquery

    dataset = f"views_{uuid.uuid4().hex[:8]}"
    bigquery_client.create_dataset(dataset)
    fields = [bigquery.SchemaField.from_api_repr(f) for f in schemas.load_table_schema("events")]
    events = f"{bigquery_project}.{dataset}.events"
    bigquery_client.create_table(bigquery.Table(events, schema=fields))
    rows = [
        _event("e-1", "AppOpened", "App Opened", "2026-12-01T10:00:02Z", 11),
        _event("e-1", "AppOpened", "App Opened", "2026-12-01T10:00:01Z", 10),  # first received
        _event("e-2", "ProductViewed", "Product Viewed", "2026-12-01T10:00:03Z", 12),
        _event("e-1", "AppOpened", "App Opened", "2026-12-01T10:05:00Z", 13),
    ]
    assert bigquery_client.insert_rows_json(events, rows) == []
    document = json.loads(VIEWS_FILE.read_text(encoding="utf-8"))
    views = {document["deduplicated"]["name"]: document["deduplicated"]["query"]}
    views.update({name: view["query"] for name, view in document["event_types"].items()})
    for name, query in views.items():
        view = bigquery.Table(f"{bigquery_project}.{dataset}.{name}")
        view.view_query = _render(query, bigquery_project, dataset)
        bigquery_client.create_table(view)
    yield dataset
    bigquery_client.delete_dataset(dataset, delete_contents=True, not_found_ok=True)


def test_deduplicated_view_keeps_the_first_received_copy(
    bigquery_client: Any, bigquery_project: str, dataset_with_views: str
) -> None:
    rows = bigquery_client.query(
        f"SELECT event_id, kafka_offset FROM `{bigquery_project}.{dataset_with_views}"
        ".events_deduplicated` ORDER BY event_id"
    ).result()
    assert [(row["event_id"], row["kafka_offset"]) for row in rows] == [("e-1", 10), ("e-2", 12)]


def test_event_type_view_holds_only_its_type(
    bigquery_client: Any, bigquery_project: str, dataset_with_views: str
) -> None:
    rows = bigquery_client.query(
        f"SELECT event_id FROM `{bigquery_project}.{dataset_with_views}.events_app_opened`"
    ).result()
    assert [row["event_id"] for row in rows] == ["e-1"]
