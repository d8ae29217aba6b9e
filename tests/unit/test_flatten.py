"""`flatten` one behaviour at a time: identity, coercion traps, event time, extras, limits."""

from __future__ import annotations

import dataclasses
import json
import pickle
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

import schemas
from pipeline.flatten import Problem, flatten
from schemas.row_check import validate_row

RECEIVED = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
RECEIVED_TEXT = "2024-05-06T07:08:09.123456Z"
EVENTS_SCHEMA = schemas.load_table_schema("events")


def event(**fields: Any) -> dict[str, Any]:
    return {"event_type": "AddedToCart", "event_id": "evt-1", "app_id": "app-1", **fields}


def run(payload: object, **options: Any) -> tuple[dict[str, Any], list[Problem]]:
    row, problems = flatten(payload, RECEIVED, **options)
    assert validate_row(row, EVENTS_SCHEMA) == [] or any(p.fatal for p in problems)
    return row, problems


def kinds(problems: list[Problem]) -> list[str]:
    return [problem.kind for problem in problems]


def json_column(row: dict[str, Any], name: str) -> Any:
    value = row[name]
    return None if value is None else json.loads(value)


def test_a_minimal_event_fills_identity_and_times() -> None:
    row, problems = run(event())
    assert problems == []
    assert (row["event_id"], row["event_name"], row["app_id"]) == ("evt-1", "AddedToCart", "app-1")
    assert row["event_display_name"] == "Added to Cart"
    assert row["envelope"] == "insights"
    assert (row["event_time"], row["event_time_source"]) == (RECEIVED_TEXT, "received_at")
    assert row["received_at"] == RECEIVED_TEXT
    assert row["kafka_topic"] is row["kafka_partition"] is row["kafka_offset"] is None
    assert row["inserted_at"] is None


def test_every_column_is_present_and_repeated_columns_are_lists() -> None:
    row, _ = run(event())
    assert set(row) == set(schemas.EVENTS_COLUMN_NAMES)
    repeated = [field["name"] for field in EVENTS_SCHEMA if field["mode"] == "REPEATED"]
    assert repeated
    assert all(row[name] == [] for name in repeated)


def test_the_payload_column_holds_the_payload_unless_switched_off() -> None:
    payload = event(event_properties={"variant_price": "79.99"})
    row, _ = run(payload)
    assert orjson.loads(row["payload"]) == payload
    row, _ = run(payload, keep_payload=False)
    assert row["payload"] is None


def test_ids_are_trimmed_and_numbers_become_text() -> None:
    row, _ = run({"event_type": " AppOpened ", "event_id": 42, "app_id": 7.5, "session_id": " s "})
    assert (row["event_name"], row["event_id"], row["app_id"]) == ("AppOpened", "42", "7.5")
    assert row["session_id"] == "s"


@pytest.mark.parametrize(
    ("payload", "missing"),
    [
        ({"event_type": "AppOpened", "app_id": "a"}, ["missing_event_id"]),
        ({"event_id": "e", "app_id": "a"}, ["missing_event_name"]),
        ({"event_type": "AppOpened", "event_id": "e"}, ["missing_app_id"]),
        (
            {"event_type": "AppOpened", "event_id": " ", "app_id": True},
            ["missing_event_id", "missing_app_id"],
        ),
    ],
)
def test_missing_identity_is_fatal(payload: dict[str, Any], missing: list[str]) -> None:
    row, problems = run(payload)
    fatal = [problem.kind for problem in problems if problem.fatal]
    assert fatal == missing
    assert row["event_time"] == RECEIVED_TEXT


@pytest.mark.parametrize("payload", [[], [{"event_id": "e"}], "text", 3, 2.5, True, None])
def test_a_payload_that_is_not_an_object_is_fatal(payload: object) -> None:
    row, problems = run(payload)
    assert [(p.kind, p.fatal, p.path) for p in problems] == [("not_an_object", True, "")]
    assert json.loads(row["payload"]) == payload


def test_the_app_id_hint_is_used_only_when_the_payload_has_none() -> None:
    payload = {"event": "cartAdd", "mp_metadata": {"mp_event_id": "mp-1"}}
    row, problems = run(payload, app_id_hint="app-from-header")
    assert problems == []
    assert row["app_id"] == "app-from-header"
    row, _ = run({**payload, "app_id": "app-in-body"}, app_id_hint="app-from-header")
    assert row["app_id"] == "app-in-body"
    _, problems = run(payload, app_id_hint="  ")
    assert kinds(problems) == ["missing_app_id"]


