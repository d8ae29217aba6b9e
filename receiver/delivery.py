"""Making a record durable: in Kafka if the broker acks in time, else in the spool.

While the spool holds anything (and has room), new records go straight to
it: the broker is known to be in trouble, so nobody waits out a delivery
time-out, and the drainer forwards everything in the order it arrived.
"""

from __future__ import annotations

import asyncio
import logging
import time
from enum import StrEnum

from receiver.metrics import ReceiverMetrics
from receiver.publish import Publisher, PublishFailed, QueueFull
from receiver.records import OutboundRecord
from receiver.spool import Spool, SpoolError, SpoolFull

logger = logging.getLogger("receiver.delivery")

DRAIN_BATCH = 500
DRAIN_RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)


class Store(StrEnum):
    KAFKA = "kafka"
    SPOOL = "spool"


class Unavailable(Exception):
    """Neither the broker nor the spool holds the record."""


class Deliverer:
    def __init__(self, publisher: Publisher, spool: Spool, metrics: ReceiverMetrics) -> None:
        self._publisher = publisher
        self._spool = spool
        self._metrics = metrics

    async def deliver(self, record: OutboundRecord) -> Store:
        """Where the record is durable now; raises QueueFull (429) or Unavailable (503)."""
        # A full spool cannot keep the order anyway: then Kafka is tried first too.
        if self._spool.depth == 0 or not self._spool.fits(record):
            started = time.perf_counter()
            try:
                await self._publisher.publish(record)
            except PublishFailed as exc:
                logger.warning(
                    "broker did not ack in time; spooling",
                    extra={"fields": {"topic": record.topic, "reason": str(exc)}},
                )
            else:
                self._metrics.delivery_seconds.observe(time.perf_counter() - started)
                self._metrics.count_stored(record.topic, Store.KAFKA)
                return Store.KAFKA
        try:
            await self._spool.append(record)
        except (SpoolFull, SpoolError) as exc:
            logger.error(
                "event could not be made durable",
                extra={"fields": {"topic": record.topic, "reason": str(exc)}},
            )
            raise Unavailable(str(exc)) from exc
        self._metrics.count_stored(record.topic, Store.SPOOL)
        return Store.SPOOL


class SpoolDrainer:
    """Forwards spooled records to Kafka, oldest first, and removes them once acked."""

    def __init__(self, publisher: Publisher, spool: Spool) -> None:
        self._publisher = publisher
        self._spool = spool
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="receiver-spool-drainer")

    async def stop(self, timeout: float) -> None:
        """Let the batch in flight finish (up to `timeout`), then stop."""
        if self._task is None:
            return
        self._stopping.set()
        self._spool.appended.set()
        try:
            async with asyncio.timeout(timeout):
                await self._task
        except TimeoutError:
            self._task.cancel()
            logger.warning("spool drainer stopped mid-batch; those records stay spooled")

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            if self._spool.depth == 0:
                self._spool.appended.clear()
                await self._spool.appended.wait()
                continue
            try:
                forwarded = await self.forward_batch()
            except Exception:
                # The records stay in the spool; log and retry rather than let the task die.
                logger.exception("spool drain failed")
                forwarded = False
            if forwarded:
                failures = 0
                continue
            delay = DRAIN_RETRY_SECONDS[min(failures, len(DRAIN_RETRY_SECONDS) - 1)]
            failures += 1
            try:
                async with asyncio.timeout(delay):
                    await self._stopping.wait()
            except TimeoutError:
                pass

    async def forward_batch(self) -> bool:
        """Forward the oldest records; True when every one of them was acked."""
        batch = await self._spool.oldest(DRAIN_BATCH)
        if not batch:
            return True
        results = await asyncio.gather(
            *(self._publisher.publish(item.record) for item in batch), return_exceptions=True
        )
        acked = [item for item, result in zip(batch, results, strict=True) if result is None]
        await self._spool.remove(acked)
        failed = [result for result in results if isinstance(result, BaseException)]
        for result in failed:
            if not isinstance(result, PublishFailed | QueueFull):
                raise result
        if failed:
            logger.warning(
                "spooled records not forwarded yet",
                extra={"fields": {"failed": len(failed), "forwarded": len(acked)}},
            )
        return not failed
