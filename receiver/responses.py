"""JSON answers. Every error body is `{"error": "<code>", "detail": "..."}`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response


def json_response(
    status: int, content: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(content), status_code=status, headers=headers, media_type="application/json"
    )


def error_body(code: str, detail: str) -> bytes:
    return orjson.dumps({"error": code, "detail": detail})


def error_response(
    status: int, code: str, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        error_body(code, detail), status_code=status, headers=headers, media_type="application/json"
    )
