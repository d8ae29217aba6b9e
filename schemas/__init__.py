"""The field catalog of Tapcart events and the files derived from it.

`schemas.catalog` is the source of truth; `python -m schemas.generate`
(`make schemas`) writes `schemas/generated/`. The pipeline and the
infrastructure read the generated files through the functions below.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from schemas.catalog import (
    DEAD_LETTER_COLUMNS,
    DEAD_LETTER_TABLE,
    EVENT_COLUMNS,
    EVENTS_TABLE,
    INGEST_COLUMNS,
)

GENERATED_DIR = Path(__file__).parent / "generated"

TABLE_NAMES: tuple[str, ...] = (EVENTS_TABLE, DEAD_LETTER_TABLE)
EVENTS_COLUMN_NAMES: tuple[str, ...] = tuple(column.name for column in EVENT_COLUMNS)
INGEST_COLUMN_NAMES: tuple[str, ...] = tuple(column.name for column in INGEST_COLUMNS)
DEAD_LETTER_COLUMN_NAMES: tuple[str, ...] = tuple(column.name for column in DEAD_LETTER_COLUMNS)

__all__ = [
    "DEAD_LETTER_COLUMN_NAMES",
    "DEAD_LETTER_TABLE",
    "EVENTS_COLUMN_NAMES",
    "EVENTS_TABLE",
    "GENERATED_DIR",
    "INGEST_COLUMN_NAMES",
    "TABLE_NAMES",
    "load_table_schema",
    "table_options",
]


@cache
def _read(name: str) -> str:
    return (GENERATED_DIR / name).read_text(encoding="utf-8")


def _check_table(name: str) -> None:
    if name not in TABLE_NAMES:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(TABLE_NAMES)}")


def load_table_schema(name: str) -> list[dict[str, object]]:
    """The BigQuery JSON schema of a table (`events`, `events_dead_letter`); a fresh copy."""
    _check_table(name)
    schema: list[dict[str, object]] = json.loads(_read(f"{name}.json"))
    return schema


def table_options(name: str) -> dict[str, object]:
    """Partitioning and clustering of a table, e.g. `{"time_partitioning": {...}, ...}`."""
    _check_table(name)
    options: dict[str, dict[str, object]] = json.loads(_read("tables.json"))
    return options[name]
