"""Identifiers in the shapes Tapcart and Shopify use, drawn from a seeded RNG.

Every id comes from the caller's `random.Random`, never from `uuid.uuid4()`,
so that a run with the same seed posts the same ids.
"""

from __future__ import annotations

import random
import string
import uuid

_ALPHANUMERIC = string.ascii_letters + string.digits
_HEX = "0123456789abcdef"


def uuid_text(rng: random.Random, *, upper: bool = False) -> str:
    """A version-4 UUID; Tapcart's examples show both upper- and lower-case ones."""
    text = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return text.upper() if upper else text


def numeric_id(rng: random.Random, digits: int) -> str:
    """A Shopify-style numeric id as a string (products 13 digits, variants 14)."""
    return str(rng.randrange(10 ** (digits - 1), 10**digits))


def alphanumeric_id(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(_ALPHANUMERIC) for _ in range(length))


def hex_id(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(_HEX) for _ in range(length))
