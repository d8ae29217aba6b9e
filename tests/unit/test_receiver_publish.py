"""The asyncio producer wrapper with the real librdkafka and no broker behind it.

(Acknowledged deliveries are tested against the real broker in
tests/integration/test_receiver_kafka.py.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from receiver.config import Settings
from receiver.publish import (
    REPORT_GRACE_SECONDS,
    KafkaPublisher,
    PublishFailed,
    QueueFull,
    producer_config,
)
from receiver.records import OutboundRecord

RECORD = OutboundRecord(topic="tapcart.events.raw", key=b"k", value=b"{}", headers=(("a", b"b"),))


def nowhere(free_port: Callable[[], int], **overrides: Any) -> KafkaPublisher:
    settings = Settings(
        kafka_bootstrap=f"127.0.0.1:{free_port()}", delivery_timeout_seconds=0.5, **overrides
    )
    config = {**producer_config(settings), "log_level": 0}
    return KafkaPublisher(config, delivery_timeout=settings.delivery_timeout_seconds)


def test_the_producer_is_configured_for_durability() -> None:
    config = producer_config(Settings(delivery_timeout_seconds=3))
    assert config["acks"] == "all"
    assert config["enable.idempotence"] is True
    assert config["compression.type"] == "lz4"
    assert config["linger.ms"] == 1
    assert config["message.timeout.ms"] == 3000


def test_an_unreachable_broker_fails_the_publish_in_bounded_time(
    free_port: Callable[[], int],
) -> None:
    async def publish_once() -> float:
        publisher = nowhere(free_port)
        await publisher.start()
        began = time.monotonic()
        with pytest.raises(PublishFailed):
            await publisher.publish(RECORD)
        elapsed = time.monotonic() - began
        assert not await publisher.is_reachable()
        await publisher.close(flush_seconds=0)
        return elapsed

    assert asyncio.run(publish_once()) < 5


def test_a_full_local_queue_raises_queue_full_at_once(free_port: Callable[[], int]) -> None:
    async def overfill() -> None:
        publisher = nowhere(free_port, producer_queue_max_messages=1)
        await publisher.start()
        pending = asyncio.create_task(publisher.publish(RECORD))
        await asyncio.sleep(0)
        with pytest.raises(QueueFull):
            await publisher.publish(RECORD)
        with pytest.raises(PublishFailed):
            await pending
        await publisher.close(flush_seconds=0)

    asyncio.run(overfill())


def test_a_record_whose_report_never_comes_fails_at_the_publishers_own_deadline(
    free_port: Callable[[], int],
) -> None:
    # librdkafka would report these only after a minute; the publisher's own deadline
    # (delivery time-out plus REPORT_GRACE_SECONDS) must end the wait first.
    config = {
        **producer_config(Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}")),
        "message.timeout.ms": 60_000,
        "log_level": 0,
    }
    publisher = KafkaPublisher(config, delivery_timeout=0.2)

    async def publish_three() -> tuple[float, list[BaseException | None]]:
        await publisher.start()
        began = time.monotonic()
        results = await asyncio.gather(
            *(publisher.publish(RECORD) for _ in range(3)), return_exceptions=True
        )
        elapsed = time.monotonic() - began
        await publisher.close(flush_seconds=0)
        return elapsed, results

    elapsed, results = asyncio.run(publish_three())
    assert 0.2 + REPORT_GRACE_SECONDS <= elapsed < 0.2 + REPORT_GRACE_SECONDS + 1.5
    assert all(isinstance(result, PublishFailed) for result in results)
    assert all("no delivery report within 2.2 seconds" in str(result) for result in results)
