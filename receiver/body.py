"""Reading a request body within a size limit, as it streams in.

The limit is enforced while the body arrives, so an oversized body is
refused after at most `max_bytes` plus one chunk, never held whole. (The
time a client may take to send it is bounded by the server protocol, see
receiver/server.py.)
"""

from __future__ import annotations

from starlette.types import Receive


class BodyTooLarge(Exception):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"the body is over the limit of {max_bytes} bytes")


class ClientGone(Exception):
    """The client disconnected before the whole body arrived."""


async def read_body(receive: Receive, *, max_bytes: int, declared_length: bytes | None) -> bytes:
    """The whole body; raises BodyTooLarge or ClientGone."""
    # The HTTP parser has already refused a Content-Length that is not a number.
    declared = declared_length or b""
    if declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(max_bytes)
    message = await receive()
    if message["type"] != "http.request":
        raise ClientGone
    body: bytes = message.get("body", b"")
    if len(body) > max_bytes:
        raise BodyTooLarge(max_bytes)
    if not message.get("more_body", False):
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(max_bytes)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
