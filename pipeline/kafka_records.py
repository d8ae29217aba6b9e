"""One Kafka message as the pipeline carries it, and what its headers mean.

The receiver writes the raw request body as the value, the event id as the
key, and headers (UTF-8) with `received_at` (ISO-8601 UTC), `request_id`,
`source_ip`, `user_agent` and `envelope`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

RECEIVED_AT_HEADER = "received_at"


@dataclass(frozen=True)
class KafkaRecord:
    """A message read from one partition, with the coordinates to commit it by."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    # Broker timestamp in epoch milliseconds, None when the broker has none.
    timestamp_ms: int | None = None

    def header(self, name: str) -> str | None:
        """The last header of that name, decoded; None when absent or not UTF-8."""
        for key, value in reversed(self.headers):
            if key == name:
                try:
                    return value.decode("utf-8")
                except UnicodeDecodeError:
                    return None
        return None


def received_at_of(record: KafkaRecord) -> datetime | None:
    """When the receiver got the event: its header, else the broker timestamp."""
    text = record.header(RECEIVED_AT_HEADER)
    if text:
        parsed = parse_utc(text)
        if parsed is not None:
            return parsed
    if record.timestamp_ms is not None and record.timestamp_ms > 0:
        return datetime.fromtimestamp(record.timestamp_ms / 1000, tz=UTC)
    return None


def parse_utc(text: str) -> datetime | None:
    """An ISO-8601 instant as an aware UTC datetime; None when unreadable or naive."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC)
