"""The delivery worker: claim jobs from the outbox, enrich, route, fan out, then settle each job.

Each receiver of a notification is delivered and retried on its own: one that is down gets a
retry job of its own (with the enriched body, so the alert is not classified twice) and never
delays the others. A retryable failure is tried again after `backoff` or the receiver's
Retry-After, whichever is longer, until `max_attempts` or `max_age`; then, like a permanent
failure, it becomes a dead letter (`amtriage outbox replay` puts it back).

    worker = DeliveryWorker(outbox, enricher, router, forwarders, config.receivers, config.delivery, metrics)
    await worker.run()        # until stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from receiver import alerts
from receiver.alerts import Notification
from receiver.config import DeliveryConfig, ReceiverConfig
from receiver.errors import AmtriageError, DeliveryError, PayloadError, Reason, RetryableDelivery
from receiver.forwarders import Forwarder
from receiver.metrics import Metrics
from receiver.outbox import Job, Outbox, Settle
from receiver.pipeline import Enricher
from receiver.routing import Router

log = logging.getLogger("amtriage.delivery")
_STATS_EVERY = 5.0


def backoff(attempt: int, *, initial: float, maximum: float, jitter: float) -> float:
    """Delay before attempt `attempt + 1`: doubling from `initial`, capped, less up to half (`jitter` in [0, 1))."""
    base: float = min(maximum, initial * 2.0 ** max(0, attempt - 1))
    return base * (1 - jitter / 2)


class DeliveryWorker:
    """Works through the outbox; see the module docstring. `wake()` is safe to call from the worker's loop."""

    def __init__(
        self,
        outbox: Outbox,
        enricher: Enricher,
        router: Router,
        forwarders: Mapping[str, Forwarder],
        receivers: Sequence[ReceiverConfig],
        config: DeliveryConfig,
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.outbox = outbox
        self.enricher = enricher
        self.router = router
        self.forwarders = forwarders
        self.receivers = {r.name: r for r in receivers}
        self.config = config
        self.metrics = metrics
        self.clock = clock
        self.rand = rand
        self._wake = asyncio.Event()
        self._stopping = False
        self._inflight: set[asyncio.Task[None]] = set()
        self._stats_at = float("-inf")

    def wake(self) -> None:
        self._wake.set()

    def reconfigure(self, router: Router, forwarders: Mapping[str, Forwarder], receivers: Sequence[ReceiverConfig],
                    config: DeliveryConfig) -> None:
        """After a reload: jobs claimed from now on use the new routes, receivers and settings."""
        self.router = router
        self.forwarders = forwarders
        self.receivers = {r.name: r for r in receivers}
        self.config = config

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self, grace: float = 10.0) -> None:
        """Deliver until `stop()`; then give in-flight jobs `grace` seconds (the rest stay in the outbox)."""
        while not self._stopping:
            self._wake.clear()  # set again by any wake-up from here on, so none is lost while busy
            claimed = await self.fill()
            await self.refresh_stats()
            if claimed == 0 or len(self._inflight) >= self.config.concurrency:
                await self._idle()
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=grace)

    async def fill(self) -> int:
        """Claim as many due jobs as there are free slots and start them; returns how many."""
        free = self.config.concurrency - len(self._inflight)
        if free <= 0:
            return 0
        try:
            jobs = await self.outbox.claim(free)
        except AmtriageError as exc:
            log.error("cannot claim from the outbox: %s", exc)
            return 0
        for job in jobs:
            task = asyncio.create_task(self.process(job))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        return len(jobs)

    async def drain(self) -> None:
        """Run until nothing is due or in flight (for tests and the CLI)."""
        while await self.fill() or self._inflight:
            if self._inflight:
                await asyncio.wait(self._inflight)

    async def _idle(self) -> None:
        """Wait for a wake-up, a finished job or the poll interval, whichever comes first."""
        waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._wake.wait()), *self._inflight}
        try:
            await asyncio.wait(waiters, timeout=self.config.poll_interval, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                if w not in self._inflight:
                    w.cancel()

    async def refresh_stats(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._stats_at < _STATS_EVERY:
            return
        self._stats_at = now
        with contextlib.suppress(AmtriageError):
            stats = await self.outbox.stats()
            self.metrics.outbox_depth.set(stats.depth)
            self.metrics.outbox_oldest_age.set(stats.oldest_age)
            for name in {*self.receivers, *stats.dead_by_receiver}:
                self.metrics.dead_letters.labels(receiver=name).set(stats.dead_by_receiver.get(name, 0))

    async def process(self, job: Job) -> None:
        """Deliver one job to each of its receivers and settle it in the outbox."""
        try:
            plan, queued = await self._plan(job)
        except PayloadError as exc:  # stored before this version's checks: keep it, do not loop on it
            log.error("outbox job %d cannot be read: %s", job.id, exc)
            followups = [Settle.dead(job.receiver or "", job.body, attempts=job.attempts, at=self.clock(),
                                     error=f"unreadable: {exc}")]
        else:
            waiting = [Settle.retry(name, body, attempts=0, at=self.clock(), group_key=part.group_key,
                                    error="waiting for an earlier notification of its group")
                       for name, (part, body) in plan.items() if name in queued]
            sent = await asyncio.gather(*(self._send(job, name, part, body) for name, (part, body) in plan.items()
                                          if name not in queued))
            followups = waiting + [s for s in sent if s is not None]
        try:
            await self.outbox.settle(job, followups)
        except AmtriageError as exc:
            log.error("cannot settle outbox job %d (it will be claimed again): %s", job.id, exc)

    async def _plan(self, job: Job) -> tuple[dict[str, tuple[Notification, bytes]], frozenset[str]]:
        """Per receiver, what to send (as a notification and as bytes), and which receivers must wait
        behind an earlier notification of the same group."""
        notification = alerts.parse(job.body)
        if job.enriched and job.receiver is not None:  # a retry or a replay: send as stored
            return {job.receiver: (notification, job.body)}, frozenset()
        enriched = await self.enricher.enrich(notification)
        parts = {job.receiver: enriched} if job.receiver is not None else self.router.split(enriched)
        wanted = {name: self._wanted(name, part) for name, part in parts.items()}
        parts, queued = await self._admit(job, {name: part for name, part in wanted.items() if part is not None})
        plan = {name: (part, job.body if part is notification else part.to_json()) for name, part in parts.items()}
        return plan, queued

    def _wanted(self, name: str, part: Notification) -> Notification | None:
        """What `name` takes of its part: resolved alerts only with send_resolved (the default)."""
        receiver = self.receivers.get(name)
        if receiver is None or receiver.send_resolved:
            return part
        firing = tuple(a for a in part.alerts if a.status == "firing")
        if not firing:
            return None
        return part if len(firing) == len(part.alerts) else part.with_alerts(firing)

    async def _admit(self, job: Job, parts: dict[str, Notification]
                     ) -> tuple[dict[str, Notification], frozenset[str]]:
        """Drop what each receiver was already sent (dedup), and say who must queue behind its group."""
        if not parts:
            return parts, frozenset()
        group_key = next(iter(parts.values())).group_key
        identities = {name: [a.identity for a in part.alerts] for name, part in parts.items()}
        admission = await self.outbox.admit(job, group_key, identities, self.config.dedup_window)
        kept: dict[str, Notification] = {}
        for name, part in parts.items():
            verdicts = admission.verdicts[name]
            fresh = tuple(a for a, v in zip(part.alerts, verdicts, strict=True) if v == "fresh")
            for verdict in {v for v in verdicts if v != "fresh"}:
                self.metrics.deduplicated.labels(name, verdict).inc(verdicts.count(verdict))
            if fresh:
                kept[name] = part if len(fresh) == len(part.alerts) else part.with_alerts(fresh)
        return kept, admission.queued

    async def _send(self, job: Job, name: str, notification: Notification, body: bytes) -> Settle | None:
        forwarder = self.forwarders.get(name)
        if forwarder is None:
            self.metrics.notifications_failed.labels(name, "unknown", Reason.UNKNOWN_RECEIVER).inc()
            return Settle.dead(name, body, attempts=job.attempts, at=self.clock(), error="no such receiver",
                               group_key=notification.group_key)
        labels = (name, forwarder.integration)
        self.metrics.notification_requests.labels(*labels).inc()
        started = time.monotonic()
        try:
            await forwarder.send(notification, body)
        except DeliveryError as exc:
            error: DeliveryError = exc
        except Exception as exc:  # a forwarder bug must not lose the alert: retry it, and say so
            log.exception("receiver %s: unexpected error", name)
            error = RetryableDelivery(Reason.OTHER, type(exc).__name__)
        else:
            self.metrics.notification_latency.labels(*labels).observe(time.monotonic() - started)
            self.metrics.notifications.labels(*labels).inc()
            return None
        self.metrics.notification_latency.labels(*labels).observe(time.monotonic() - started)
        self.metrics.notification_requests_failed.labels(*labels).inc()
        self.metrics.notifications_failed.labels(*labels, error.reason).inc()
        return self._after_failure(job, name, body, error, notification.group_key)

    def _after_failure(self, job: Job, name: str, body: bytes, error: DeliveryError, group_key: str) -> Settle:
        now, attempts = self.clock(), job.attempts + 1
        expired = attempts >= self.config.max_attempts or now - job.created_at >= self.config.max_age
        if not isinstance(error, RetryableDelivery) or expired:
            log.warning("receiver %s: giving up after %d attempt(s): %s", name, attempts, error)
            return Settle.dead(name, body, attempts=attempts, at=now, error=str(error), group_key=group_key)
        delay = backoff(attempts, initial=self.config.initial_backoff, maximum=self.config.max_backoff,
                        jitter=self.rand())
        delay = max(delay, error.retry_after or 0.0)
        log.info("receiver %s: attempt %d failed (%s), next in %.1fs", name, attempts, error, delay)
        return Settle.retry(name, body, attempts=attempts, at=now + delay, error=str(error), group_key=group_key)
