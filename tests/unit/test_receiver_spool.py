"""The SQLite spool: durable across reopening, ordered, bounded."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from receiver.records import OutboundRecord
from receiver.spool import Spool, SpoolFull


def record(n: int, topic: str = "tapcart.events.raw") -> OutboundRecord:
    return OutboundRecord(
        topic=topic,
        key=f"evt-{n}".encode(),
        value=f'{{"event_id": "evt-{n}", "x": "caf\u00e9"}}'.encode(),
        headers=(("received_at", b"2026-12-04T10:00:00.123456Z"), ("user_agent", "é".encode())),
    )


def test_spooled_records_survive_reopening_in_order(tmp_path: Path) -> None:
    async def spool_then_reopen() -> list[OutboundRecord]:
        spool = Spool(tmp_path, max_bytes=1_000_000)
        await spool.open()
        await asyncio.gather(*(spool.append(record(n)) for n in range(50)))
        assert spool.depth == 50
        await spool.close()

        reopened = Spool(tmp_path, max_bytes=1_000_000)
        await reopened.open()
        assert reopened.depth == 50
        assert reopened.size_bytes == sum(
            len(record(n).key) + len(record(n).value) for n in range(50)
        )
        stored = [item.record for item in await reopened.oldest(100)]
        await reopened.close()
        return stored

    assert asyncio.run(spool_then_reopen()) == [record(n) for n in range(50)]


def test_the_spool_file_is_in_wal_mode(tmp_path: Path) -> None:
    async def open_and_close() -> None:
        spool = Spool(tmp_path, max_bytes=1000)
        await spool.open()
        await spool.append(record(1))
        await spool.close()

    asyncio.run(open_and_close())
    with sqlite3.connect(tmp_path / "spool.sqlite3") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_removed_records_are_gone_after_reopening(tmp_path: Path) -> None:
    async def remove_some() -> list[bytes]:
        spool = Spool(tmp_path, max_bytes=1_000_000)
        await spool.open()
        for n in range(5):
            await spool.append(record(n))
        oldest = await spool.oldest(3)
        await spool.remove(oldest)
        assert spool.depth == 2
        await spool.close()
        reopened = Spool(tmp_path, max_bytes=1_000_000)
        await reopened.open()
        keys = [item.record.key for item in await reopened.oldest(10)]
        await reopened.close()
        return keys

    assert asyncio.run(remove_some()) == [b"evt-3", b"evt-4"]


def test_a_full_spool_refuses_and_keeps_what_it_holds(tmp_path: Path) -> None:
    one = len(record(0).key) + len(record(0).value)

    async def overfill() -> int:
        spool = Spool(tmp_path, max_bytes=one * 2)
        await spool.open()
        await spool.append(record(0))
        await spool.append(record(1))
        with pytest.raises(SpoolFull):
            await spool.append(record(2))
        depth = spool.depth
        await spool.close()
        return depth

    assert asyncio.run(overfill()) == 2
