"""One event as Tapcart would post it: a JSON object and its request headers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from schemas.envelope import Envelope

Payload = dict[str, Any]
Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class WireEvent:
    """An event in one of the two envelopes, before it is posted."""

    envelope: Envelope
    event_id: str
    event_name: str
    app_id: str
    payload: Payload
    headers: Headers = ()

    def body(self) -> bytes:
        return orjson.dumps(self.payload)


def money_text(cents: int) -> str:
    """Shopify's decimal text for an amount: 7999 -> "79.99"."""
    return f"{cents // 100}.{cents % 100:02d}"
