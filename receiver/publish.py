"""An asyncio face for confluent_kafka's Producer: `await publish(record)` until acked.

`produce()` never blocks (a full local queue raises BufferError at once), and
neither does `poll(0)`, so both run on the event loop: every produce polls
once, while records are in flight a timer polls every millisecond, and the
delivery callbacks a poll runs resolve the handlers' futures right there,
with no thread hand-off. (A poll thread would contend with the loop for the
GIL at every report; `confluent_kafka.aio.AIOProducer` buffers messages for
up to a second before producing them, which is latency a webhook cannot
spend.)

The same timer enforces each record's deadline from a queue in produce
order, rather than a timer per record: this runs for every event.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Mapping
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Producer

from receiver.config import Settings
from receiver.records import OutboundRecord

logger = logging.getLogger("receiver.kafka")

# librdkafka checks message time-outs about once a second, so its own
# report can arrive that much after message.timeout.ms.
REPORT_GRACE_SECONDS = 2.0
POLL_INTERVAL_SECONDS = 0.001
IDLE_POLL_SECONDS = 0.5


class PublishFailed(Exception):
    """The broker did not acknowledge the record in time."""


class QueueFull(Exception):
    """The producer's local queue is full: back-pressure for the sender."""


class Publisher(Protocol):
    async def start(self) -> None: ...

    async def publish(self, record: OutboundRecord) -> None:
        """Return once the broker acked; raise QueueFull or PublishFailed."""

    async def is_reachable(self) -> bool: ...

    async def close(self) -> None: ...


def producer_config(settings: Settings) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        "client.id": "tapcart-receiver",
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": settings.kafka_compression,
        "linger.ms": settings.kafka_linger_ms,
        # librdkafka gives up on a record at the same moment the handler stops
        # waiting, so a record that went to the spool is not also sent later.
        "message.timeout.ms": max(1, int(settings.delivery_timeout_seconds * 1000)),
        "queue.buffering.max.messages": settings.producer_queue_max_messages,
        "socket.keepalive.enable": True,
    }


class KafkaPublisher:
    def __init__(self, config: Mapping[str, Any], *, delivery_timeout: float) -> None:
        self._config = dict(config)
        self._wait_seconds = delivery_timeout + REPORT_GRACE_SECONDS
        self._producer: Producer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._in_flight = 0
        # (deadline on the loop's clock, future) in produce order; the wait is the
        # same for every record, so the deadlines are in order too.
        self._deadlines: deque[tuple[float, asyncio.Future[None]]] = deque()
        self._poll_handle: asyncio.TimerHandle | None = None
        self._housekeeping: asyncio.Task[None] | None = None
        self._fatal: KafkaError | None = None
        self._reachable_at = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaPublisher:
        return cls(producer_config(settings), delivery_timeout=settings.delivery_timeout_seconds)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._producer = Producer({**self._config, "error_cb": self._on_error, "logger": logger})
        self._housekeeping = asyncio.create_task(self._serve_idle_events())

    async def publish(self, record: OutboundRecord) -> None:
        producer, loop = self._running()
        if self._fatal is not None:
            raise PublishFailed(f"the producer stopped after a fatal error: {self._fatal.str()}")
        future: asyncio.Future[None] = loop.create_future()
        try:
            producer.produce(
                record.topic,
                value=record.value,
                key=record.key,
                headers=list(record.headers),
                on_delivery=functools.partial(self._on_delivery, future),
            )
        except BufferError:
            raise QueueFull("the producer's local queue is full") from None
        except KafkaException as exc:
            raise PublishFailed(str(exc)) from exc
        self._in_flight += 1
        self._deadlines.append((loop.time() + self._wait_seconds, future))
        # Serve the reports already waiting, as librdkafka's own examples do after
        # each produce: under load this answers acked requests sooner than the timer.
        producer.poll(0)
        self._schedule_poll()
        await future

    async def is_reachable(self) -> bool:
        """Whether a broker answered a metadata request within a second (cached 1 s)."""
        producer, _ = self._running()
        if time.monotonic() - self._reachable_at < 1.0:
            return True
        try:
            await asyncio.to_thread(producer.list_topics, timeout=1.0)
        except KafkaException:
            return False
        self._reachable_at = time.monotonic()
        return self._fatal is None

    async def close(self, flush_seconds: float = 10.0) -> None:
        """Flush: wait (up to `flush_seconds`) for the reports of every record produced."""
        if self._producer is None:
            return
        if self._housekeeping is not None:
            self._housekeeping.cancel()
        deadline = time.monotonic() + flush_seconds
        while len(self._producer) and time.monotonic() < deadline:
            self._producer.poll(0)
            await asyncio.sleep(0.01)
        self._producer.poll(0)
        if left := len(self._producer):
            logger.error(
                "records still unacknowledged at shutdown",
                extra={"fields": {"records": left}},
            )
        if self._poll_handle is not None:
            self._poll_handle.cancel()
        self._producer = None

    def _running(self) -> tuple[Producer, asyncio.AbstractEventLoop]:
        if self._producer is None or self._loop is None:
            raise RuntimeError("KafkaPublisher.start() has not run")
        return self._producer, self._loop

    def _schedule_poll(self) -> None:
        if self._poll_handle is None and self._loop is not None:
            self._poll_handle = self._loop.call_later(POLL_INTERVAL_SECONDS, self._poll)

    def _poll(self) -> None:
        # poll(0) never blocks: it runs the delivery callbacks already queued, here on the loop.
        self._poll_handle = None
        if self._producer is None:
            return
        self._producer.poll(0)
        if self._loop is not None:
            self._expire_overdue(self._loop.time())
        if self._in_flight:
            self._schedule_poll()

    def _expire_overdue(self, now: float) -> None:
        """Fail the records whose report is overdue; forget those already answered."""
        deadlines = self._deadlines
        while deadlines:
            deadline, future = deadlines[0]
            if not future.done():
                if deadline > now:
                    return
                future.set_exception(
                    PublishFailed(f"no delivery report within {self._wait_seconds:g} seconds")
                )
            deadlines.popleft()

    async def _serve_idle_events(self) -> None:
        # With nothing in flight, error and log callbacks still need serving now and then.
        while True:
            await asyncio.sleep(IDLE_POLL_SECONDS)
            if self._producer is not None:
                self._producer.poll(0)

    def _on_delivery(
        self, future: asyncio.Future[None], error: KafkaError | None, _message: object
    ) -> None:
        self._in_flight -= 1
        if future.done():
            return
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(PublishFailed(error.str()))

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self._fatal = error
            logger.critical(
                "fatal producer error; records go to the spool until a restart",
                extra={"fields": {"kafka_error": error.str()}},
            )
        else:
            # librdkafka recovers from these by itself and logs them through `logger` already.
            logger.debug("kafka client error", extra={"fields": {"kafka_error": error.str()}})
