"""One POST the simulator makes: a body, its headers, and what it stands for."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from schemas.envelope import Envelope
from simulator.wire import Headers, WireEvent


class DeliveryKind(StrEnum):
    EVENT = "event"
    # The same body posted again, as Tapcart does after an answer it did not get.
    DUPLICATE = "duplicate"
    # A body the receiver must refuse (400 or 422).
    MALFORMED = "malformed"


class Fault(StrEnum):
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_EVENT_ID = "missing_event_id"


@dataclass(frozen=True)
class Delivery:
    """A body to post; `index` is its unique position in the run."""

    index: int
    kind: DeliveryKind
    envelope: Envelope
    event_name: str
    # None for a malformed body: it is not an event the receiver can accept.
    event_id: str | None
    body: bytes
    headers: Headers = ()
    fault: Fault | None = None
    duplicate_of: int | None = None

    @property
    def label(self) -> str:
        """The row of the summary table this delivery counts in."""
        if self.kind is DeliveryKind.MALFORMED:
            return f"malformed {self.fault}"
        return f"{self.envelope} {self.event_name}"

    def body_sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


def event_delivery(index: int, event: WireEvent) -> Delivery:
    return Delivery(
        index=index,
        kind=DeliveryKind.EVENT,
        envelope=event.envelope,
        event_name=event.event_name,
        event_id=event.event_id,
        body=event.body(),
        headers=event.headers,
    )
