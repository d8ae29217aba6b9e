"""Duplicate deliveries and malformed bodies, mixed into a stream of events.

A duplicate is the original body posted again a few deliveries later, as
Tapcart does when it retries an event whose 200 it never saw. A malformed
body is a corrupted copy of the current event under a fresh id, so no
malformed body shares an id with an event that is also delivered intact:

- `invalid_json`: a trailing comma (as in Tapcart's App Opened example), an
  unquoted value (as in the seed document's example) or a truncated body;
- `not_an_object`: the event wrapped in an array, or encoded twice (a string);
- `missing_event_id`: the object without its id (absent, `""` or `null`).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

import orjson

from schemas.envelope import Envelope
from simulator.delivery import Delivery, DeliveryKind, Fault, event_delivery
from simulator.envelopes import strip_event_id, with_event_id
from simulator.ids import uuid_text
from simulator.wire import WireEvent


@dataclass(frozen=True)
class FaultRates:
    """Per event: the chance of a duplicate delivery and of a malformed body beside it."""

    duplicates: float = 0.0
    malformed: float = 0.0
    # A duplicate follows its original after 1..max_duplicate_gap other deliveries.
    max_duplicate_gap: int = 20

    def __post_init__(self) -> None:
        for name in ("duplicates", "malformed"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"the {name} fraction must be between 0 and 1, not {value}")


def inject_faults(
    events: Iterable[WireEvent], rng: random.Random, rates: FaultRates
) -> Iterator[Delivery]:
    """Every event once, plus the duplicates and malformed bodies `rates` ask for."""
    index = 0
    # (due position, index of the original, the duplicate without its index yet)
    pending: list[tuple[int, int, Delivery]] = []
    for position, event in enumerate(events):
        while pending and pending[0][0] <= position:
            _, _, duplicate = heapq.heappop(pending)
            yield replace(duplicate, index=index)
            index += 1
        original = event_delivery(index, event)
        yield original
        index += 1
        if rates.duplicates and rng.random() < rates.duplicates:
            due = position + rng.randint(1, rates.max_duplicate_gap)
            duplicate = replace(original, kind=DeliveryKind.DUPLICATE, duplicate_of=original.index)
            heapq.heappush(pending, (due, original.index, duplicate))
        if rates.malformed and rng.random() < rates.malformed:
            yield malformed_delivery(index, event, rng)
            index += 1
    while pending:
        _, _, duplicate = heapq.heappop(pending)
        yield replace(duplicate, index=index)
        index += 1


def malformed_delivery(index: int, event: WireEvent, rng: random.Random) -> Delivery:
    """A corrupted copy of `event` under a fresh id; its fault drawn at random."""
    clone = with_event_id(event, uuid_text(rng, upper=True))
    fault = rng.choice(list(Fault))
    headers = clone.headers
    if fault is Fault.INVALID_JSON:
        body = _invalid_json(clone, rng)
    elif fault is Fault.NOT_AN_OBJECT:
        text = orjson.dumps(clone.payload)
        body = orjson.dumps([clone.payload]) if rng.random() < 0.5 else orjson.dumps(text.decode())
    else:
        body = orjson.dumps(strip_event_id(clone, rng))
        headers = tuple((name, value) for name, value in headers if name != "eventid")
    return Delivery(
        index=index,
        kind=DeliveryKind.MALFORMED,
        envelope=clone.envelope,
        event_name=clone.event_name,
        event_id=None,
        body=body,
        headers=headers,
        fault=fault,
    )


def _invalid_json(event: WireEvent, rng: random.Random) -> bytes:
    # Indented like the examples in Tapcart's docs, where these mistakes were seen.
    text = orjson.dumps(event.payload, option=orjson.OPT_INDENT_2).decode()
    flaw = rng.choice(("trailing_comma", "unquoted_value", "truncated"))
    if flaw == "trailing_comma":
        broken = text[: text.rindex("\n}")] + ",\n}"
    elif flaw == "unquoted_value":
        key = "event" if event.envelope is Envelope.CLICKSTREAM else "event_type"
        quoted = f'"{key}": "{event.event_name}"'
        broken = text.replace(quoted, f'"{key}": {event.event_name}', 1)
    else:
        broken = text[: rng.randrange(len(text) // 4, len(text) * 3 // 4)]
    return broken.encode()
