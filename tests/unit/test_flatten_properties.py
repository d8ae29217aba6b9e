"""Properties of `flatten` over generated payloads (hypothesis).

For any JSON value: it returns without raising; the row validates against the
generated BigQuery schema; every leaf of the input is in its typed column or
in an extras column; the payload column round-trips; the ids agree with the
receiver's `identify`; the input is not modified.
"""

from __future__ import annotations

import copy
import json
import math
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schemas
from pipeline.flatten import flatten
from schemas.catalog import EVENT_COLUMNS, GROUPS, BigQueryType, Coercion, Column, FilledBy
from schemas.envelope import Envelope, detect_envelope, identify
from schemas.layout import ENVELOPE_EXTRA, Node, layout, walk
from schemas.row_check import validate_row

RECEIVED = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
EVENTS_SCHEMA = schemas.load_table_schema("events")
EXTRA_COLUMNS = [column.name for column in EVENT_COLUMNS if column.group == "extras"]
EXTRA_COLUMNS.remove("payload")
PAYLOAD_COLUMNS = [column for column in EVENT_COLUMNS if column.filled_by is FilledBy.PAYLOAD]
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# --- strategies ---------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    # The traps and edge cases of Tapcart's examples.
    st.sampled_from(
        [
            "",
            " ",
            "79.99",
            " 1 ",
            "1.5",
            "-0",
            "1e400",
            "NaN",
            "1_000",
            '[""]',
            '["a", 1]',
            '{"Size": "M"}',
            "null",
            "[",
            "2023-08-15T11:51:06.000-07:00",
            "2023-08-15T11:51:06",
            "1692125466000",
            "AppOpened",
            "applicationOpened",
        ]
    ),
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
lists_of_text = st.lists(st.one_of(st.just(""), st.text(max_size=5), st.integers()), max_size=4)
field_values = st.one_of(scalars, lists_of_text, json_values)


def _known_keys(kind: str) -> list[str]:
    keys: set[str] = set()
    for envelope in Envelope:
        for node in walk(layout(envelope)):
            keys.update(node.slots if kind == "slots" else node.children)
    return sorted(keys)


# A few ids and unknown keys, so copies agree or conflict and group spellings collide.
ids = st.sampled_from(["evt-1", "evt-1", "evt-2", " evt-1 ", "app-1", 7, 7.5, "", "  "])
unknown_keys = st.sampled_from(["os", "locale", "extra", "x"]) | st.text(max_size=6)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
numeric_text = st.one_of(
    st.integers(min_value=-(2**65), max_value=2**65).map(str),
    st.floats(allow_nan=False).map(repr),  # "inf" in a string is text, not a JSON number
    st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str),
)
json_text = json_values.map(json.dumps)
PLAUSIBLE: dict[Coercion, st.SearchStrategy[Any]] = {
    Coercion.ID: ids,
    Coercion.TEXT: st.one_of(st.text(max_size=8), st.integers(), finite_floats),
    Coercion.INTEGER: st.one_of(
        st.integers(min_value=-(2**64), max_value=2**64), numeric_text, finite_floats
    ),
    Coercion.NUMBER: st.one_of(finite_floats, st.integers(), numeric_text),
    Coercion.JSON: st.one_of(json_values, json_text),
    Coercion.JSON_LIST: st.one_of(st.lists(json_values, max_size=3), json_text),
    Coercion.TEXT_LIST: st.one_of(lists_of_text, lists_of_text.map(json.dumps)),
}
TIMES: dict[str, st.SearchStrategy[Any]] = {
    "timestamp": st.integers(min_value=-(2**64), max_value=2**64)
    | st.integers(min_value=946684800000, max_value=4102444800000),
    "timestamp_iso": st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat()),
}


