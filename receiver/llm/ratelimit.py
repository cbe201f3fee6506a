"""Rate limits per provider: token buckets and a concurrency cap, on an injected clock and sleep.

A provider's `RateLimiter` holds a request bucket (`requests_per_minute`, `burst`), optionally a token
bucket (tokens per minute; each acquire spends a `cost`, the request's estimated tokens) and optionally
one bucket per tenant (the Alertmanager receiver name), made on first use and bounded (least recently
used dropped first). A request is granted only when every bucket it touches can pay. `ConcurrencyCap`
bounds the calls in flight.

Nothing here holds a page past the enrichment deadline: `acquire(deadline)` waits (with the injected
sleep) only when the wait ends by `deadline`, an absolute time on the limiter's clock; otherwise it
returns False at once and the caller moves on to the next provider. A granted wait reserves its tokens
before sleeping (a bucket may go below zero), so callers waiting together are served in turn and none
wakes to find its tokens gone; a cancelled wait gives them back.

    limiter = RateLimiter.from_config(provider.rate_limit, tenant=RateLimitConfig(60, 5), clock=clock)
    limiter.try_acquire()                       # 0.0: granted; else the seconds until it would be
    if not await limiter.acquire(deadline, tenant="team-webhook"):
        ...                                     # rate_limited: try the next provider
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from cachetools import LRUCache

from receiver.config import RateLimitConfig

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


def refilled(tokens: float, elapsed: float, rate: float, capacity: float) -> float:
    """Tokens after `elapsed` seconds of refill at `rate` per second, never above `capacity`."""
    return min(capacity, tokens + max(elapsed, 0.0) * rate)


def wait_time(tokens: float, n: float, rate: float, capacity: float) -> float:
    """Seconds until `n` tokens are there: 0.0 now, `inf` when never (more than the capacity, no refill)."""
    if tokens >= n:
        return 0.0
    if n > capacity or rate <= 0:
        return math.inf
    return (n - tokens) / rate


class TokenBucket:
    """`capacity` tokens (the burst), refilled at `rate` per second; may go below zero to reserve.

        bucket = TokenBucket.per_minute(600, burst=20, clock=clock)
        bucket.try_acquire()      # 0.0 while the burst lasts, then the wait for the next token
    """

    def __init__(self, rate: float, capacity: float, *, clock: Clock = time.monotonic) -> None:
        self.rate, self.capacity, self._clock = rate, capacity, clock
        self._tokens, self._at = float(capacity), clock()

    @classmethod
    def per_minute(cls, per_minute: float, burst: float, *, clock: Clock = time.monotonic) -> TokenBucket:
        return cls(per_minute / 60.0, burst, clock=clock)

    @property
    def tokens(self) -> float:
        now = self._clock()
        self._tokens, self._at = refilled(self._tokens, now - self._at, self.rate, self.capacity), now
        return self._tokens

    def wait(self, n: float = 1.0) -> float:
        """Seconds until `n` tokens are there; takes nothing."""
        return wait_time(self.tokens, n, self.rate, self.capacity)

    def take(self, n: float) -> None:
        self._tokens -= n

    def give_back(self, n: float) -> None:
        self._tokens = min(self.capacity, self._tokens + n)

    def try_acquire(self, n: float = 1.0) -> float:
        """0.0 and `n` tokens taken, or the seconds until they would be (nothing taken)."""
        wait = self.wait(n)
        if wait == 0.0:
            self.take(n)
        return wait


class RateLimiter:
    """A provider's buckets: requests, optionally tokens (`cost` per acquire) and one per tenant.

        limiter = RateLimiter(TokenBucket.per_minute(600, 20, clock=clock), clock=clock, sleep=sleep)
        granted = await limiter.acquire(clock() + 10, tenant="team-webhook", cost=1200)
    """

    def __init__(self, requests: TokenBucket, *, tokens: TokenBucket | None = None,
                 tenant: RateLimitConfig | None = None, max_tenants: int = 1024,
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self.requests, self.tokens, self._tenant = requests, tokens, tenant
        self.tenants: LRUCache[str, TokenBucket] = LRUCache(maxsize=max_tenants)
        self._clock, self._sleep = clock, sleep

    @classmethod
    def from_config(cls, config: RateLimitConfig, *, tokens_per_minute: float = 0.0,
                    tenant: RateLimitConfig | None = None, max_tenants: int = 1024,
                    clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> RateLimiter:
        """`tokens_per_minute` 0 means no token limit (its burst is a minute's worth)."""
        tpm = tokens_per_minute
        tokens = TokenBucket.per_minute(tpm, tpm, clock=clock) if tpm > 0 else None
        return cls(TokenBucket.per_minute(config.requests_per_minute, config.burst, clock=clock), tokens=tokens,
                   tenant=tenant, max_tenants=max_tenants, clock=clock, sleep=sleep)

    def tenant_bucket(self, tenant: str) -> TokenBucket | None:
        """The tenant's bucket (made on first use), or None without a per-tenant limit."""
        if self._tenant is None:
            return None
        bucket = self.tenants.get(tenant)
        if bucket is None:
            bucket = TokenBucket.per_minute(self._tenant.requests_per_minute, self._tenant.burst, clock=self._clock)
            self.tenants[tenant] = bucket
        return bucket

    def _charges(self, n: float, cost: float, tenant: str | None) -> list[tuple[TokenBucket, float]]:
        charges = [(self.requests, n)]
        if self.tokens is not None and cost:
            charges.append((self.tokens, cost))
        bucket = self.tenant_bucket(tenant) if tenant is not None else None
        if bucket is not None:
            charges.append((bucket, n))
        return charges

    def try_acquire(self, n: float = 1.0, *, cost: float = 0.0, tenant: str | None = None) -> float:
        """0.0 and every bucket charged, or the seconds until all could pay (nothing charged)."""
        charges = self._charges(n, cost, tenant)
        wait = max(bucket.wait(amount) for bucket, amount in charges)
        if wait == 0.0:
            for bucket, amount in charges:
                bucket.take(amount)
        return wait

    async def acquire(self, deadline: float, n: float = 1.0, *, cost: float = 0.0, tenant: str | None = None) -> bool:
        """True when granted, after a wait only if it ends by `deadline`; False at once otherwise."""
        charges = self._charges(n, cost, tenant)
        wait = max(bucket.wait(amount) for bucket, amount in charges)
        if wait > 0.0 and self._clock() + wait > deadline:
            return False
        for bucket, amount in charges:
            bucket.take(amount)
        if wait > 0.0:
            try:
                await self._sleep(wait)
            except asyncio.CancelledError:  # cancelled while waiting: the reservation goes back
                for bucket, amount in charges:
                    bucket.give_back(amount)
                raise
        return True


class ConcurrencyCap:
    """At most `limit` calls in flight. A wait for a slot is bounded by `deadline` on the injected clock
    (as a loop timeout of `deadline - clock()` seconds); past it, or when it has passed, no slot.

        cap = ConcurrencyCap(4, clock=clock)
        async with cap.slot(deadline) as granted:
            if granted:
                reply = await provider.complete(request)
    """

    def __init__(self, limit: int, *, clock: Clock = time.monotonic) -> None:
        self.limit, self.in_use, self._clock = limit, 0, clock
        self._free = asyncio.Semaphore(limit)

    async def acquire(self, deadline: float) -> bool:
        if not self._free.locked():
            await self._free.acquire()  # free: returns without suspending
        else:
            remaining = deadline - self._clock()
            if remaining <= 0:
                return False
            try:
                async with asyncio.timeout(remaining):
                    await self._free.acquire()
            except TimeoutError:
                return False
        self.in_use += 1
        return True

    def release(self) -> None:
        self.in_use -= 1
        self._free.release()

    @asynccontextmanager
    async def slot(self, deadline: float) -> AsyncIterator[bool]:
        """Yields whether a slot was had; releases it on the way out, however the block ends."""
        granted = await self.acquire(deadline)
        try:
            yield granted
        finally:
            if granted:
                self.release()