def test_clickstream_ids_come_from_mp_metadata() -> None:
    row, problems = run(
        {
            "event": "applicationOpened",
            "mp_metadata": {"mp_event_id": "mp-1", "mp_session_id": "ses-1", "mp_lib": "ios"},
            "properties": {"app_id": "app-1", "device_id": "dev-1"},
            "data": {"app_open_source": "icon"},
        }
    )
    assert problems == []
    assert (row["event_id"], row["session_id"], row["device_id"]) == ("mp-1", "ses-1", "dev-1")
    assert row["envelope"] == "clickstream"
    assert row["event_display_name"] == "App Opened"
    assert row["event_app_open_source"] == "icon"
    assert json_column(row, "envelope_extra") == {"mp_metadata": {"mp_lib": "ios"}}


@pytest.mark.parametrize(
    ("field", "sent", "column_value"),
    [
        ("variant_price", "79.99", 79.99),
        ("variant_price", 79, 79.0),
        ("variant_price", " 1e2 ", 100.0),
        ("cart_total_items", "1", 1),
        ("cart_total_items", 3.0, 3),
        ("cart_total_items", "2.0", 2),
        ("product_id", 8072647213337, "8072647213337"),
        ("product_title", "", None),
        ("product_title", None, None),
        ("variant_price", "", None),
        ("product_tags_list", [""], []),
        ("product_tags_list", ["", ""], []),
        ("product_tags_list", None, []),
        ("product_tags_list", ["a", 1, ""], ["a", "1", ""]),
        ("product_tags_list", '["a", "b"]', ["a", "b"]),
        ("variant_options_updated", '{"Size": "M"}', '{"Size":"M"}'),
        ("variant_options_updated", {"Size": "M"}, '{"Size":"M"}'),
        ("variant_options_updated", "null", None),
        ("checkout_items_list", [""], "[]"),
        ("checkout_items_list", '[{"q": 1}]', '[{"q":1}]'),
    ],
)
def test_event_fields_are_coerced(field: str, sent: object, column_value: object) -> None:
    row, problems = run(event(event_properties={field: sent}))
    assert problems == []
    assert row[f"event_{field}"] == column_value
    assert row["event_extra"] is None


@pytest.mark.parametrize(
    ("field", "sent", "kind"),
    [
        ("variant_price", "$79.99", "not_a_number"),
        ("variant_price", "NaN", "not_a_number"),
        ("variant_price", "1_000", "not_a_number"),
        ("variant_price", "1e400", "out_of_range"),
        ("variant_price", True, "not_a_number"),
        ("cart_total_items", "1.5", "not_an_integer"),
        ("cart_total_items", 2**63, "out_of_range"),
        ("product_title", {"en": "Shirt"}, "not_text"),
        ("product_title", False, "not_text"),
        ("product_tags_list", "linen", "not_a_list"),
        ("product_tags_list", ["a", None], "not_a_list"),
        ("product_tags_list", [["a"]], "not_a_list"),
        ("variant_options_updated", "Size: M", "not_json"),
        ("checkout_items_list", {"q": 1}, "not_a_list"),
    ],
)
def test_values_that_do_not_fit_are_kept_in_the_group_extras(
    field: str, sent: object, kind: str
) -> None:
    row, problems = run(event(event_properties={field: sent}))
    assert [(p.path, p.kind, p.fatal) for p in problems] == [
        (f"event_properties.{field}", kind, False)
    ]
    assert row[f"event_{field}"] in (None, [])
    assert json_column(row, "event_extra") == {field: sent}


def test_unknown_fields_go_to_their_group_and_unknown_groups_to_the_envelope() -> None:
    row, problems = run(
        event(
            loyalty={"tier": "gold"},
            metadata={"schema_id": "Event_X_1_0_0", "revision": 2},
            device_properties={"os": "iOS"},
            event_properties={"new_field": [1, {"a": None}]},
        )
    )
    assert problems == []
    assert row["schema_id"] == "Event_X_1_0_0"
    assert json_column(row, "device_extra") == {"os": "iOS"}
    assert json_column(row, "event_extra") == {"new_field": [1, {"a": None}]}
    assert json_column(row, "envelope_extra") == {
        "loyalty": {"tier": "gold"},
        "metadata": {"revision": 2},
    }