def _mostly(usual: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`usual` three times in four (one_of would flatten `other`'s branches and drown it)."""
    return st.sampled_from([True, True, True, False]).flatmap(lambda pick: usual if pick else other)


def _value_for(key: str, column: Column) -> st.SearchStrategy[Any]:
    plausible = TIMES.get(key, PLAUSIBLE[column.coercion] if column.coercion else field_values)
    return _mostly(plausible, field_values)


def _some_of(options: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with at least one of these keys (fixed_dictionaries' optional keys are rare)."""
    if not options:
        return st.just({})
    keys = st.lists(st.sampled_from(sorted(options)), unique=True, min_size=1)
    return keys.flatmap(lambda chosen: st.fixed_dictionaries({k: options[k] for k in chosen}))


def _object_for(node: Node) -> st.SearchStrategy[dict[str, Any]]:
    fields = _some_of({key: _value_for(key, slot.column) for key, slot in node.slots.items()})
    children = {}
    for key, child in node.children.items():
        children[key] = _mostly(_object_for(child), field_values)
    unknown = st.dictionaries(unknown_keys, field_values, max_size=3)
    return st.tuples(unknown, fields, _some_of(children)).map(
        lambda parts: {**parts[0], **parts[1], **parts[2]}
    )


object_keys = st.sampled_from(_known_keys("children"))
field_keys = st.one_of(st.sampled_from(_known_keys("slots")), st.text(max_size=6))
loose_payloads = st.dictionaries(
    st.one_of(object_keys, field_keys),
    st.one_of(st.dictionaries(field_keys, field_values, max_size=6), field_values),
    max_size=10,
)
event_names = st.sampled_from(["AppOpened", "AddedToCart", "cartAdd", "NewThing", " x "])
# Payloads with their identity in place, so usable rows are common too.
identities = st.one_of(
    st.fixed_dictionaries(
        {"event_type": event_names, "event_id": st.just("evt-1"), "app_id": st.just("app-1")}
    ),
    st.fixed_dictionaries(
        {
            "event": event_names,
            "mp_metadata": st.fixed_dictionaries({"mp_event_id": st.just("evt-1")}),
            "app_id": st.just("app-1"),
        }
    ),
)


def _with_identity(parts: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    identity, rest = parts
    merged = {**rest, **identity}
    if isinstance(rest.get("mp_metadata"), dict):
        merged["mp_metadata"] = {**rest["mp_metadata"], **identity.get("mp_metadata", {})}
    return merged


envelopes = st.one_of(_object_for(layout(envelope)) for envelope in Envelope)
payloads = st.one_of(
    st.tuples(identities, envelopes).map(_with_identity),
    envelopes,
    loose_payloads,
)
any_input = st.one_of(payloads, json_values)


# --- the leaf oracle ------------------------------------------------------------


def same_json(left: object, right: object) -> bool:
    if type(left) is not type(right):
        return False
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same_json(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(same_json, left, right))
    return bool(left == right)


def lookup(value: object, path: tuple[str, ...]) -> tuple[bool, object]:
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return False, None
        value = value[key]
    return True, value


def is_number(value: object) -> bool:
    return type(value) in (int, float)


def decode_if_text(value: object) -> object:
    # The standard parser keeps integers beyond 64 bits exact; orjson makes them floats.
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def expected(column: Column, value: object) -> tuple[bool, object]:
    """(True, None) when the value is empty, (True, v) when it must be v, (False, _) if unusable.

    Written from the coercion rules in the data dictionary, independently of pipeline.coerce.
    """
    coercion = column.coercion
    if value is None or value == "":
        return True, None
    if coercion is Coercion.ID or coercion is Coercion.TEXT:
        if isinstance(value, str):
            text = value.strip() if coercion is Coercion.ID else value
            return True, text or None
        return (True, str(value)) if is_number(value) else (False, None)
    if coercion is Coercion.INTEGER:
        if isinstance(value, str) and value.isascii() and "_" not in value:
            if not value.strip():
                return True, None
            try:
                value = float(value) if "." in value or "e" in value.lower() else int(value)
            except ValueError:
                return False, None
        if type(value) is float and math.isfinite(value) and value.is_integer():
            value = int(value)
        if type(value) is int and -(2**63) <= value < 2**63:
            return True, value
        return False, None
    if coercion is Coercion.NUMBER:
        if isinstance(value, str) and value.isascii() and "_" not in value:
            if not value.strip():
                return True, None
            try:
                value = float(value)
            except ValueError:
                return False, None
        if is_number(value):
            try:
                number = float(value)  # type: ignore[arg-type]
            except OverflowError:
                return False, None
            return (True, number) if math.isfinite(number) else (False, None)
        return False, None
    if coercion is Coercion.JSON:
        decoded = decode_if_text(value)
        if isinstance(value, str) and decoded is value:
            return False, None
        return True, decoded
    items = decode_if_text(value) if isinstance(value, str) and value.lstrip()[:1] == "[" else value
    if not isinstance(items, list):
        return False, None
    if all(item is None or item == "" for item in items):
        return True, [] if coercion is Coercion.TEXT_LIST else "[]"
    if coercion is Coercion.JSON_LIST:
        return True, items
    if all(isinstance(item, str) or is_number(item) for item in items):
        return True, [item if isinstance(item, str) else str(item) for item in items]
    return False, None


def in_column(column: Column, value: object, row: dict[str, object]) -> bool:
    usable, want = expected(column, value)
    if not usable:
        return False
    if want is None:
        return True  # an empty value: NULL is all there is to keep
    have = row[column.name]
    if column.type is BigQueryType.JSON and isinstance(have, str):
        have = json.loads(have)
        if want == "[]":
            return have == []
    return same_json(have, want) or (column.coercion is Coercion.NUMBER and have == want)


def leaves_lost(payload: dict[str, Any], row: dict[str, object]) -> list[str]:
    """Paths of the input whose value is neither in its column nor in an extras column."""
    extras = {name: decode_if_text(row[name]) for name in EXTRA_COLUMNS if row[name] is not None}
    lost: list[str] = []

    def kept_in_extras(node: Node, key: str, value: object) -> bool:
        places = [
            (node.extra_column, (*node.extra_prefix, key)),
            (ENVELOPE_EXTRA, (*node.path, key)),
        ]
        for column, path in places:
            found, kept = lookup(extras.get(column), path)
            if found and same_json(kept, value):
                return True
        return False

    def visit(node: Node, obj: dict[str, Any]) -> None:
        for key, value in obj.items():
            slot = node.slots.get(key)
            child = node.children.get(key)
            if slot is not None:
                ok = in_column(slot.column, value, row) or kept_in_extras(node, key, value)
            elif child is not None and isinstance(value, dict):
                visit(child, value)
                continue
            elif child is not None and value in (None, ""):
                continue  # an empty group
            else:
                ok = kept_in_extras(node, key, value)
            if not ok:
                lost.append(".".join((*node.path, key)))

    visit(layout(detect_envelope(payload)), payload)
    return lost


# --- properties -----------------------------------------------------------------


@PROPERTY_SETTINGS
@given(any_input)
def test_never_raises_and_rows_fit_the_schema(payload: object) -> None:
    row, problems = flatten(payload, RECEIVED)
    assert all(problem.kind != "internal_error" for problem in problems), problems
    assert list(row) == [column.name for column in EVENT_COLUMNS]
    errors = validate_row(row, EVENTS_SCHEMA)
    if any(problem.fatal for problem in problems):
        # Unusable rows go to the dead letters; only their REQUIRED columns may be missing.
        errors = [error for error in errors if not error.endswith(": required")]
    assert errors == []
    for column in EVENT_COLUMNS:
        value = row[column.name]
        if column.type is BigQueryType.FLOAT and value is not None:
            assert type(value) is float


@PROPERTY_SETTINGS
@given(payloads)
def test_nothing_is_lost(payload: dict[str, Any]) -> None:
    row, _ = flatten(payload, RECEIVED, keep_payload=False)
    assert row["payload"] is None
    assert leaves_lost(payload, row) == []


@PROPERTY_SETTINGS
@given(payloads)
def test_nothing_is_invented(payload: dict[str, Any]) -> None:
    """Every typed column that holds a value holds one of the payload's."""
    row, _ = flatten(payload, RECEIVED, keep_payload=False)
    nodes = walk(layout(detect_envelope(payload)))
    for column in PAYLOAD_COLUMNS:
        if row[column.name] in (None, []):
            continue
        sources = []
        for node in nodes:
            found, obj = lookup(payload, node.path)
            for key, slot in node.slots.items():
                if slot.column is column and found and isinstance(obj, dict) and key in obj:
                    sources.append(obj[key])
        assert any(in_column(column, value, row) for value in sources), column.name


@PROPERTY_SETTINGS
@given(any_input)
def test_the_payload_column_round_trips_and_the_input_is_untouched(payload: object) -> None:
    before = copy.deepcopy(payload)
    row, _ = flatten(payload, RECEIVED)
    assert same_json(payload, before)
    assert isinstance(row["payload"], str)
    assert same_json(json.loads(row["payload"]), payload)
    again, _ = flatten(payload, RECEIVED)
    assert again == row


@PROPERTY_SETTINGS
@given(payloads, st.one_of(st.none(), st.text(max_size=5)))
def test_ids_agree_with_the_receiver(payload: dict[str, Any], hint: str | None) -> None:
    row, problems = flatten(payload, RECEIVED, app_id_hint=hint)
    identity = identify(payload, app_id_hint=hint)
    assert (row["event_id"], row["event_name"], row["app_id"]) == (
        identity.event_id,
        identity.event_name,
        identity.app_id,
    )
    fatal = sorted(problem.kind for problem in problems if problem.fatal)
    assert fatal == sorted(f"missing_{name}" for name in identity.missing)


def test_groups_are_covered_by_the_strategy() -> None:
    children = set(_known_keys("children"))
    for group in GROUPS:
        for keys in group.keys.values():
            assert set(keys) <= children
