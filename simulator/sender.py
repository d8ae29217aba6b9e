"""Posting deliveries the way Tapcart does: one event per POST, retried until a 200.

Any answer other than 2xx (4xx and 5xx alike) and any connection error or
timeout means "try again": with exponential backoff and jitter, honouring
`Retry-After`, until the retry window (five minutes by default, counted from
the first attempt) is over; a last attempt is made at the end of the window,
then the delivery is given up. With `retry_rejected=False`, a 400, 413 or
422 is final at once: resending the same body cannot change that answer.

Pacing: first attempts start at most `rate` per second (retries are not
paced, they follow their backoff), and at most `concurrency` POSTs are in
flight. A body is taken from the stream only when its POST can start, so
its timestamp is close to the time it is sent.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar
from urllib.parse import quote

import httpx

from simulator.delivery import Delivery

USER_AGENT = "tapcart-simulator/0.1"
# How far behind its schedule the pacer may catch up in a burst.
_CATCH_UP_SECONDS = 0.1


class TokenPlacement(StrEnum):
    HEADER = "header"
    PATH = "path"
    QUERY = "query"


@dataclass(frozen=True)
class Target:
    """Where to post, and how to present the token."""

    url: str
    token: str | None = None
    token_in: TokenPlacement = TokenPlacement.HEADER

    def request_url(self) -> str:
        return self._url_with(self.token)

    def shown_url(self) -> str:
        """The URL with the token masked, for printing."""
        return self._url_with("***" if self.token else None)

    def auth_headers(self) -> dict[str, str]:
        if self.token and self.token_in is TokenPlacement.HEADER:
            return {"authorization": f"Bearer {self.token}"}
        return {}

    def _url_with(self, token: str | None) -> str:
        if not token or self.token_in is TokenPlacement.HEADER:
            return self.url
        if self.token_in is TokenPlacement.PATH:
            return f"{self.url.rstrip('/')}/{quote(token, safe='')}"
        return str(httpx.URL(self.url).copy_merge_params({"token": token}))


@dataclass(frozen=True)
class RetryPolicy:
    window_seconds: float = 300.0
    initial_backoff: float = 1.0
    max_backoff: float = 30.0
    multiplier: float = 2.0
    # Tapcart retries every 4xx, so the faithful default resends malformed bodies too.
    retry_rejected: bool = True

    REJECTIONS: ClassVar[frozenset[int]] = frozenset({400, 413, 422})

    def is_final(self, status: int) -> bool:
        """A refusal this sender accepts as final (only when it does not retry rejections)."""
        return not self.retry_rejected and status in self.REJECTIONS

    def backoff(self, attempt: int, rng: random.Random, retry_after: float | None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        ceiling = min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1))
        # "Equal jitter": never hammer at once, never all retry in step.
        delay = ceiling / 2 + rng.uniform(0, ceiling / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_backoff))
        return delay


@dataclass(frozen=True)
class Pace:
    # First attempts per second; 0 means as fast as the concurrency allows.
    rate: float = 20.0
    concurrency: int = 8
    # Stop starting new deliveries after this many seconds (retries still finish).
    duration: float | None = None

    def __post_init__(self) -> None:
        if self.rate < 0:
            raise ValueError("the rate must not be negative")
        if self.concurrency < 1:
            raise ValueError("the concurrency must be at least 1")


class FinalStatus(StrEnum):
    ACKED = "acked"
    REJECTED = "rejected"
    GAVE_UP = "gave_up"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Outcome:
    """How one delivery ended. Times are epoch seconds (wall clock)."""

    delivery: Delivery
    status: FinalStatus
    attempts: int
    http_status: int | None
    error: str
    first_attempt_at: float
    finished_at: float
    # When the 200 arrived: the moment the receiver vouched for the event.
    acked_at: float | None
    request_id: str


@dataclass
class SendStats:
    started: int = 0
    finished: int = 0
    posts: int = 0
    began_at: float = 0.0
    # Monotonic times: when the run began and when the last new delivery started.
    scheduling_ended_at: float = 0.0
    ended_at: float = 0.0
    by_status: dict[FinalStatus, int] = field(default_factory=dict)

    @property
    def pending(self) -> int:
        return self.started - self.finished

    def achieved_rate(self) -> float:
        span = self.scheduling_ended_at - self.began_at
        return (self.started - 1) / span if self.started > 1 and span > 0 else 0.0


@dataclass(frozen=True)
class _Answer:
    status: int | None
    error: str
    request_id: str
    retry_after: float | None


class Sender:
    """Posts a stream of deliveries with retries, pacing and bounded concurrency."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        target: Target,
        *,
        policy: RetryPolicy,
        pace: Pace,
        on_outcome: Callable[[Outcome], None],
        rng: random.Random | None = None,
    ) -> None:
        self._client = client
        self._target = target
        self._url = target.request_url()
        self._policy = policy
        self._pace = pace
        self._on_outcome = on_outcome
        self._rng = rng or random.Random()
        self._slots = asyncio.Semaphore(pace.concurrency)
        self.stats = SendStats()

    async def run(self, deliveries: Iterable[Delivery]) -> SendStats:
        """Post everything (or until the duration is over), then wait for every delivery to end."""
        pace = self._pace
        interval = 1.0 / pace.rate if pace.rate > 0 else 0.0
        iterator = iter(deliveries)
        start = time.monotonic()
        self.stats.began_at = self.stats.scheduling_ended_at = start
        due = start
        try:
            async with asyncio.TaskGroup() as group:
                while not self._duration_over(start):
                    wait = due - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                        if self._duration_over(start):
                            break
                    # The slot is taken before the body is built and handed to its first attempt.
                    await self._slots.acquire()
                    delivery = next(iterator, None)
                    if delivery is None:
                        self._slots.release()
                        break
                    self.stats.started += 1
                    self.stats.scheduling_ended_at = time.monotonic()
                    group.create_task(self._deliver(delivery))
                    due = max(due + interval, time.monotonic() - _CATCH_UP_SECONDS)
        finally:
            self.stats.ended_at = time.monotonic()
        return self.stats

    def _duration_over(self, start: float) -> bool:
        limit = self._pace.duration
        return limit is not None and time.monotonic() - start >= limit

    async def _deliver(self, delivery: Delivery) -> None:
        policy = self._policy
        first_attempt_at = time.time()
        deadline = time.monotonic() + policy.window_seconds
        attempts = 0
        answer = _Answer(None, "", "", None)
        holding_slot = True  # the scheduler acquired it for the first attempt

        def finish(status: FinalStatus, acked_at: float | None = None) -> None:
            outcome = Outcome(
                delivery=delivery,
                status=status,
                attempts=attempts,
                http_status=answer.status,
                error=answer.error,
                first_attempt_at=first_attempt_at,
                finished_at=time.time(),
                acked_at=acked_at,
                request_id=answer.request_id,
            )
            self.stats.finished += 1
            self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
            self._on_outcome(outcome)

        try:
            while True:
                if not holding_slot:
                    await self._slots.acquire()
                    holding_slot = True
                try:
                    attempts += 1
                    self.stats.posts += 1
                    answer = await self._post(delivery)
                finally:
                    self._slots.release()
                    holding_slot = False
                status = answer.status
                if status is not None and 200 <= status < 300:
                    finish(FinalStatus.ACKED, acked_at=time.time())
                    return
                if status is not None and policy.is_final(status):
                    finish(FinalStatus.REJECTED)
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    finish(FinalStatus.GAVE_UP)
                    return
                delay = policy.backoff(attempts, self._rng, answer.retry_after)
                # The last attempt lands on the end of the window rather than past it.
                await asyncio.sleep(min(delay, remaining))
        except asyncio.CancelledError:
            if holding_slot:
                self._slots.release()
            finish(FinalStatus.CANCELLED)
            raise

    async def _post(self, delivery: Delivery) -> _Answer:
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            **dict(delivery.headers),
            **self._target.auth_headers(),
        }
        try:
            response = await self._client.post(self._url, content=delivery.body, headers=headers)
        except httpx.TransportError as exc:
            # Refused, reset, timed out: Tapcart cannot tell these apart, it retries.
            return _Answer(None, f"{type(exc).__name__}: {exc}".strip(), "", None)
        ok = 200 <= response.status_code < 300
        return _Answer(
            status=response.status_code,
            error="" if ok else response.text[:200],
            request_id=response.headers.get("x-request-id", ""),
            retry_after=_retry_after(response.headers.get("retry-after")),
        )


def _retry_after(value: str | None) -> float | None:
    # Only the delay-seconds form; an HTTP date is rare from a webhook receiver.
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())


def http_client(pace: Pace, request_timeout: float) -> httpx.AsyncClient:
    """A client sized to the concurrency; proxies from the environment are ignored."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(request_timeout),
        limits=httpx.Limits(
            max_connections=pace.concurrency, max_keepalive_connections=pace.concurrency
        ),
        trust_env=False,
    )