def test_a_group_that_is_not_an_object_is_kept_at_its_path() -> None:
    row, problems = run(event(device_properties=["iPhone"], session_properties=""))
    assert [(p.path, p.kind) for p in problems] == [("device_properties", "not_an_object")]
    assert json_column(row, "envelope_extra") == {"device_properties": ["iPhone"]}


def test_both_spellings_of_a_group_are_read() -> None:
    row, problems = run(
        event(
            device_properties={"os": "iOS", "model": "X"},
            DeviceProperties={"os": "Android", "model": "X", "locale": "fr"},
            SessionProperties={"source": "push"},
        )
    )
    assert kinds(problems) == ["conflicting_value"]
    assert problems[0].path == "DeviceProperties.os"
    assert row["session_source"] == "push"
    assert json_column(row, "device_extra") == {"os": "iOS", "model": "X", "locale": "fr"}
    assert json_column(row, "envelope_extra") == {"DeviceProperties": {"os": "Android"}}


def test_variant_title_is_read_as_variant_name_and_a_conflict_is_kept() -> None:
    row, _ = run(event(event_properties={"variant_title": "M"}))
    assert row["event_variant_name"] == "M"
    # The payloads carry variant_name; it wins over the docs' name, wherever it comes.
    row, problems = run(event(event_properties={"variant_title": "M", "variant_name": "L"}))
    assert row["event_variant_name"] == "L"
    assert [(p.path, p.kind) for p in problems] == [
        ("event_properties.variant_title", "conflicting_value")
    ]
    assert json_column(row, "event_extra") == {"variant_title": "M"}


def test_ids_repeated_in_groups_are_compared() -> None:
    same, problems = run(
        event(
            session_id="s-1",
            event_properties={"event_id": "evt-1", "session_id": "s-1"},
            device_properties={"device_id": "d-1", "app_id": "app-1"},
        )
    )
    assert problems == []
    assert (same["session_id"], same["device_id"]) == ("s-1", "d-1")
    assert same["event_extra"] is None and same["device_extra"] is None
    differing, problems = run(event(device_properties={"event_id": "evt-2", "ip": "10.0.0.1"}))
    assert [(p.path, p.kind) for p in problems] == [
        ("device_properties.event_id", "conflicting_value")
    ]
    assert differing["event_id"] == "evt-1"
    assert differing["ip"] == "10.0.0.1"
    assert json_column(differing, "device_extra") == {"event_id": "evt-2"}


def test_a_receiver_checked_id_is_not_taken_from_another_group() -> None:
    # identify() reads event_id only at the top and in event_properties.
    row, problems = run(
        {"event_type": "AppOpened", "app_id": "a", "device_properties": {"event_id": "e"}}
    )
    assert kinds(problems) == ["conflicting_value", "missing_event_id"]
    assert row["event_id"] is None
    assert json_column(row, "device_extra") == {"event_id": "e"}


@pytest.mark.parametrize(
    ("fields", "event_time", "source"),
    [
        ({"timestamp": 1692125466001}, "2023-08-15T18:51:06.001000Z", "timestamp"),
        ({"timestamp": "1692125466001"}, "2023-08-15T18:51:06.001000Z", "timestamp"),
        (
            {"timestamp": 1692125466001, "timestamp_iso": "2020-01-01T00:00:00Z"},
            "2023-08-15T18:51:06.001000Z",
            "timestamp",
        ),
        (
            {"timestamp_iso": "2023-08-15T11:51:06.000-07:00"},
            "2023-08-15T18:51:06.000000Z",
            "timestamp_iso",
        ),
        (
            {"timestamp_iso": "2023-08-15T18:51:06.5Z"},
            "2023-08-15T18:51:06.500000Z",
            "timestamp_iso",
        ),
        (
            {"timestamp": "soon", "timestamp_iso": "2023-08-15T11:51:06-07:00"},
            "2023-08-15T18:51:06.000000Z",
            "timestamp_iso",
        ),
        ({"timestamp_iso": "2023-08-15T11:51:06"}, RECEIVED_TEXT, "received_at"),
        ({"timestamp_iso": "yesterday"}, RECEIVED_TEXT, "received_at"),
        ({"timestamp": 1692125466}, RECEIVED_TEXT, "received_at"),
        ({"timestamp": 10**16}, RECEIVED_TEXT, "received_at"),
        ({"timestamp": -(10**16)}, RECEIVED_TEXT, "received_at"),
    ],
)
def test_event_time_falls_back_from_timestamp_to_iso_to_receive_time(
    fields: dict[str, Any], event_time: str, source: str
) -> None:
    row, _ = run(event(**fields))
    assert (row["event_time"], row["event_time_source"]) == (event_time, source)


