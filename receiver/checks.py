"""The only look the receiver takes inside a body: is it an event?

It does not flatten or transform anything; that is the pipeline's job. It
finds the event id for the Kafka key and refuses what cannot be an event.
"""

from __future__ import annotations

from typing import NamedTuple

import orjson

from schemas.envelope import identify, json_kind


class RejectedBody(Exception):
    """A body that is not an event; published to the rejected topic with this reason."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        envelope: str = "",
        event_id: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.envelope = envelope
        self.event_id = event_id


class Event(NamedTuple):
    """The identifying fields of an accepted event, all present."""

    event_id: str
    app_id: str
    envelope: str


def check_event(body: bytes, app_id_hint: str | None) -> Event:
    """The event's identity, or RejectedBody: 400 not JSON / not an object, 422 missing fields."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RejectedBody(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        kind = json_kind(payload)
        raise RejectedBody(400, "not_an_object", f"the body is a JSON {kind}, not an object")
    identity = identify(payload, app_id_hint)
    event_id, app_id = identity.event_id, identity.app_id
    if event_id is None or app_id is None or identity.event_name is None:
        raise RejectedBody(
            422,
            "missing_fields",
            f"the {identity.envelope} event has no {', '.join(identity.missing)}",
            envelope=identity.envelope,
            event_id=event_id,
        )
    # The Envelope member is its text ("insights"), a str like the header it becomes.
    return Event(event_id=event_id, app_id=app_id, envelope=identity.envelope)
