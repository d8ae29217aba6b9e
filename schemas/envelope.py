"""Which of Tapcart's two envelopes a payload uses, and its identifying fields.

Shared by the receiver (to answer 422 for an object that is not an event)
and the pipeline's flattening (to map both envelopes onto one row).

- Legacy "Insights" events: `event_type`, `event_id`, `app_id` at the top.
- Newer "Clickstream" events: `event`, `data`, `properties` and
  `mp_metadata.mp_event_id` (the documented dedupe key). Where the app id
  sits in that envelope is not public, so several places are accepted, and
  the receiver may also pass the `appid` request header.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, NamedTuple

Path = tuple[str, ...]


class Envelope(StrEnum):
    INSIGHTS = "insights"
    CLICKSTREAM = "clickstream"


# Where each identifying field may arrive, first match wins.
IDENTITY_PATHS: dict[Envelope, dict[str, tuple[Path, ...]]] = {
    Envelope.INSIGHTS: {
        "event_id": (
            ("event_id",),
            ("event_properties", "event_id"),
            ("EventProperties", "event_id"),
        ),
        "event_name": (("event_type",),),
        "app_id": (("app_id",), ("app_properties", "app_id"), ("AppProperties", "app_id")),
    },
    Envelope.CLICKSTREAM: {
        "event_id": (("mp_metadata", "mp_event_id"), ("event_id",)),
        "event_name": (("event",),),
        "app_id": (
            ("app_id",),
            ("mp_metadata", "app_id"),
            ("properties", "app_id"),
            ("data", "app_id"),
        ),
    },
}

REQUIRED_FIELDS = ("event_id", "event_name", "app_id")


class Identity(NamedTuple):
    """The fields every event needs, as found in one payload."""

    envelope: Envelope
    event_id: str | None
    event_name: str | None
    app_id: str | None

    @property
    def missing(self) -> list[str]:
        return [name for name in REQUIRED_FIELDS if getattr(self, name) is None]


def detect_envelope(payload: Mapping[str, Any]) -> Envelope:
    """Clickstream when its markers are present, Insights otherwise."""
    if "mp_metadata" in payload or ("event" in payload and "event_type" not in payload):
        return Envelope.CLICKSTREAM
    return Envelope.INSIGHTS


def identify(payload: Mapping[str, Any], app_id_hint: str | None = None) -> Identity:
    """Find the identifying fields; a field that is absent, blank or not scalar is None."""
    # The receiver runs this on every request: plain lookups, no per-call dict.
    envelope = detect_envelope(payload)
    paths = IDENTITY_PATHS[envelope]
    app_id = _first_text(payload, paths["app_id"])
    if app_id is None:
        # The `appid` request header, held to the same rule as the payload's own fields.
        app_id = _as_text(app_id_hint)
    return Identity(
        envelope,
        _first_text(payload, paths["event_id"]),
        _first_text(payload, paths["event_name"]),
        app_id,
    )


def _first_text(payload: Mapping[str, Any], paths: tuple[Path, ...]) -> str | None:
    for path in paths:
        value = _lookup(payload, path)
        text = _as_text(value)
        if text is not None:
            return text
    return None


def _lookup(payload: Mapping[str, Any], path: Path) -> Any:
    node: Any = payload
    for key in path:
        # Parsed JSON is made of dicts; the Mapping check (slower) is for other callers.
        if type(node) is not dict and not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _as_text(value: Any) -> str | None:
    # Ids arrive as strings, but nothing stops a sender from using numbers.
    if isinstance(value, str):
        stripped = value.strip()
        return stripped or None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    return None


def json_kind(value: object) -> str:
    """The JSON type of a parsed value, for saying what a body is instead of an object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return type(value).__name__
