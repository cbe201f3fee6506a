"""The embedded outbox: one SQLite file in WAL mode, every statement on one thread, group-committed.

The event loops never touch the disk: ingest's `put` and delivery's `claim` / `settle` are queued
to the outbox thread (`Writer`), which runs everything that queued up while it was busy in one
transaction and fsyncs once (`synchronous=FULL`: a 200 survives a crash of the process or of the
machine). Under load, one commit carries many requests and deliveries.

One process owns the file while it serves (an advisory lock next to it); the CLI may read it
and replay or purge dead letters at the same time (WAL allows it).

    outbox = SqliteOutbox(OutboxConfig(path="data/outbox.db"))
    await outbox.open()
    await outbox.put(body)
"""

from __future__ import annotations

import asyncio
import fcntl
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from receiver.config import OutboxConfig
from receiver.errors import OutboxError, OutboxFull
from receiver.outbox import Admission, Job, OutboxStats, Settle, dedup
from receiver.outbox.dedup import Identity
from receiver.outbox.writer import Writer

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
    last_error TEXT NOT NULL DEFAULT '',
    group_key TEXT NOT NULL DEFAULT '',
    seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_ready ON outbox (state, available_at);
CREATE INDEX IF NOT EXISTS outbox_group ON outbox (receiver, group_key, seq) WHERE state = 'pending';
"""
_COLUMNS = "id, created_at, receiver, enriched, body, attempts, state, available_at, last_error, group_key, seq"
# A receiver's job waits while an earlier job of the same receiver and group is pending (retrying or in
# flight), so one group's notifications reach a receiver in the order Alertmanager sent them.
# `seq` is the id of the notification a job comes from, kept through retries (which are new rows);
# 0 on a notification as stored (its own id is its place in line).
_IN_TURN = """NOT (o.enriched = 1 AND o.group_key != '' AND EXISTS (
    SELECT 1 FROM outbox p WHERE p.state = 'pending' AND p.receiver = o.receiver AND p.group_key = o.group_key
    AND (p.seq < o.seq OR (p.seq = o.seq AND p.id < o.id))))"""


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
        self._writer: Writer | None = None
        self._lock_file: Any = None
        self._depth = 0  # pending jobs on disk; written on the outbox thread only
        self._putting = 0  # puts on their way to disk; ingest loop only
        self._stored = False  # this transaction stored new work; outbox thread only
        self._batch: list[tuple[bytes, str | None, asyncio.Future[int]]] = []  # puts of this loop turn

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        self._writer = Writer(self._connect, self._committed)
        try:
            await self._submit(self._prepare, transactional=False)
        except OutboxError:
            await self.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.exclusive:
                self._lock_file = open(f"{self.path}.lock", "a")  # noqa: SIM115 - held until close()
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except BlockingIOError:
            raise OutboxError(f"{self.path} is in use by another amtriage process") from None
        except OSError as exc:
            raise OutboxError(f"cannot open {self.path}: {exc}") from None

    def _prepare(self, db: sqlite3.Connection) -> None:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=5000")
        columns = {row[1] for row in db.execute("PRAGMA table_info(outbox)")}
        if columns and "group_key" not in columns:  # a file from before per-group ordering
            db.execute("ALTER TABLE outbox ADD COLUMN group_key TEXT NOT NULL DEFAULT ''")
            db.execute("ALTER TABLE outbox ADD COLUMN seq INTEGER NOT NULL DEFAULT 0")
            db.execute("UPDATE outbox SET seq = id")
        db.executescript(_SCHEMA)
        db.executescript(dedup.SCHEMA)
        if self.exclusive:  # nobody else serves from this file: earlier claims died with their process
            db.execute("UPDATE outbox SET lease_until = 0 WHERE lease_until > 0")
        self._depth = int(db.execute("SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()[0])

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            await asyncio.to_thread(writer.close)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _committed(self) -> None:
        if self._stored:
            self._stored = False
            self.on_stored()

    # -- ingest ------------------------------------------------------------------------------

    async def put(self, body: bytes, receiver: str | None = None) -> int:
        """Store one notification; returns its id once it is committed to disk.

        Puts made in one turn of the event loop travel to the outbox thread as one operation and
        come back with one wake-up of the loop, so a burst costs one hand-off, not one per request."""
        if self._depth + self._putting >= self.max_items:
            raise OutboxFull(f"outbox holds {self._depth} notifications (max_items {self.max_items})")
        if self._writer is None:
            raise OutboxError("outbox is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        if not self._batch:
            loop.call_soon(self._send_batch, loop)
        self._batch.append((body, receiver, future))
        self._putting += 1
        try:
            return await future
        finally:
            self._putting -= 1

    def _send_batch(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._batch = self._batch, []
        if self._writer is None:
            _settle_futures(batch, None, OutboxError("outbox is not open"))
            return
        rows = [(body, receiver) for body, receiver, _ in batch]
        done = self._writer.submit(lambda db: [self._insert(db, body, receiver) for body, receiver in rows])
        done.add_done_callback(lambda f: loop.call_soon_threadsafe(_settle_futures, batch, *_outcome(f, self.path)))

    def _insert(self, db: sqlite3.Connection, body: bytes, receiver: str | None) -> int:
        now = self.clock()
        row = db.execute(
            "INSERT INTO outbox (created_at, receiver, body, available_at) VALUES (?, ?, ?, ?) RETURNING id",
            (now, receiver, body, now),
        ).fetchone()
        self._depth += 1
        self._stored = True
        return int(row[0])

    # -- delivery ----------------------------------------------------------------------------

    async def claim(self, limit: int) -> list[Job]:
        """Lease up to `limit` jobs that are due; a lease not settled in time lapses."""
        return await self._submit(lambda db: self._claim(db, limit), durable=False)  # a lost lease: claimed again

    def _claim(self, db: sqlite3.Connection, limit: int) -> list[Job]:
        now = self.clock()
        rows = db.execute(
            f"""UPDATE outbox SET lease_until = ? WHERE id IN (
                    SELECT id FROM outbox o WHERE state = 'pending' AND available_at <= ? AND lease_until <= ?
                    AND {_IN_TURN} ORDER BY available_at, id LIMIT ?)
                RETURNING {_COLUMNS}""",
            (now + self.lease, now, now, limit),
        ).fetchall()
        return sorted((_job(r) for r in rows), key=lambda j: (j.available_at, j.id))

    async def settle(self, job: Job, followups: Sequence[Settle] = ()) -> None:
        """Finish a claimed job: drop it, and store what is left to do (retries, dead letters)."""
        await self._submit(lambda db: self._settle(db, job, list(followups)))

    def _settle(self, db: sqlite3.Connection, job: Job, followups: list[Settle]) -> None:
        deleted = db.execute("DELETE FROM outbox WHERE id = ? AND state = 'pending'", (job.id,)).rowcount
        db.executemany(
            """INSERT INTO outbox (created_at, receiver, enriched, body, state, attempts, available_at, last_error,
                                  group_key, seq) VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?)""",
            [(job.created_at, f.receiver, f.body, f.state, f.attempts, f.at, f.error[:500], f.group_key,
              job.seq or job.id) for f in followups],
        )
        self._depth += sum(f.state == "pending" for f in followups) - deleted

    async def admit(self, job: Job, group_key: str, wanted: Mapping[str, Sequence[Identity]], window: float
                    ) -> Admission:
        """Dedup verdicts (see `outbox.dedup`; none with `window` 0) and the receivers that must queue."""

        def admit(db: sqlite3.Connection) -> Admission:
            verdicts = (dedup.admit_all(db, wanted, window, self.clock(), job.id) if window > 0
                        else {r: ["fresh"] * len(ids) for r, ids in wanted.items()})
            queued = frozenset(r for (r,) in db.execute(
                f"""SELECT DISTINCT receiver FROM outbox WHERE state = 'pending' AND enriched = 1 AND group_key = ?
                    AND receiver IN ({', '.join('?' * len(wanted))})""", (group_key, *wanted)).fetchall()
            ) if group_key and wanted else frozenset()
            return Admission(verdicts, queued)

        return await self._submit(admit, durable=False)  # a lost record: at worst one duplicate, after a power cut

    # -- inspection and dead letters ---------------------------------------------------------

    async def stats(self) -> OutboxStats:
        return await self._submit(self._stats, durable=False)

    def _stats(self, db: sqlite3.Connection) -> OutboxStats:
        depth, oldest = db.execute("SELECT count(*), min(created_at) FROM outbox WHERE state = 'pending'").fetchone()
        dead = dict(db.execute(
            "SELECT coalesce(receiver, ''), count(*) FROM outbox WHERE state = 'dead' GROUP BY 1"
        ).fetchall())
        self._depth = int(depth)  # the CLI may have replayed or purged meanwhile
        dedup.expire(db, self.clock())
        age = max(0.0, self.clock() - oldest) if oldest is not None else 0.0
        return OutboxStats(depth=int(depth), oldest_age=age, dead=sum(dead.values()), dead_by_receiver=dead)

    async def jobs(self, state: str | None = None, limit: int = 100) -> list[Job]:
        query = f"SELECT {_COLUMNS} FROM outbox" + (" WHERE state = ?" if state else "") + " ORDER BY id LIMIT ?"
        args: tuple[Any, ...] = (state, limit) if state else (limit,)
        return await self._submit(lambda db: [_job(r) for r in db.execute(query, args).fetchall()])

    async def replay(self, *, receiver: str | None = None, ids: Sequence[int] = ()) -> int:
        """Put dead letters back in line, with a fresh attempt count and age."""
        where, args = _dead_filter(receiver, ids)

        def replay(db: sqlite3.Connection) -> int:
            now = self.clock()
            count = db.execute(f"""UPDATE outbox SET state = 'pending', attempts = 0, created_at = ?,
                available_at = ?, lease_until = 0 WHERE {where}""", (now, now, *args)).rowcount
            self._depth += count
            self._stored = self._stored or count > 0
            return count

        return await self._submit(replay)

    async def purge(self, *, receiver: str | None = None, ids: Sequence[int] = ()) -> int:
        where, args = _dead_filter(receiver, ids)
        return await self._submit(lambda db: db.execute(f"DELETE FROM outbox WHERE {where}", args).rowcount)

    # -- plumbing ----------------------------------------------------------------------------

    async def _submit(self, op: Callable[[sqlite3.Connection], T], *, transactional: bool = True,
                      durable: bool = True) -> T:
        if self._writer is None:
            raise OutboxError("outbox is not open")
        try:
            return await asyncio.wrap_future(self._writer.submit(op, transactional=transactional, durable=durable))
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path}: {exc}") from None


def _outcome(done: Future[list[int]], path: Path) -> tuple[list[int] | None, BaseException | None]:
    error = done.exception()
    if error is None:
        return done.result(), None
    return None, OutboxError(f"outbox {path}: cannot store: {error}")


def _settle_futures(
    batch: list[tuple[bytes, str | None, asyncio.Future[int]]], ids: list[int] | None, error: BaseException | None
) -> None:
    for i, (_, _, future) in enumerate(batch):
        if future.done():  # the request went away meanwhile; its notification is stored all the same
            continue
        if ids is not None:
            future.set_result(ids[i])
        else:
            future.set_exception(error or OutboxError("cannot store"))


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
    job_id, created_at, receiver, enriched, body, attempts, state, available_at, last_error, group_key, seq = row
    return Job(int(job_id), float(created_at), receiver, bool(enriched), bytes(body), int(attempts), state,
               float(available_at), last_error, group_key, int(seq))
