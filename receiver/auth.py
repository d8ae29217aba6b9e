"""Who may post: shared-secret tokens and source-address allow-lists.

Tapcart signs nothing, so the receiver accepts a secret token in the path,
the query string or an `Authorization: Bearer` header. Several tokens may be
valid at once so that one can be rotated without downtime.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Mapping, Sequence

from starlette.datastructures import Secret

from receiver.config import IPNetwork


def presented_token(
    path_params: Mapping[str, str], query_params: Mapping[str, str], authorization: str | None
) -> str | None:
    """The token a request carries, from the path, the query or the bearer header."""
    token = path_params.get("token") or query_params.get("token")
    if token:
        return token
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    return None


class TokenChecker:
    """Constant-time comparison against every accepted token."""

    def __init__(self, tokens: Sequence[Secret], *, allow_unauthenticated: bool) -> None:
        self._open = allow_unauthenticated
        # Comparing fixed-size digests hides the tokens' lengths as well.
        self._digests = tuple(_digest(str(token)) for token in tokens)

    def accepts(self, presented: str | None) -> bool:
        if self._open:
            return True
        if presented is None:
            return False
        digest = _digest(presented)
        matched = False
        for expected in self._digests:
            # No early exit: the time taken does not depend on which token matched.
            matched |= hmac.compare_digest(digest, expected)
        return matched


def _digest(token: str) -> bytes:
    # BLAKE2 is built into Python; sha256 goes through an OpenSSL look-up on every
    # call, which made it the costliest step of an accepted request.
    return hashlib.blake2b(token.encode("utf-8", "surrogateescape"), digest_size=32).digest()


class SourcePolicy:
    """The sender's address (behind trusted proxies) and whether it may post."""

    def __init__(self, allowed: Sequence[IPNetwork], trusted_proxies: Sequence[IPNetwork]) -> None:
        self._allowed = tuple(allowed)
        self._trusted = tuple(trusted_proxies)

    def source_address(self, peer: str | None, forwarded_for: str | None) -> str:
        """The peer, or the right-most untrusted hop of X-Forwarded-For from a trusted proxy."""
        if not peer:
            return ""
        if not forwarded_for or not _within(peer, self._trusted):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not _within(hop, self._trusted):
                return hop
        return hops[0] if hops else peer

    def allows(self, address: str) -> bool:
        return not self._allowed or _within(address, self._allowed)


def _within(address: str, networks: Iterable[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
