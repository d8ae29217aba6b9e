"""The SQLite spool: durable across reopening, ordered, bounded."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from receiver.records import OutboundRecord
from receiver.spool import Spool, SpoolFull, SpoolLocked


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


def test_one_process_owns_a_spool(tmp_path: Path) -> None:
    # A second drainer would forward the same records again.
    async def open_twice() -> None:
        first = Spool(tmp_path, max_bytes=1000)
        await first.open()
        second = Spool(tmp_path, max_bytes=1000)
        with pytest.raises(SpoolLocked, match="give each receiver its own RECEIVER_SPOOL_DIR"):
            await second.open()
        await second.close()
        await first.close()
        # Closing releases it.
        third = Spool(tmp_path, max_bytes=1000)
        await third.open()
        await third.close()

    asyncio.run(open_twice())


def test_each_worker_takes_the_first_free_slot(tmp_path: Path) -> None:
    async def three_workers() -> None:
        spools = [Spool(tmp_path, max_bytes=10_000, slots=3) for _ in range(3)]
        for spool in spools:
            await spool.open()
        assert [spool.slot for spool in spools] == [0, 1, 2]
        assert [spool.path for spool in spools] == [
            tmp_path / "spool.sqlite3",
            tmp_path / "worker-1" / "spool.sqlite3",
            tmp_path / "worker-2" / "spool.sqlite3",
        ]
        with pytest.raises(SpoolLocked, match="all 3 worker slots"):
            await Spool(tmp_path, max_bytes=10_000, slots=3).open()
        await spools[1].append(record(1))
        await spools[1].close()
        # A replacement worker finds what the one before it spooled.
        replacement = Spool(tmp_path, max_bytes=10_000, slots=3)
        await replacement.open()
        assert (replacement.slot, replacement.depth) == (1, 1)
        for spool in (spools[0], spools[2], replacement):
            await spool.close()

    asyncio.run(three_workers())


def test_records_in_slots_beyond_the_workers_are_reported(tmp_path: Path) -> None:
    async def shrink() -> dict[Path, int]:
        spools = [Spool(tmp_path, max_bytes=10_000, slots=2) for _ in range(2)]
        for spool in spools:
            await spool.open()
        await spools[1].append(record(1))
        await spools[1].append(record(2))
        for spool in spools:
            await spool.close()
        single = Spool(tmp_path, max_bytes=10_000, slots=1)
        await single.open()
        stranded = await single.stranded_records()
        await single.close()
        return stranded

    assert asyncio.run(shrink()) == {tmp_path / "worker-1": 2}


def test_observers_see_every_change(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    size = len(record(0).key) + len(record(0).value)

    async def append_and_remove() -> None:
        spool = Spool(tmp_path, max_bytes=10_000)
        await spool.open()
        spool.observe(lambda depth, size_bytes: seen.append((depth, size_bytes)))
        await spool.append(record(0))
        await spool.remove(await spool.oldest(1))
        await spool.close()

    asyncio.run(append_and_remove())
    assert seen == [(0, 0), (1, size), (0, 0)]
