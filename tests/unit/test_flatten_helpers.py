"""The helpers behind `flatten`: coercions, JSON text for BigQuery, timestamps."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from pipeline import json_text, timestamps
from pipeline.coerce import (
    CoercionFailed,
    to_id,
    to_integer,
    to_json,
    to_json_list,
    to_number,
    to_text,
    to_text_list,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(" a ", "a"), ("", None), ("   ", None), (None, None), (12, "12"), (1.5, "1.5")],
)
def test_to_id(value: object, expected: str | None) -> None:
    assert to_id(value) == expected


@pytest.mark.parametrize("value", [True, False, {"a": 1}, ["a"]])
def test_to_id_refuses_what_is_not_an_id(value: object) -> None:
    with pytest.raises(CoercionFailed) as failure:
        to_id(value)
    assert failure.value.kind == "not_an_id"


def test_to_text_keeps_text_as_sent() -> None:
    assert to_text("  Linen ") == "  Linen "
    assert to_text(79.99) == "79.99"
    assert to_text("") is None
    with pytest.raises(CoercionFailed):
        to_text(True)


def test_numbers_too_long_to_write_are_out_of_range() -> None:
    with pytest.raises(CoercionFailed) as failure:
        to_text(10**5000)
    assert failure.value.kind == "out_of_range"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1),
        ("1", 1),
        (" -7 ", -7),
        ("+3", 3),
        ("2.0", 2),
        ("1e3", 1000),
        (4.0, 4),
        (2**63 - 1, 2**63 - 1),
        (-(2**63), -(2**63)),
        ("", None),
        (None, None),
    ],
)
def test_to_integer(value: object, expected: int | None) -> None:
    assert to_integer(value) == expected


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (1.5, "not_an_integer"),
        ("1.5", "not_an_integer"),
        ("one", "not_an_integer"),
        ("1_000", "not_an_integer"),
        ("\u0661", "not_an_integer"),
        (True, "not_an_integer"),
        (2**63, "out_of_range"),
        (-(2**63) - 1, "out_of_range"),
        (float("inf"), "not_an_integer"),
    ],
)
def test_to_integer_refuses(value: object, kind: str) -> None:
    with pytest.raises(CoercionFailed) as failure:
        to_integer(value)
    assert failure.value.kind == kind


@pytest.mark.parametrize(
    ("value", "expected"),
    [(79.99, 79.99), ("79.99", 79.99), (" 5 ", 5.0), (3, 3.0), ("-0", -0.0), ("", None)],
)
def test_to_number(value: object, expected: float | None) -> None:
    result = to_number(value)
    assert result == expected
    assert result is None or type(result) is float


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("$79.99", "not_a_number"),
        ("nan", "not_a_number"),
        ("Infinity", "not_a_number"),
        ("1e400", "out_of_range"),
        (10**400, "out_of_range"),
        (float("nan"), "out_of_range"),
        (False, "not_a_number"),
        ([1], "not_a_number"),
    ],
)
def test_to_number_refuses(value: object, kind: str) -> None:
    with pytest.raises(CoercionFailed) as failure:
        to_number(value)
    assert failure.value.kind == kind


def test_to_json_decodes_json_inside_strings() -> None:
    assert to_json('{"Size": "M"}') == '{"Size":"M"}'
    assert to_json({"Size": "M"}) == '{"Size":"M"}'
    assert to_json('"quoted"') == '"quoted"'
    assert to_json(5) == "5"
    assert to_json("null") is None
    assert to_json("") is None
    with pytest.raises(CoercionFailed) as failure:
        to_json("Size: M")
    assert failure.value.kind == "not_json"


def test_json_inside_strings_keeps_long_integers_and_refuses_what_is_not_json() -> None:
    assert to_text_list("[12345678901234567890123]") == ["12345678901234567890123"]
    assert to_json('{"id": 12345678901234567890123}') == '{"id":12345678901234567890123}'
    for not_json in ("NaN", "[Infinity]", '{"a": -Infinity}', "[1,]", "1E400"):
        with pytest.raises(CoercionFailed) as failure:
            to_json(not_json)
        assert failure.value.kind == "not_json"
    # Deeper than Python's recursion allows, still within what orjson parses.
    with pytest.raises(CoercionFailed) as failure:
        to_json("[" * 1000 + "]" * 1000)
    assert failure.value.kind == "too_deep"


def test_lists() -> None:
    assert to_text_list([""]) is None
    assert to_text_list(["a", 2, 2.5]) == ["a", "2", "2.5"]
    assert to_text_list('["a"]') == ["a"]
    assert to_json_list([""]) == "[]"
    assert to_json_list([{"q": 1}, ""]) == '[{"q":1},""]'
    for bad in ("a,b", {"a": 1}, 3, ["a", None], ["a", True], "[not json"):
        with pytest.raises(CoercionFailed):
            to_text_list(bad)


def nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth - 1):
        value = [value]
    return [value] if depth else value


@pytest.mark.parametrize("depth", [0, 1, 255, 256, 500])
def test_json_text_within_bigquery_depth(depth: int) -> None:
    text = json_text.dumps(nested(depth))
    assert text is not None
    assert json.loads(text) == nested(depth)
    assert json_text.depth(nested(depth)) == depth


def test_json_text_beyond_bigquery_depth() -> None:
    too_deep = nested(501)
    assert json_text.dumps(too_deep) is None
    assert json.loads(json.loads(json_text.dumps_as_text(too_deep))) == too_deep


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2**64, "18446744073709551616"),
        (-(2**70), "-1180591620717411303424"),
        ({"a": [1, {"b": None}], "c": True}, '{"a":[1,{"b":null}],"c":true}'),
        ("\ud800", '"\\ud800"'),
        (float("nan"), "null"),
        ({1: 2}, '{"1":2}'),
        ((1, 2), "[1,2]"),
        ({}, "{}"),
        ([], "[]"),
    ],
)
def test_json_text_of_what_orjson_refuses(value: object, text: str) -> None:
    assert json_text.encode(value) == text


def test_json_text_of_a_number_beyond_str() -> None:
    number = 7 * 10**9000 + 3
    text = json_text.encode(number)
    assert len(text) == 9001
    assert text[0] == "7" and text[-1] == "3" and set(text[1:-1]) == {"0"}
    assert json_text.encode(-number) == "-" + text


def test_utc_text() -> None:
    moment = datetime(2023, 8, 15, 11, 51, 6, tzinfo=timezone(timedelta(hours=-7)))
    assert timestamps.utc_text(moment) == "2023-08-15T18:51:06.000000Z"
    assert timestamps.utc_text(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00.000000Z"
    assert timestamps.utc_text(datetime(2023, 8, 15)) == "2023-08-15T00:00:00.000000Z"


def test_epoch_millis() -> None:
    assert timestamps.from_epoch_millis(1663008666001) == "2022-09-12T18:51:06.001000Z"
    assert timestamps.from_epoch_millis(-1) == "1969-12-31T23:59:59.999000Z"
    assert timestamps.from_epoch_millis(253402300800000) is None  # year 10000
    assert timestamps.from_epoch_millis(10**30) is None


def test_iso() -> None:
    assert timestamps.from_iso("2023-08-15T11:51:06.000-07:00") == (
        "2023-08-15T18:51:06.000000Z",
        None,
    )
    assert timestamps.from_iso(" 2023-08-15T18:51:06Z ") == ("2023-08-15T18:51:06.000000Z", None)
    assert timestamps.from_iso("2023-08-15T11:51:06") == (None, "timestamp_without_offset")
    assert timestamps.from_iso("last tuesday") == (None, "not_a_timestamp")
    assert timestamps.from_iso("0001-01-01T00:00:00+01:00") == (None, "out_of_range")


def test_plausible_event_times() -> None:
    assert timestamps.is_plausible("2023-08-15T18:51:06.000000Z")
    assert not timestamps.is_plausible("1970-01-20T14:08:45.466000Z")
    assert not timestamps.is_plausible("2100-01-01T00:00:00.000000Z")