def test_an_unusable_timestamp_is_still_kept() -> None:
    row, problems = run(event(timestamp=1692125466, timestamp_iso="2023-08-15T11:51:06"))
    assert kinds(problems) == ["implausible_timestamp", "timestamp_without_offset"]
    assert (row["timestamp_ms"], row["timestamp_iso"]) == (1692125466, "2023-08-15T11:51:06")


def test_received_at_in_another_zone_is_converted_to_utc() -> None:
    pacific = timezone(timedelta(hours=-7))
    row, _ = flatten(event(), datetime(2024, 5, 6, 0, 8, 9, tzinfo=pacific))
    assert row["received_at"] == "2024-05-06T07:08:09.000000Z"


def test_received_at_must_be_a_datetime() -> None:
    with pytest.raises(TypeError):
        flatten(event(), "2024-05-06")  # type: ignore[arg-type]


def test_nesting_beyond_orjson_and_beyond_bigquery() -> None:
    deep: Any = "bottom"
    for _ in range(300):
        deep = [deep]
    row, problems = run(event(event_properties={"deep": deep}))
    assert problems == []
    assert json.loads(row["event_extra"]) == {"deep": deep}
    for _ in range(300):
        deep = {"d": deep}
    row, problems = run(event(event_properties={"deep": deep}))
    assert sorted(kinds(problems)) == ["too_deep", "too_deep"]
    # Still all there, as JSON text inside a JSON string.
    assert json.loads(json.loads(row["event_extra"])) == {"deep": deep}
    assert json.loads(json.loads(row["payload"]))["event_properties"]["deep"] == deep


def test_huge_strings_are_kept_whole() -> None:
    title = "x" * (8 * 1024 * 1024)
    row, problems = run(event(event_properties={"product_title": title, "notes": title}))
    assert problems == []
    assert row["event_product_title"] == title
    assert json.loads(row["event_extra"]) == {"notes": title}


STRANGE = {
    "nan": float("nan"),
    "infinity": float("inf"),
    "int beyond 64 bits": 2**100,
    "int beyond str()": 10**5000,
    "lone surrogate": "\ud800",
    "tuple": ("a", "tuple"),
    "int key": {1: "int key"},
    "set": {"set": {1, 2}},
    "bytes": b"bytes",
}


@pytest.mark.parametrize("strange", list(STRANGE.values()), ids=list(STRANGE))
def test_values_no_json_parser_gives_do_not_raise(strange: object) -> None:
    payload = event(
        event_properties={"cart_total_items": strange, "variant_price": strange, "x": strange}
    )
    row, problems = flatten(payload, RECEIVED)
    assert all(problem.kind != "internal_error" for problem in problems)
    assert isinstance(row["payload"], str)
    json.loads(row["payload"], parse_int=str)  # valid JSON text, however long its numbers


def test_flatten_is_pure() -> None:
    payload = event(event_properties={"variant_price": "79.99", "product_tags_list": [""]})
    before = json.dumps(payload)
    first = flatten(payload, RECEIVED)
    assert json.dumps(payload) == before
    assert flatten(payload, RECEIVED) == first


def test_problems_are_frozen_picklable_and_plain_text() -> None:
    _, problems = run(event(event_properties={"variant_price": "abc"}))
    problem = problems[0]
    assert type(problem.kind) is str
    assert problem == Problem("event_properties.variant_price", "not_a_number", problem.detail)
    assert pickle.loads(pickle.dumps(problem)) == problem
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.kind = "other"  # type: ignore[misc]
