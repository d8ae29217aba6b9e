"""The JSON Schema of both envelopes, rendered from the catalog and the layout.

It accepts exactly what `schemas.envelope.identify` accepts (an object with
an event id, an event name and an app id where the envelope keeps them) and
describes every known field with the column it feeds. It does not constrain
the other fields' types: the pipeline keeps a badly typed value in an extras
column rather than rejecting the event, and unknown fields are welcome.
"""

from __future__ import annotations

from schemas.bigquery import GENERATED_NOTICE
from schemas.catalog import COERCION_RULES, Column
from schemas.envelope import IDENTITY_PATHS, REQUIRED_FIELDS, Envelope, Path
from schemas.layout import Node, layout

_ID = "#/$defs/identifier"

_ENVELOPE_TITLES = {
    Envelope.INSIGHTS: "Legacy Insights event (event_type, event_id, property groups)",
    Envelope.CLICKSTREAM: "Clickstream event (event, data, properties, mp_metadata)",
}


def envelope_schema() -> dict[str, object]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": GENERATED_NOTICE,
        "title": "Tapcart webhook event",
        "description": "One event as Tapcart POSTs it, in either envelope. Clickstream when "
        "`mp_metadata` is present, or `event` without `event_type`; Insights otherwise. The "
        "app id may instead arrive in the `appid` request header.",
        "type": "object",
        "if": {
            "anyOf": [
                {"required": ["mp_metadata"]},
                {"required": ["event"], "not": {"required": ["event_type"]}},
            ]
        },
        "then": {"$ref": f"#/$defs/{Envelope.CLICKSTREAM.value}"},
        "else": {"$ref": f"#/$defs/{Envelope.INSIGHTS.value}"},
        "$defs": {
            "identifier": {
                "description": "Text with at least one non-blank character, or a number.",
                "anyOf": [{"type": "string", "pattern": "\\S"}, {"type": "number"}],
            },
            **{envelope.value: _envelope(envelope) for envelope in Envelope},
        },
    }


def _envelope(envelope: Envelope) -> dict[str, object]:
    requirements = [
        {
            "$comment": f"{name}: the first of these paths that holds an identifier",
            "anyOf": [_requires(path) for path in IDENTITY_PATHS[envelope][name]],
        }
        for name in REQUIRED_FIELDS
    ]
    return {
        "title": _ENVELOPE_TITLES[envelope],
        "type": "object",
        "properties": _properties(layout(envelope)),
        "allOf": requirements,
    }


def _requires(path: Path) -> dict[str, object]:
    schema: dict[str, object] = {"$ref": _ID}
    for key in reversed(path):
        schema = {"type": "object", "required": [key], "properties": {key: schema}}
    return schema


def _properties(node: Node) -> dict[str, object]:
    properties: dict[str, object] = {}
    for key, slot in node.slots.items():
        properties[key] = _describe(slot.column)
    for key, child in node.children.items():
        about = child.group.description if child.group is not None else "Envelope metadata."
        properties[key] = {
            "description": f"{about} Unknown fields go to `{child.extra_column}`.",
            "properties": _properties(child),
        }
    return properties


def _describe(column: Column) -> dict[str, object]:
    rule = f": {COERCION_RULES[column.coercion]}" if column.coercion is not None else ""
    return {
        "description": f"{column.description} Column `{column.name}` "
        f"({column.type.sql_name}){rule}.",
    }
