"""The body Tapcart posts for an action, in its session's envelope, and id surgery on it.

The builders live in `insights` and `clickstream`; `faults` uses the id
helpers here to make malformed copies of an event.
"""

from __future__ import annotations

import random

import orjson

from schemas.envelope import Envelope
from simulator.clickstream import build_clickstream
from simulator.insights import build_insights
from simulator.sessions import Action
from simulator.wire import Payload, WireEvent


def build_event(action: Action, occurred_ms: int, rng: random.Random) -> WireEvent | None:
    """`action` in its session's envelope; None when that envelope has no such event."""
    if action.visit.envelope is Envelope.CLICKSTREAM:
        return build_clickstream(action, occurred_ms)
    return build_insights(action, occurred_ms, rng)


def with_event_id(event: WireEvent, event_id: str) -> WireEvent:
    """The same event under another id, wherever its envelope carries the id."""
    payload = orjson.loads(orjson.dumps(event.payload))
    if event.envelope is Envelope.CLICKSTREAM:
        payload["mp_metadata"]["mp_event_id"] = event_id
        headers = tuple(
            (name, event_id if name == "eventid" else value) for name, value in event.headers
        )
    else:
        payload["event_id"] = event_id
        for group in ("event_properties", "EventProperties"):
            if isinstance(payload.get(group), dict) and "event_id" in payload[group]:
                payload[group]["event_id"] = event_id
        headers = event.headers
    return WireEvent(event.envelope, event_id, event.event_name, event.app_id, payload, headers)


def strip_event_id(event: WireEvent, rng: random.Random) -> Payload:
    """The payload with its event id gone: absent, `""` or `null`, at random."""
    payload: Payload = orjson.loads(orjson.dumps(event.payload))
    replacement = rng.choice(("absent", "", None))
    holders: list[tuple[Payload, str]]
    if event.envelope is Envelope.CLICKSTREAM:
        holders = [(payload["mp_metadata"], "mp_event_id")]
    else:
        holders = [(payload, "event_id")]
        for group in ("event_properties", "EventProperties"):
            if isinstance(payload.get(group), dict):
                holders.append((payload[group], "event_id"))
    for holder, key in holders:
        if replacement == "absent":
            holder.pop(key, None)
        elif key in holder:
            holder[key] = replacement
    return payload
