"""A local durable queue for events the broker could not take in time.

SQLite in WAL mode with `synchronous=FULL`: a commit returns only after the
write-ahead log is fsync'd, so a spooled event survives a crash or a
restart. Concurrent appends share one commit (group commit), which keeps the
spool fast enough to take the full request rate while the broker is down.
All SQLite calls run on one dedicated thread, off the event loop.

One process owns a spool at a time (an exclusive `flock` on `spool.lock`), so
two drainers never forward the same records. With several uvicorn workers,
each worker owns a slot: slot 0 is the spool directory itself (what a single
worker uses), slot k its subdirectory `worker-k`. A worker takes the first
free slot, so a restarted worker finds and drains what its predecessor left.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
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


class SpoolLocked(SpoolError):
    """Every slot of the spool directory is owned by another receiver process."""


SpoolObserver = Callable[[int, int], None]


def slot_directory(directory: Path, slot: int) -> Path:
    """Where the spool of worker `slot` lives: the directory itself for slot 0."""
    return directory if slot == 0 else directory / f"worker-{slot}"


@dataclass(frozen=True, slots=True)
class SpooledRecord:
    row_id: int
    record: OutboundRecord


class Spool:
    def __init__(self, directory: Path, *, max_bytes: int, slots: int = 1) -> None:
        self._directory = directory
        self._slots = slots
        self.path = directory / "spool.sqlite3"
        self._max_bytes = max_bytes
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="receiver-spool")
        self._connection: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._depth = 0
        self._bytes = 0
        self._observers: list[SpoolObserver] = []
        self._pending: list[tuple[OutboundRecord, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.appended = asyncio.Event()
        self.slot: int | None = None

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

    def observe(self, observer: SpoolObserver) -> None:
        """Call `observer(depth, size_bytes)` now and whenever either changes."""
        self._observers.append(observer)
        observer(self._depth, self._bytes)

    async def open(self) -> None:
        """Take the first free slot and open its database; raise SpoolLocked if none is free."""
        self._depth, self._bytes = await self._run(self._open)
        self._changed()
        if self._depth:
            self.appended.set()

    async def stranded_records(self) -> dict[Path, int]:
        """Records in slots beyond the configured workers (left by a larger RECEIVER_WORKERS)."""
        return await self._run(self._count_stranded)

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
        self._changed()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((record, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_pending())
        try:
            await asyncio.shield(future)
        except SpoolError:
            self._depth -= 1
            self._bytes -= size
            self._changed()
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
        self._changed()

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer
        if self._connection is not None or self._lock_fd is not None:
            await self._run(self._close)
        self._executor.shutdown(wait=True)

    def _changed(self) -> None:
        for observer in self._observers:
            observer(self._depth, self._bytes)

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
        for slot in range(self._slots):
            directory = slot_directory(self._directory, slot)
            directory.mkdir(parents=True, exist_ok=True)
            lock_fd = _try_lock(directory / "spool.lock")
            if lock_fd is not None:
                self._lock_fd, self.slot = lock_fd, slot
                self.path = directory / "spool.sqlite3"
                break
        else:
            raise SpoolLocked(
                f"another receiver process owns the spool in {self._directory}"
                + (f" (all {self._slots} worker slots)" if self._slots > 1 else "")
                + "; give each receiver its own RECEIVER_SPOOL_DIR"
            )
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

    def _count_stranded(self) -> dict[Path, int]:
        stranded = {}
        for candidate in sorted(self._directory.glob("worker-*/spool.sqlite3")):
            suffix = candidate.parent.name.removeprefix("worker-")
            if not suffix.isdigit() or int(suffix) < self._slots:
                continue
            lock_fd = _try_lock(candidate.parent / "spool.lock")
            if lock_fd is None:
                continue
            try:
                connection = sqlite3.connect(f"file:{candidate}?mode=ro", uri=True)
                try:
                    (count,) = connection.execute("SELECT COUNT(*) FROM spooled_records").fetchone()
                finally:
                    connection.close()
            except sqlite3.Error:
                continue
            finally:
                os.close(lock_fd)
            if count:
                stranded[candidate.parent] = int(count)
        return stranded

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._lock_fd is not None:
            # Closing the descriptor releases the lock.
            os.close(self._lock_fd)
            self._lock_fd = None

    def _open_connection(self) -> sqlite3.Connection:
        if self._connection is None:
            raise SpoolError("the spool is not open")
        return self._connection


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding an exclusive lock on `path`, or None if another holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _size(record: OutboundRecord) -> int:
    # What the size limit counts: the bytes the sender posted, plus the key.
    return len(record.key) + len(record.value)


def _encode_headers(record: OutboundRecord) -> bytes:
    return orjson.dumps([[name, value.decode("utf-8")] for name, value in record.headers])


def _decode_headers(encoded: bytes) -> tuple[tuple[str, bytes], ...]:
    return tuple((name, value.encode("utf-8")) for name, value in orjson.loads(encoded))
