"""The delivery worker on an event loop of its own, in a thread of its own.

Alertmanager waits on every webhook POST, so the ingest loop does nothing but accept. Delivery
(enrichment, HTTP to receivers, retries) runs on a second loop in this thread, with its own
`ClientSession`; the two meet only at the outbox, whose statements run on its own thread anyway.

    thread = DeliveryThread(lambda session: make_worker(session))
    await thread.start()
    outbox.on_stored = thread.wake      # new work: wake the worker from the ingest loop
    ...
    await thread.stop(grace=10)
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import aiohttp

from receiver.delivery import DeliveryWorker

log = logging.getLogger("amtriage.delivery")
T = TypeVar("T")


class DeliveryThread:
    """Owns the delivery loop; see the module docstring."""

    def __init__(self, make_worker: Callable[[aiohttp.ClientSession], DeliveryWorker]) -> None:
        self.make_worker = make_worker
        self.worker: DeliveryWorker | None = None
        self.session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._main, name="amtriage-delivery", daemon=True)
        self._grace = 10.0
        self._error: BaseException | None = None

    async def start(self) -> None:
        self._thread.start()
        await asyncio.to_thread(self._started.wait)
        if self._error is not None:
            raise self._error

    def wake(self) -> None:
        """Safe from any thread."""
        loop, worker = self._loop, self.worker
        if loop is not None and worker is not None and not loop.is_closed():
            loop.call_soon_threadsafe(worker.wake)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming, give in-flight deliveries `grace` seconds, and wait for the thread to end."""
        self._grace = grace
        loop, worker = self._loop, self.worker
        if loop is not None and worker is not None and not loop.is_closed():
            loop.call_soon_threadsafe(worker.stop)
        await asyncio.to_thread(self._thread.join)

    async def run(self, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run `fn()` on the delivery loop (to change what lives there) and wait for it."""
        if self._loop is None:
            raise RuntimeError("delivery is not running")
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(fn(), self._loop))

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start(), or logged when it happens later
            self._error = exc
            log.exception("delivery loop stopped")
        finally:
            self._started.set()

    async def _serve(self) -> None:
        async with aiohttp.ClientSession() as session:
            self.session = session
            self.worker = self.make_worker(session)
            self._loop = asyncio.get_running_loop()
            self._started.set()
            await self.worker.run(grace=self._grace)
