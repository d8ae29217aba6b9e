"""The BI views over the events table, as SQL.

`events_deduplicated` keeps one row per `event_id` (the copy received first),
the backstop for duplicates the pipeline's window did not catch: Tapcart
retries after the window, a replay, or a drain pass that was re-run after a
crash. One view per event type of the catalog reads from it.
"""

from __future__ import annotations

import re

from schemas.catalog import EVENT_TYPES

DEDUPLICATED_VIEW = "events_deduplicated"
EVENT_TYPE_VIEW_PREFIX = "events_"


def table_path(project: str, dataset: str, table: str) -> str:
    return f"`{project}.{dataset}.{table}`"


def deduplicated_view_sql(project: str, dataset: str, events_table: str = "events") -> str:
    return (
        "SELECT * EXCEPT (dedupe_row_number)\n"
        "FROM (\n"
        "  SELECT *, ROW_NUMBER() OVER (\n"
        "    PARTITION BY event_id\n"
        "    ORDER BY received_at, inserted_at, kafka_partition, kafka_offset\n"
        "  ) AS dedupe_row_number\n"
        f"  FROM {table_path(project, dataset, events_table)}\n"
        ")\n"
        "WHERE dedupe_row_number = 1"
    )


def view_name_of(display_name: str) -> str:
    """`Added to Cart` -> `events_added_to_cart`."""
    words = re.findall(r"[a-z0-9]+", display_name.lower())
    return EVENT_TYPE_VIEW_PREFIX + "_".join(words)


def event_type_views(project: str, dataset: str) -> dict[str, str]:
    """View name -> SQL, one per event type the catalog knows."""
    source = table_path(project, dataset, DEDUPLICATED_VIEW)
    views = {}
    for event_type in EVENT_TYPES:
        name = event_type.display_name.replace("'", "\\'")
        views[view_name_of(event_type.display_name)] = (
            f"SELECT * FROM {source}\nWHERE event_display_name = '{name}'"
        )
    return views
