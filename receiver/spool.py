"""A local durable queue for events the broker could not take in time.

SQLite in WAL mode with `synchronous=FULL`: a commit returns only after the
write-ahead log is fsync'd, so a spooled event survives a crash or a
restart. Concurrent appends share one commit (group commit), which keeps the
spool fast enough to take the full request rate while the broker is down.
All SQLite calls run on one dedicated thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson

from receiver.records import OutboundRecord

Result = TypeVar("Result")

SCHEMA = """
CREATE TABLE IF NOT EXISTS spooled_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    key BLOB NOT NULL,
    value BLOB NOT NULL,
    headers BLOB NOT NULL
)
"""


class SpoolFull(Exception):
    """The spool holds its configured maximum; the event cannot be made durable."""


class SpoolError(Exception):
    """The spool could not be written (disk full, permissions, ...)."""


@dataclass(frozen=True, slots=True)
class SpooledRecord:
    row_id: int
    record: OutboundRecord


class Spool:
    def __init__(self, directory: Path, *, max_bytes: int) -> None:
        self.path = directory / "spool.sqlite3"
        self._max_bytes = max_bytes
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="receiver-spool")
        self._connection: sqlite3.Connection | None = None
        self._depth = 0
        self._bytes = 0
        self._pending: list[tuple[OutboundRecord, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.appended = asyncio.Event()

    @property
    def depth(self) -> int:
        """Records spooled or being spooled, not yet removed."""
        return self._depth

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def fits(self, record: OutboundRecord) -> bool:
        return self.has_room(_size(record))

    def has_room(self, size: int = 0) -> bool:
        """Whether the spool is open and a record of `size` bytes fits."""
        return self._connection is not None and self._bytes + size <= self._max_bytes

    async def open(self) -> None:
        self._depth, self._bytes = await self._run(self._open)
        if self._depth:
            self.appended.set()

    async def append(self, record: OutboundRecord) -> None:
        """Return once the record is fsync'd; raise SpoolFull or SpoolError."""
        size = _size(record)
        if self._connection is None:
            raise SpoolError("the spool is not open")
        if not self.has_room(size):
            raise SpoolFull(f"the spool holds its maximum of {self._max_bytes} bytes")
        # Counted at once, so that requests arriving meanwhile see a non-empty spool.
        self._depth += 1
        self._bytes += size
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((record, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_pending())
        try:
            await asyncio.shield(future)
        except SpoolError:
            self._depth -= 1
            self._bytes -= size
            raise
        self.appended.set()

    async def oldest(self, limit: int) -> list[SpooledRecord]:
        return await self._run(self._select_oldest, limit)

    async def remove(self, spooled: list[SpooledRecord]) -> None:
        if not spooled:
            return
        await self._run(self._delete, [item.row_id for item in spooled])
        self._depth -= len(spooled)
        self._bytes -= sum(_size(item.record) for item in spooled)

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer
        if self._connection is not None:
            await self._run(self._close)
        self._executor.shutdown(wait=True)

    async def _write_pending(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await self._run(self._insert, [record for record, _ in batch])
                except (sqlite3.Error, OSError) as exc:
                    for _, future in batch:
                        future.set_exception(SpoolError(f"the spool could not be written: {exc}"))
                else:
                    for _, future in batch:
                        future.set_result(None)
        finally:
            self._writer = None

    async def _run(self, function: Callable[..., Result], *args: Any) -> Result:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    # The methods below run on the spool's own thread.

    def _open(self) -> tuple[int, int]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute(SCHEMA)
        depth, size = connection.execute(
            "SELECT COUNT(*), COALESCE(SUM(length(key) + length(value)), 0) FROM spooled_records"
        ).fetchone()
        self._connection = connection
        return int(depth), int(size)

    def _insert(self, records: list[OutboundRecord]) -> None:
        connection = self._open_connection()
        with connection:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(
                "INSERT INTO spooled_records (topic, key, value, headers) VALUES (?, ?, ?, ?)",
                [
                    (record.topic, record.key, record.value, _encode_headers(record))
                    for record in records
                ],
            )

    def _select_oldest(self, limit: int) -> list[SpooledRecord]:
        rows = (
            self._open_connection()
            .execute(
                "SELECT id, topic, key, value, headers FROM spooled_records ORDER BY id LIMIT ?",
                (limit,),
            )
            .fetchall()
        )
        return [
            SpooledRecord(
                row_id=row_id,
                record=OutboundRecord(
                    topic=topic, key=key, value=value, headers=_decode_headers(headers)
                ),
            )
            for row_id, topic, key, value, headers in rows
        ]

    def _delete(self, row_ids: list[int]) -> None:
        connection = self._open_connection()
        with connection:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(
                "DELETE FROM spooled_records WHERE id = ?", [(row_id,) for row_id in row_ids]
            )

    def _close(self) -> None:
        self._open_connection().close()
        self._connection = None

    def _open_connection(self) -> sqlite3.Connection:
        if self._connection is None:
            raise SpoolError("the spool is not open")
        return self._connection


def _size(record: OutboundRecord) -> int:
    # What the size limit counts: the bytes the sender posted, plus the key.
    return len(record.key) + len(record.value)


def _encode_headers(record: OutboundRecord) -> bytes:
    return orjson.dumps([[name, value.decode("utf-8")] for name, value in record.headers])


def _decode_headers(encoded: bytes) -> tuple[tuple[str, bytes], ...]:
    return tuple((name, value.encode("utf-8")) for name, value in orjson.loads(encoded))
