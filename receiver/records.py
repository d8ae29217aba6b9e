"""The Kafka records the receiver writes: the contract with the pipeline.

Value: the request body, byte for byte. Key: the event id (utf-8), or the
request id for a rejected body without one. Headers, all utf-8:
`received_at` (ISO-8601 UTC, microseconds, "Z"), `request_id`, `source_ip`,
`user_agent`, `envelope` ("insights", "clickstream", or "" for a body that is
not a JSON object); rejected records add `reject_reason` and `reject_detail`.
"""

from __future__ import annotations

import time
from typing import NamedTuple

Headers = tuple[tuple[str, bytes], ...]


class OutboundRecord(NamedTuple):
    topic: str
    key: bytes
    value: bytes
    headers: Headers


class RequestFacts(NamedTuple):
    """What the receiver knows about a request besides its body."""

    request_id: str
    received_at: str
    source_ip: str
    user_agent: str


_second_text: tuple[int, str] = (0, "")


def utc_now_text() -> str:
    """Now as `received_at` text; the part up to the second is formatted once a second."""
    global _second_text
    second, micros = divmod(time.time_ns() // 1000, 1_000_000)
    if second != _second_text[0]:
        _second_text = (second, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second)))
    return f"{_second_text[1]}{micros:06d}Z"


def _request_headers(facts: RequestFacts, envelope: str) -> Headers:
    return (
        ("received_at", facts.received_at.encode()),
        ("request_id", facts.request_id.encode()),
        ("source_ip", facts.source_ip.encode("utf-8", "replace")),
        ("user_agent", facts.user_agent.encode("utf-8", "replace")),
        ("envelope", envelope.encode()),
    )


def raw_record(
    topic: str, body: bytes, *, event_id: str, envelope: str, facts: RequestFacts
) -> OutboundRecord:
    return OutboundRecord(
        topic=topic,
        key=event_id.encode("utf-8", "replace"),
        value=body,
        headers=_request_headers(facts, envelope),
    )


def rejected_record(
    topic: str,
    body: bytes,
    *,
    reason: str,
    detail: str,
    event_id: str | None,
    envelope: str,
    facts: RequestFacts,
) -> OutboundRecord:
    key = event_id if event_id is not None else facts.request_id
    return OutboundRecord(
        topic=topic,
        key=key.encode("utf-8", "replace"),
        value=body,
        headers=(
            *_request_headers(facts, envelope),
            ("reject_reason", reason.encode()),
            ("reject_detail", detail.encode("utf-8", "replace")),
        ),
    )
