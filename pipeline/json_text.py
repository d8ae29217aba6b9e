"""JSON text for BigQuery JSON columns, for any value a JSON parser can return.

orjson does the work. It refuses a few things a parser can still hand us
(integers beyond 64 bits and lone surrogates from the standard library's
parser, nesting deeper than 255), so a slower encoder without recursion
takes over then. BigQuery's JSON type nests at most 500 deep: deeper values
are returned as None so the caller can store them as text instead.
"""

from __future__ import annotations

import json
from typing import cast

import orjson

# The row check (schemas/row_check.py) refuses deeper JSON: one limit, one way to measure.
from schemas.row_check import JSON_MAX_DEPTH, depth

# A number this many digits long is cut into pieces for str() (Python's limit is 4300).
_DIGITS_PER_PIECE = 4000
_PIECE = 10**_DIGITS_PER_PIECE


def dumps(value: object) -> str | None:
    """Compact JSON text of `value`, or None when it nests deeper than BigQuery allows."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        pass
    if depth(value) > JSON_MAX_DEPTH:
        return None
    return encode(value)


def dumps_as_text(value: object) -> str:
    """JSON text of a JSON string holding `value`'s JSON text (for values nested too deep)."""
    return orjson.dumps(encode(value)).decode()


def encode(value: object) -> str:
    """JSON text of `value` without recursion, whatever its depth and contents."""
    parts: list[str] = []
    # Work items: (True, literal text) or (False, value still to encode).
    stack: list[tuple[bool, object]] = [(False, value)]
    while stack:
        is_literal, item = stack.pop()
        if is_literal:
            parts.append(cast(str, item))
        elif isinstance(item, dict):
            stack.append((True, "}"))
            entries = list(item.items())
            for index in range(len(entries) - 1, -1, -1):
                key, child = entries[index]
                stack.append((False, child))
                prefix = "{" if index == 0 else ","
                stack.append((True, f"{prefix}{_string(_key_text(key))}:"))
            if not entries:
                stack.append((True, "{"))
        elif isinstance(item, list | tuple):
            stack.append((True, "]"))
            for index in range(len(item) - 1, -1, -1):
                stack.append((False, item[index]))
                stack.append((True, "[" if index == 0 else ","))
            if not item:
                stack.append((True, "["))
        else:
            parts.append(_scalar(item))
    return "".join(parts)


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return _int_text(value)
    if isinstance(value, float):
        # Like orjson: NaN and infinities are not JSON.
        return orjson.dumps(value).decode()
    if isinstance(value, str):
        return _string(value)
    return _string(str(value))


def _string(text: str) -> str:
    try:
        return orjson.dumps(text).decode()
    except orjson.JSONEncodeError:
        # Lone surrogates: the standard encoder writes them as \\u escapes.
        return json.dumps(text)


def _key_text(key: object) -> str:
    return key if isinstance(key, str) else _scalar(key).strip('"')


def _int_text(number: int) -> str:
    try:
        return str(number)
    except ValueError:
        pass
    sign = "-" if number < 0 else ""
    number = abs(number)
    pieces: list[str] = []
    while number:
        number, piece = divmod(number, _PIECE)
        pieces.append(str(piece))
    head, *rest = reversed(pieces)
    return sign + head + "".join(piece.zfill(_DIGITS_PER_PIECE) for piece in rest)
