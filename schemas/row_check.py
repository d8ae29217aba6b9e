"""Check a row against a BigQuery JSON schema before it is streamed.

The local emulator accepts almost anything (NULL in REQUIRED columns, unknown
columns, numbers for timestamps), so rows are checked here instead, in the
form `insert_rows_json` sends them: TIMESTAMP as ISO-8601 UTC text, JSON as
JSON text, BYTES as base64 text.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import orjson

_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
_INT64 = (-(2**63), 2**63 - 1)
JSON_MAX_DEPTH = 500


def _string(value: object) -> str | None:
    return None if isinstance(value, str) else "expected text"


def _integer(value: object) -> str | None:
    if type(value) is not int:
        return "expected an integer"
    if not _INT64[0] <= value <= _INT64[1]:
        return "outside INT64"
    return None


def _float(value: object) -> str | None:
    if type(value) not in (int, float):
        return "expected a number"
    if type(value) is float and not math.isfinite(value):
        return "not finite"
    return None


def _boolean(value: object) -> str | None:
    return None if type(value) is bool else "expected true or false"


def _timestamp(value: object) -> str | None:
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        return "expected UTC text like 2023-08-15T18:51:06.000000Z"
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return "not a real date and time"
    return None


def _json(value: object) -> str | None:
    if not isinstance(value, str):
        return "expected JSON text"
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        return f"not JSON: {error}"
    if depth(decoded) > JSON_MAX_DEPTH:
        return f"nested deeper than {JSON_MAX_DEPTH}"
    return None


def _bytes(value: object) -> str | None:
    if not isinstance(value, str):
        return "expected base64 text"
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return "not base64"
    return None


_CHECKS: dict[str, Callable[[object], str | None]] = {
    "STRING": _string,
    "INTEGER": _integer,
    "INT64": _integer,
    "FLOAT": _float,
    "FLOAT64": _float,
    "BOOLEAN": _boolean,
    "BOOL": _boolean,
    "TIMESTAMP": _timestamp,
    "JSON": _json,
    "BYTES": _bytes,
}


def depth(value: object) -> int:
    """How many containers deep `value` nests (a scalar is 0, `[]` is 1)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: list[object] = list(item.values())
        elif isinstance(item, list | tuple):
            children = list(item)
        else:
            continue
        deepest = max(deepest, level + 1)
        stack.extend((child, level + 1) for child in children)
    return deepest


def validate_row(
    row: Mapping[str, object], schema: Sequence[Mapping[str, object]], *, prefix: str = ""
) -> list[str]:
    """Every way `row` breaks `schema`, as `column: reason` lines (empty when it fits)."""
    errors: list[str] = []
    known = {str(field["name"]) for field in schema}
    errors.extend(f"{prefix}{name}: not in the schema" for name in row if name not in known)
    for field in schema:
        name = str(field["name"])
        mode = str(field.get("mode", "NULLABLE"))
        where = f"{prefix}{name}"
        value = row.get(name)
        if mode == "REPEATED":
            if value is None:
                continue
            if not isinstance(value, list):
                errors.append(f"{where}: expected a list")
                continue
            for index, item in enumerate(value):
                errors.extend(_check_value(item, field, f"{where}[{index}]"))
        elif value is None:
            if mode == "REQUIRED":
                errors.append(f"{where}: required")
        else:
            errors.extend(_check_value(value, field, where))
    return errors


def _check_value(value: object, field: Mapping[str, object], where: str) -> list[str]:
    if value is None:
        return [f"{where}: null inside a list"]
    kind = str(field["type"])
    if kind in ("RECORD", "STRUCT"):
        if not isinstance(value, dict):
            return [f"{where}: expected an object"]
        fields = field.get("fields")
        if not isinstance(fields, list):
            return [f"{where}: the schema gives this RECORD no fields"]
        return validate_row(value, fields, prefix=f"{where}.")
    check = _CHECKS.get(kind)
    if check is None:
        return [f"{where}: type {kind} is not supported by this check"]
    reason = check(value)
    return [] if reason is None else [f"{where}: {reason}"]
