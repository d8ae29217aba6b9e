"""Reading a body within its size limit, as it streams in."""

from __future__ import annotations

import asyncio

import pytest
from starlette.types import Message

from receiver.body import BodyTooLarge, ClientGone, read_body


def receiver_of(messages: list[Message]) -> tuple[object, list[int]]:
    received = [0]

    async def receive() -> Message:
        index = received[0]
        received[0] += 1
        return messages[index]

    return receive, received


def chunks(*parts: bytes) -> list[Message]:
    return [
        {"type": "http.request", "body": part, "more_body": index + 1 < len(parts)}
        for index, part in enumerate(parts)
    ]


def test_whole_body_within_the_limit() -> None:
    receive, _ = receiver_of(chunks(b"ab", b"cd", b""))
    body = asyncio.run(read_body(receive, max_bytes=4, declared_length=None))  # type: ignore[arg-type]
    assert body == b"abcd"


def test_stops_reading_as_soon_as_the_limit_is_passed() -> None:
    receive, received = receiver_of(chunks(*[b"x" * 100] * 10))
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_body(receive, max_bytes=250, declared_length=None))  # type: ignore[arg-type]
    assert received[0] == 3


def test_a_declared_length_over_the_limit_reads_nothing() -> None:
    receive, received = receiver_of(chunks(b"x"))
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_body(receive, max_bytes=999, declared_length=b"1000"))  # type: ignore[arg-type]
    assert received[0] == 0


def test_a_client_that_leaves_mid_body() -> None:
    receive, _ = receiver_of([*chunks(b"x", b"y")[:1], {"type": "http.disconnect"}])
    with pytest.raises(ClientGone):
        asyncio.run(read_body(receive, max_bytes=10, declared_length=None))  # type: ignore[arg-type]
