"""Create the dataset, tables and views the pipeline writes to, when missing.

Schemas, partitioning and clustering come from the files derived from the
catalog (`schemas.load_table_schema`, `schemas.table_options`). A table that
exists but lacks columns the catalog has gained gets them added (NULLABLE
and REPEATED columns only, which BigQuery allows on a live table).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.api_core.exceptions import Conflict
from google.cloud import bigquery

import schemas
from pipeline.views import DEDUPLICATED_VIEW, deduplicated_view_sql, event_type_views

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Destination:
    project: str
    dataset: str
    events_table: str = "events"
    dead_letter_table: str = "events_dead_letter"

    def table_id(self, table: str) -> str:
        return f"{self.project}.{self.dataset}.{table}"

    @property
    def events(self) -> str:
        return self.table_id(self.events_table)

    @property
    def dead_letters(self) -> str:
        return self.table_id(self.dead_letter_table)


def schema_fields(schema: Sequence[Mapping[str, Any]]) -> list[bigquery.SchemaField]:
    return [bigquery.SchemaField.from_api_repr(dict(field)) for field in schema]


def table_definition(
    table_id: str, schema: Sequence[Mapping[str, Any]], options: Mapping[str, Any]
) -> bigquery.Table:
    table = bigquery.Table(table_id, schema=schema_fields(schema))
    partitioning = options.get("time_partitioning")
    if partitioning:
        table.time_partitioning = bigquery.TimePartitioning(
            type_=partitioning.get("type", "DAY"), field=partitioning.get("field")
        )
    clustering = options.get("clustering")
    if clustering:
        table.clustering_fields = list(clustering)
    description = options.get("description")
    if description:
        table.description = str(description)
    return table


def ensure_table(
    client: bigquery.Client,
    table_id: str,
    schema: Sequence[Mapping[str, Any]],
    options: Mapping[str, Any],
) -> bigquery.Table:
    wanted = table_definition(table_id, schema, options)
    try:
        return client.create_table(wanted)
    except Conflict:
        pass
    existing = client.get_table(table_id)
    present = {field.name for field in existing.schema}
    missing = [field for field in wanted.schema if field.name not in present]
    if not missing:
        return existing
    addable = [field for field in missing if field.mode != "REQUIRED"]
    if len(addable) != len(missing):
        names = ", ".join(field.name for field in missing if field.mode == "REQUIRED")
        raise RuntimeError(f"{table_id} lacks REQUIRED columns that cannot be added: {names}")
    _LOGGER.info("adding columns to %s: %s", table_id, ", ".join(f.name for f in addable))
    existing.schema = [*existing.schema, *addable]
    return client.update_table(existing, ["schema"])


def ensure_view(client: bigquery.Client, view_id: str, sql: str) -> None:
    view = bigquery.Table(view_id)
    view.view_query = sql
    try:
        client.create_table(view)
    except Conflict:
        existing = client.get_table(view_id)
        if existing.view_query != sql:
            existing.view_query = sql
            client.update_table(existing, ["view_query"])


def ensure_destination(client: bigquery.Client, destination: Destination) -> None:
    """Dataset, both tables and every view; a no-op when all exist."""
    client.create_dataset(f"{destination.project}.{destination.dataset}", exists_ok=True)
    for table, source in (
        (destination.events_table, schemas.EVENTS_TABLE),
        (destination.dead_letter_table, schemas.DEAD_LETTER_TABLE),
    ):
        ensure_table(
            client,
            destination.table_id(table),
            schemas.load_table_schema(source),
            schemas.table_options(source),
        )
    ensure_view(
        client,
        destination.table_id(DEDUPLICATED_VIEW),
        deduplicated_view_sql(destination.project, destination.dataset, destination.events_table),
    )
    for name, sql in event_type_views(destination.project, destination.dataset).items():
        ensure_view(client, destination.table_id(name), sql)
