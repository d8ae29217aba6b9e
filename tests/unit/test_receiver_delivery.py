"""Forwarding the spool: only acknowledged records leave it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from receiver.delivery import SpoolDrainer
from receiver.publish import PublishFailed
from receiver.records import OutboundRecord
from receiver.spool import Spool


class RefusesSomeKeys:
    def __init__(self, refused: set[bytes]) -> None:
        self.refused = refused
        self.published: list[bytes] = []

    async def start(self) -> None:
        pass

    async def publish(self, record: OutboundRecord) -> None:
        if record.key in self.refused:
            raise PublishFailed("not acked")
        self.published.append(record.key)

    async def is_reachable(self) -> bool:
        return True

    async def close(self) -> None:
        pass


def record(n: int) -> OutboundRecord:
    return OutboundRecord(topic="t", key=f"k{n}".encode(), value=b"{}", headers=())


def test_unacknowledged_records_stay_spooled(tmp_path: Path) -> None:
    async def forward() -> tuple[bool, list[bytes], list[bytes]]:
        spool = Spool(tmp_path, max_bytes=10_000)
        await spool.open()
        for n in range(4):
            await spool.append(record(n))
        publisher = RefusesSomeKeys({b"k1"})
        complete = await SpoolDrainer(publisher, spool).forward_batch()
        left = [item.record.key for item in await spool.oldest(10)]
        await spool.close()
        return complete, publisher.published, left

    complete, published, left = asyncio.run(forward())
    assert not complete
    assert published == [b"k0", b"k2", b"k3"]
    assert left == [b"k1"]
