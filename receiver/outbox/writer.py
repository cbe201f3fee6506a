"""Group commit on one thread: the thread that owns a SQLite connection runs every operation.

Callers on any thread or event loop `submit` an operation (a function of the connection) and get
a `concurrent.futures.Future`. The thread takes whatever has queued up while it was busy and
runs it all in one transaction, each operation inside its own savepoint (one failing operation
is rolled back alone), then commits once: with `synchronous=FULL` that is one fsync for the
whole batch, however many requests and deliveries were waiting.

    writer = Writer(lambda: sqlite3.connect(path, isolation_level=None))
    await asyncio.wrap_future(writer.submit(lambda db: db.execute("...").fetchall()))
    writer.close()
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]
_MAX_BATCH = 1024


@dataclass(frozen=True, slots=True)
class _Task:
    op: Op
    future: Future[Any]
    transactional: bool
    durable: bool = True


class Writer:
    """Runs operations on a connection it owns, batching transactional ones; see the module docstring."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], on_commit: Callable[[], None]) -> None:
        self._connect = connect
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._db: sqlite3.Connection | None = None
        self._synchronous = "FULL"  # what the connection is set to (see SqliteOutbox._prepare)
        self._thread = threading.Thread(target=self._main, name="amtriage-outbox", daemon=True)
        self._thread.start()

    def submit(self, op: Callable[[sqlite3.Connection], T], *, transactional: bool = True,
               durable: bool = True) -> Future[T]:
        """`durable=False`: the operation's loss in a power cut is harmless (a lease, a dedup record, a
        read); a batch of only such operations commits without an fsync (the next durable one syncs it)."""
        future: Future[T] = Future()
        self._queue.put(_Task(op, future, transactional, durable))
        return future

    def close(self) -> None:
        """Finish what is queued, close the connection and end the thread (blocks: call it off the loop)."""
        self._queue.put(None)
        self._thread.join()

    def _main(self) -> None:
        held: list[_Task | None] = []  # taken from the queue while batching, but not batchable
        try:
            while True:
                first = held.pop() if held else self._queue.get()
                if first is None:
                    return
                if not first.transactional:
                    _run(first, self._connection)
                    continue
                batch = [first]
                while len(batch) < _MAX_BATCH and not self._queue.empty():
                    task = self._queue.get()
                    if task is None or not task.transactional:
                        held.append(task)
                        break
                    batch.append(task)
                self._transaction(batch)
        finally:
            if self._db is not None:
                self._db.close()

    def _sync(self, db: sqlite3.Connection, *, durable: bool) -> None:
        """FULL (fsync at commit) for batches that store or settle work, NORMAL for the others."""
        wanted = "FULL" if durable else "NORMAL"
        if self._synchronous != wanted:
            db.execute(f"PRAGMA synchronous={wanted}")
            self._synchronous = wanted

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self._connect()
        return self._db

    def _transaction(self, batch: list[_Task]) -> None:
        try:
            db = self._connection()
            self._sync(db, durable=any(task.durable for task in batch))
            db.execute("BEGIN IMMEDIATE")
        except Exception as exc:  # no connection, or no lock on the file: every caller hears it
            _fail(batch, exc)
            return
        results: list[tuple[_Task, Any, BaseException | None]] = []
        for task in batch:
            db.execute("SAVEPOINT op")
            try:
                results.append((task, task.op(db), None))
                db.execute("RELEASE op")
            except Exception as exc:  # this operation's own failure: undo it alone, tell its caller
                db.execute("ROLLBACK TO op")
                db.execute("RELEASE op")
                results.append((task, None, exc))
        try:
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            _fail(batch, exc)
            return
        for task, result, error in results:
            if error is None:
                task.future.set_result(result)
            else:
                task.future.set_exception(error)
        self._on_commit()


def _run(task: _Task, connection: Callable[[], sqlite3.Connection]) -> None:
    try:
        task.future.set_result(task.op(connection()))
    except Exception as exc:  # the caller awaits this future: it must hear of any failure
        task.future.set_exception(exc)


def _fail(batch: list[_Task], exc: BaseException) -> None:
    for task in batch:
        task.future.set_exception(exc)
