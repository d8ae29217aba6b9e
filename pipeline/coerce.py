"""Coercions from payload values to column values, one per `schemas.catalog.Coercion`.

Each takes any parsed JSON value and returns the column value, None when the
value is empty (`""`, `null`, `[""]`), or raises `CoercionFailed` when the
value does not fit; the caller then keeps the original in an extras column.
They follow the traps in Tapcart's examples: numbers arrive as strings, JSON
arrives inside strings, empty lists arrive as `[""]`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import orjson

from pipeline import json_text
from schemas.catalog import Coercion
from schemas.problems import ProblemKind

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

Coercer = Callable[[object], object]


class CoercionFailed(Exception):
    """The value does not fit the column; `kind` is a `ProblemKind`."""

    def __init__(self, kind: ProblemKind, detail: str) -> None:
        super().__init__(kind, detail)
        self.kind = kind
        self.detail = detail


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {value[:40]!r}" + ("..." if len(value) > 40 else "")
    return f"{type(value).__name__} {str(value)[:40]}"


def _number_text(value: int | float) -> str:
    try:
        return str(value)
    except ValueError:  # an integer beyond Python's 4300-digit str() limit
        raise CoercionFailed(ProblemKind.OUT_OF_RANGE, "a number too long to write") from None


def to_id(value: object) -> str | None:
    """Like `schemas.envelope.identify`: trimmed text, numbers as text."""
    if isinstance(value, str):
        return value.strip() or None
    if value is None:
        return None
    if type(value) is int or type(value) is float:
        return _number_text(value)
    raise CoercionFailed(
        ProblemKind.NOT_AN_ID, f"expected text or a number, got {_describe(value)}"
    )


def to_text(value: object) -> str | None:
    if isinstance(value, str):
        return value or None
    if value is None:
        return None
    if type(value) is int or type(value) is float:
        return _number_text(value)
    raise CoercionFailed(ProblemKind.NOT_TEXT, f"expected text, got {_describe(value)}")


def _in_int64(number: int) -> int:
    if INT64_MIN <= number <= INT64_MAX:
        return number
    raise CoercionFailed(ProblemKind.OUT_OF_RANGE, "outside INT64")


def _whole(number: float) -> int:
    if math.isfinite(number) and number.is_integer():
        return _in_int64(int(number))
    raise CoercionFailed(ProblemKind.NOT_AN_INTEGER, f"expected an integer, got {number!r}")


def _numeric_text(value: str, kind: ProblemKind) -> str | None:
    """Stripped text that may hold a number (float() alone also reads `1_000`, other digits)."""
    text = value.strip()
    if not text:
        return None
    if not text.isascii() or "_" in text:
        raise CoercionFailed(kind, f"expected a number, got {_describe(value)}")
    return text


def to_integer(value: object) -> int | None:
    if type(value) is int:
        return _in_int64(value)
    if isinstance(value, str):
        text = _numeric_text(value, ProblemKind.NOT_AN_INTEGER)
        if text is None:
            return None
        try:
            return _in_int64(int(text))
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            raise CoercionFailed(
                ProblemKind.NOT_AN_INTEGER, f"expected an integer, got {_describe(value)}"
            ) from None
        return _whole(number)
    if type(value) is float:
        return _whole(value)
    if value is None:
        return None
    raise CoercionFailed(ProblemKind.NOT_AN_INTEGER, f"expected an integer, got {_describe(value)}")


def to_number(value: object) -> float | None:
    if type(value) is float:
        number = value
    elif type(value) is int:
        try:
            number = float(value)
        except OverflowError:
            raise CoercionFailed(ProblemKind.OUT_OF_RANGE, "outside FLOAT64") from None
    elif isinstance(value, str):
        text = _numeric_text(value, ProblemKind.NOT_A_NUMBER)
        if text is None:
            return None
        try:
            number = float(text)
        except ValueError:
            raise CoercionFailed(
                ProblemKind.NOT_A_NUMBER, f"expected a number, got {_describe(value)}"
            ) from None
    elif value is None:
        return None
    else:
        raise CoercionFailed(ProblemKind.NOT_A_NUMBER, f"expected a number, got {_describe(value)}")
    if math.isfinite(number):
        return number
    if isinstance(value, str) and not any(char.isdigit() for char in value):
        # "NaN", "Infinity": words, not numbers too large.
        raise CoercionFailed(ProblemKind.NOT_A_NUMBER, f"expected a number, got {_describe(value)}")
    raise CoercionFailed(ProblemKind.OUT_OF_RANGE, f"outside FLOAT64: {_describe(value)}")


def _not_json(constant: str) -> object:
    raise ValueError(f"{constant} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is beyond FLOAT64")
    return number


def _decode(value: str, kind: ProblemKind) -> object:
    """JSON inside a string. The standard parser keeps integers beyond 64 bits exact
    (orjson makes them floats); orjson takes over for nesting beyond Python's recursion."""
    try:
        return json.loads(value, parse_constant=_not_json, parse_float=_finite)
    except RecursionError:
        pass
    except ValueError:
        raise CoercionFailed(kind, f"expected JSON, got {_describe(value)}") from None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        raise CoercionFailed(kind, f"expected JSON, got {_describe(value)}") from None


def _json(value: object) -> str:
    text = json_text.dumps(value)
    if text is None:
        raise CoercionFailed(ProblemKind.TOO_DEEP, "nested deeper than BigQuery's JSON allows")
    return text


def to_json(value: object) -> str | None:
    """JSON text; a string is decoded first (Tapcart sends some JSON inside strings)."""
    if isinstance(value, str):
        if not value:
            return None
        value = _decode(value, ProblemKind.NOT_JSON)
    if value is None:
        return None
    return _json(value)


def _as_list(value: object) -> list[object] | None:
    if type(value) is list:
        return value
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.lstrip().startswith("["):
        decoded = _decode(value, ProblemKind.NOT_A_LIST)
        if type(decoded) is list:
            return decoded
    raise CoercionFailed(ProblemKind.NOT_A_LIST, f"expected a list, got {_describe(value)}")


def _all_empty(items: list[object]) -> bool:
    return all(item is None or item == "" for item in items)


def to_json_list(value: object) -> str | None:
    items = _as_list(value)
    if items is None:
        return None
    if _all_empty(items):
        return "[]"
    return _json(items)


def to_text_list(value: object) -> list[str] | None:
    """Text items; `[""]` is empty. Items keep their positions (the badge lists run parallel)."""
    items = _as_list(value)
    if items is None or _all_empty(items):
        return None
    texts: list[str] = []
    for item in items:
        if isinstance(item, str):
            texts.append(item)
        elif type(item) is int or type(item) is float:
            texts.append(_number_text(item))
        else:
            # A null or an object cannot sit in a REPEATED STRING without moving the others.
            raise CoercionFailed(
                ProblemKind.NOT_A_LIST, f"expected a list of text, found {_describe(item)}"
            )
    return texts


COERCERS: dict[Coercion, Coercer] = {
    Coercion.ID: to_id,
    Coercion.TEXT: to_text,
    Coercion.INTEGER: to_integer,
    Coercion.NUMBER: to_number,
    Coercion.JSON: to_json,
    Coercion.JSON_LIST: to_json_list,
    Coercion.TEXT_LIST: to_text_list,
}
