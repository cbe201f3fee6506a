"""The embedded outbox: one SQLite file in WAL mode, written by one thread, with group commit.

Every statement runs on a single dedicated thread that owns the connection, so the event loop
never blocks on disk. `put` does not commit per request: requests that arrive while a commit is
under way wait for the next one, which writes them all in one transaction (group commit) and
fsyncs once (`synchronous=FULL`: a 200 survives a crash of the process or of the machine).

One process owns the file while it serves (an advisory lock next to it); the CLI may read it
and replay or purge dead letters at the same time (WAL allows it).

    outbox = SqliteOutbox(OutboxConfig(path="data/outbox.db"))
    await outbox.open()
    await outbox.put(body)
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from receiver.config import OutboxConfig
from receiver.errors import OutboxError, OutboxFull
from receiver.outbox import Job, OutboxStats, Settle

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    receiver TEXT,
    enriched INTEGER NOT NULL DEFAULT 0,
    body BLOB NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    available_at REAL NOT NULL,
    lease_until REAL NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS outbox_ready ON outbox (state, available_at);
"""
_COLUMNS = "id, created_at, receiver, enriched, body, attempts, state, available_at, last_error"
_Pending = tuple[bytes, str | None, "asyncio.Future[int]"]


class SqliteOutbox:
    """The `Outbox` on a SQLite file; see the module docstring."""

    def __init__(
        self,
        config: OutboxConfig,
        *,
        lease: float = 60.0,
        clock: Callable[[], float] = time.time,
        exclusive: bool = True,
    ) -> None:
        self.path = Path(config.path)
        self.max_items = config.max_items
        self.lease = lease
        self.clock = clock
        self.exclusive = exclusive
        self.on_stored: Callable[[], None] = lambda: None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        self._db: sqlite3.Connection | None = None
        self._lock_file: Any = None
        self._pending: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        self._depth = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        self._depth = await self._run(self._open)

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.exclusive:
                self._lock_file = open(f"{self.path}.lock", "a")  # noqa: SIM115 - held until close()
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._db = sqlite3.connect(self.path, isolation_level=None)
            return self._prepare(self._db)
        except BlockingIOError:
            self._close()
            raise OutboxError(f"{self.path} is in use by another amtriage process") from None
        except (OSError, sqlite3.Error) as exc:
            self._close()
            raise OutboxError(f"cannot open {self.path}: {exc}") from None

    def _prepare(self, db: sqlite3.Connection) -> int:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(_SCHEMA)
        if self.exclusive:  # nobody else serves from this file: earlier claims died with their process
            db.execute("UPDATE outbox SET lease_until = 0 WHERE lease_until > 0")
        (depth,) = db.execute("SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()
        return int(depth)

    async def close(self) -> None:
        if self._flusher is not None:
            await self._flusher
        if self._db is not None or self._lock_file is not None:
            await self._run(self._close)
        self._executor.shutdown(wait=False)

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    # -- ingest: group commit ----------------------------------------------------------------

    async def put(self, body: bytes, receiver: str | None = None) -> int:
        """Store one notification; returns its id once it is committed to disk."""
        if self._db is None:
            raise OutboxError("outbox is not open")
        if self._depth >= self.max_items:
            raise OutboxFull(f"outbox holds {self._depth} notifications (max_items {self.max_items})")
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((body, receiver, future))
        self._depth += 1
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    ids = await self._run(self._insert, [(b, r) for b, r, _ in batch])
                except OutboxError as exc:
                    self._depth -= len(batch)
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, _, future), job_id in zip(batch, ids, strict=True):
                    if not future.done():
                        future.set_result(job_id)
                self.on_stored()
        finally:
            self._flusher = None

    def _insert(self, rows: list[tuple[bytes, str | None]]) -> list[int]:
        db = self._conn()
        now = self.clock()
        try:
            db.execute("BEGIN IMMEDIATE")
            ids = [
                int(db.execute(
                    "INSERT INTO outbox (created_at, receiver, body, available_at) VALUES (?, ?, ?, ?) RETURNING id",
                    (now, receiver, body, now),
                ).fetchone()[0])
                for body, receiver in rows
            ]
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise OutboxError(f"cannot store: {exc}") from None
        return ids

    # -- delivery ----------------------------------------------------------------------------

    async def claim(self, limit: int) -> list[Job]:
        """Lease up to `limit` jobs that are due; a lease not settled in time lapses."""
        return await self._run(self._claim, limit)

    def _claim(self, limit: int) -> list[Job]:
        now = self.clock()
        rows = self._write(
            f"""UPDATE outbox SET lease_until = ? WHERE id IN (
                    SELECT id FROM outbox WHERE state = 'pending' AND available_at <= ? AND lease_until <= ?
                    ORDER BY available_at, id LIMIT ?)
                RETURNING {_COLUMNS}""",
            (now + self.lease, now, now, limit),
        )
        return sorted((_job(r) for r in rows), key=lambda j: (j.available_at, j.id))

    async def settle(self, job: Job, followups: Sequence[Settle] = ()) -> None:
        """Finish a claimed job: drop it, and store what is left to do (retries, dead letters)."""
        await self._run(self._settle, job, list(followups))
        self._depth += sum(1 for f in followups if f.state == "pending") - 1

    def _settle(self, job: Job, followups: list[Settle]) -> None:
        db = self._conn()
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM outbox WHERE id = ?", (job.id,))
            db.executemany(
                """INSERT INTO outbox (created_at, receiver, enriched, body, state, attempts, available_at, last_error)
                   VALUES (?, ?, 1, ?, ?, ?, ?, ?)""",
                [(job.created_at, f.receiver, f.body, f.state, f.attempts, f.at, f.error[:500]) for f in followups],
            )
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise OutboxError(f"cannot settle job {job.id}: {exc}") from None

    # -- inspection and dead letters ---------------------------------------------------------

    async def stats(self) -> OutboxStats:
        return await self._run(self._stats)

    def _stats(self) -> OutboxStats:
        db = self._conn()
        depth, oldest = db.execute(
            "SELECT count(*), min(created_at) FROM outbox WHERE state = 'pending'"
        ).fetchone()
        dead = dict(db.execute(
            "SELECT coalesce(receiver, ''), count(*) FROM outbox WHERE state = 'dead' GROUP BY 1"
        ).fetchall())
        age = max(0.0, self.clock() - oldest) if oldest is not None else 0.0
        return OutboxStats(depth=int(depth), oldest_age=age, dead=sum(dead.values()), dead_by_receiver=dead)

    async def jobs(self, state: str | None = None, limit: int = 100) -> list[Job]:
        query = f"SELECT {_COLUMNS} FROM outbox" + (" WHERE state = ?" if state else "") + " ORDER BY id LIMIT ?"
        args: tuple[Any, ...] = (state, limit) if state else (limit,)
        return await self._run(lambda: [_job(r) for r in self._conn().execute(query, args).fetchall()])

    async def replay(self, *, receiver: str | None = None, ids: Sequence[int] = ()) -> int:
        """Put dead letters back in line, with a fresh attempt count and age."""
        now = self.clock()
        where, args = _dead_filter(receiver, ids)
        rows = await self._run(self._write, f"""UPDATE outbox SET state = 'pending', attempts = 0, created_at = ?,
                available_at = ?, lease_until = 0 WHERE {where} RETURNING id""", (now, now, *args))
        self._depth += len(rows)
        if rows:
            self.on_stored()
        return len(rows)

    async def purge(self, *, receiver: str | None = None, ids: Sequence[int] = ()) -> int:
        where, args = _dead_filter(receiver, ids)
        return len(await self._run(self._write, f"DELETE FROM outbox WHERE {where} RETURNING id", args))

    # -- plumbing ----------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise OutboxError("outbox is not open")
        return self._db

    def _write(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        try:
            return self._conn().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox write failed: {exc}") from None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)


def _dead_filter(receiver: str | None, ids: Sequence[int]) -> tuple[str, tuple[Any, ...]]:
    where = "state = 'dead'"
    args: tuple[Any, ...] = ()
    if receiver is not None:
        where, args = where + " AND receiver = ?", (receiver,)
    if ids:
        where += f" AND id IN ({', '.join('?' * len(ids))})"
        args = (*args, *ids)
    return where, args


def _job(row: tuple[Any, ...]) -> Job:
    job_id, created_at, receiver, enriched, body, attempts, state, available_at, last_error = row
    return Job(int(job_id), float(created_at), receiver, bool(enriched), bytes(body), int(attempts), state,
               float(available_at), last_error)
