"""The row check that stands in for BigQuery's own (the emulator accepts almost anything)."""

from __future__ import annotations

import base64

import pytest

import schemas
from schemas.row_check import validate_row

SCHEMA = [
    {"name": "id", "type": "STRING", "mode": "REQUIRED"},
    {"name": "count", "type": "INTEGER", "mode": "NULLABLE"},
    {"name": "count64", "type": "INT64", "mode": "NULLABLE"},
    {"name": "price", "type": "FLOAT", "mode": "NULLABLE"},
    {"name": "flag", "type": "BOOLEAN", "mode": "NULLABLE"},
    {"name": "at", "type": "TIMESTAMP", "mode": "NULLABLE"},
    {"name": "doc", "type": "JSON", "mode": "NULLABLE"},
    {"name": "raw", "type": "BYTES", "mode": "NULLABLE"},
    {"name": "tags", "type": "STRING", "mode": "REPEATED"},
    {
        "name": "item",
        "type": "RECORD",
        "mode": "NULLABLE",
        "fields": [{"name": "sku", "type": "STRING", "mode": "REQUIRED"}],
    },
]


def test_a_row_that_fits() -> None:
    row = {
        "id": "a",
        "count": 2**63 - 1,
        "count64": -1,
        "price": 1.5,
        "flag": False,
        "at": "2023-08-15T18:51:06.000000Z",
        "doc": '{"a": [1, null]}',
        "raw": base64.b64encode(b"\xff\x00").decode(),
        "tags": ["x", ""],
        "item": {"sku": "s"},
    }
    assert validate_row(row, SCHEMA) == []
    assert validate_row({"id": "a"}, SCHEMA) == []


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("id", None, "id: required"),
        ("count", "1", "count: expected an integer"),
        ("count", True, "count: expected an integer"),
        ("count", 2**63, "count: outside INT64"),
        ("count64", 1.0, "count64: expected an integer"),
        ("price", "1.5", "price: expected a number"),
        ("price", float("nan"), "price: not finite"),
        ("flag", 1, "flag: expected true or false"),
        ("at", 1692125466000, "at: expected UTC text like 2023-08-15T18:51:06.000000Z"),
        ("at", "2023-08-15T18:51:06Z", "at: expected UTC text like 2023-08-15T18:51:06.000000Z"),
        ("at", "2023-02-30T18:51:06.000000Z", "at: not a real date and time"),
        ("doc", {"a": 1}, "doc: expected JSON text"),
        ("raw", "not base64!", "raw: not base64"),
        ("tags", "x", "tags: expected a list"),
        ("tags", ["x", None], "tags[1]: null inside a list"),
        ("tags", ["x", 1], "tags[1]: expected text"),
        ("item", {}, "item.sku: required"),
        ("unknown", 1, "unknown: not in the schema"),
    ],
)
def test_a_row_that_does_not_fit(column: str, value: object, reason: str) -> None:
    assert validate_row({"id": "a", column: value}, SCHEMA) == [reason]


def test_json_deeper_than_bigquery_allows() -> None:
    assert validate_row({"id": "a", "doc": "[" * 500 + "]" * 500}, SCHEMA) == []
    assert validate_row({"id": "a", "doc": "[" * 501 + "]" * 501}, SCHEMA) == [
        "doc: nested deeper than 500"
    ]
    assert validate_row({"id": "a", "doc": "{"}, SCHEMA)[0].startswith("doc: not JSON")


def test_the_generated_schemas_are_checkable() -> None:
    for table in schemas.TABLE_NAMES:
        schema = schemas.load_table_schema(table)
        errors = validate_row({}, schema)
        required = [f["name"] for f in schema if f["mode"] == "REQUIRED"]
        assert errors == [f"{name}: required" for name in required]
