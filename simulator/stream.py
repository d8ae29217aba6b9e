"""The deliveries of a run: sessions, encoded in their envelopes, with faults mixed in.

Three RNGs derive from the seed (story, bodies, faults), so the same seed
gives the same ids, sessions and bodies, and changing the fault fractions
does not change the events themselves. Only the timestamps follow the
clock, read when a body is built: the stream is lazy, so a body is built
just before it is posted, as Tapcart stamps an event shortly before sending.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from simulator.delivery import Delivery
from simulator.envelopes import build_event
from simulator.faults import FaultRates, inject_faults
from simulator.sessions import story
from simulator.wire import WireEvent


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class StreamConfig:
    seed: int
    # Events to generate (duplicates and malformed bodies come on top); None = endless.
    count: int | None = None
    apps: int = 3
    users: int = 20
    clickstream_share: float = 0.3
    faults: FaultRates = field(default_factory=FaultRates)

    def __post_init__(self) -> None:
        if not 0.0 <= self.clickstream_share <= 1.0:
            raise ValueError("the Clickstream share must be between 0 and 1")
        if self.apps < 1 or self.users < 1:
            raise ValueError("apps and users must be at least 1")
        if self.count is not None and self.count < 0:
            raise ValueError("count must not be negative")


def wire_events(config: StreamConfig, clock_ms: Callable[[], int]) -> Iterator[WireEvent]:
    """The events of the story, each stamped by `clock_ms` minus its device's lag."""
    _, actions = story(
        config.seed,
        apps=config.apps,
        users=config.users,
        clickstream_share=config.clickstream_share,
    )
    body_rng = random.Random(f"{config.seed}:bodies")
    for action in actions:
        event = build_event(action, clock_ms() - action.visit.lag_ms, body_rng)
        if event is not None:
            yield event


def deliveries(
    config: StreamConfig, clock_ms: Callable[[], int] = wall_clock_ms
) -> Iterator[Delivery]:
    """Everything the run will post, in order."""
    events: Iterator[WireEvent] = wire_events(config, clock_ms)
    if config.count is not None:
        events = itertools.islice(events, config.count)
    fault_rng = random.Random(f"{config.seed}:faults")
    return inject_faults(events, fault_rng, config.faults)
