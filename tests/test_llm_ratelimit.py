"""Rate limits on a manual clock: burst and refill, waits within the deadline (recorded sleeps), tenants, the cap."""

from __future__ import annotations

import asyncio
import math

import pytest

from receiver.config import RateLimitConfig
from receiver.llm.ratelimit import ConcurrencyCap, RateLimiter, TokenBucket, refilled, wait_time
from tests.fakes import ManualClock


class Sleeps:
    """An injected sleep that records each wait and moves the clock; `hold()` makes it wait for `release()`."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock, self.recorded = clock, list[float]()
        self.gate: asyncio.Event | None = None
        self.changed = asyncio.Condition()

    def hold(self) -> None:
        self.gate = asyncio.Event()

    def release(self) -> None:
        assert self.gate is not None
        self.gate.set()

    async def sleeping(self, count: int) -> None:
        """Until `count` sleeps have started."""
        async with self.changed:
            await self.changed.wait_for(lambda: len(self.recorded) >= count)

    async def __call__(self, seconds: float) -> None:
        self.recorded.append(seconds)
        async with self.changed:
            self.changed.notify_all()
        if self.gate is not None:
            await self.gate.wait()
        self.clock.advance(seconds)


@pytest.fixture
def sleeps(clock: ManualClock) -> Sleeps:
    return Sleeps(clock)


def limiter(clock: ManualClock, sleeps: Sleeps, per_minute: float = 60, burst: int = 2,
            **kwargs: object) -> RateLimiter:
    return RateLimiter.from_config(RateLimitConfig(per_minute, burst), clock=clock, sleep=sleeps,
                                   **kwargs)  # type: ignore[arg-type]


def test_refill_and_wait_are_pure_functions() -> None:
    assert refilled(0.0, 30.0, 0.5, 10.0) == 10.0
    assert refilled(-2.0, 2.0, 0.5, 10.0) == -1.0
    assert wait_time(0.5, 1.0, 2.0, 5.0) == 0.25
    assert wait_time(5.0, 6.0, 2.0, 5.0) == math.inf


def test_burst_then_refill_by_the_clock(clock: ManualClock) -> None:
    bucket = TokenBucket.per_minute(60, burst=3, clock=clock)
    assert [bucket.try_acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.try_acquire() == pytest.approx(1.0)
    clock.advance(0.5)
    assert bucket.try_acquire() == pytest.approx(0.5)
    clock.advance(0.5)
    assert bucket.try_acquire() == 0.0
    clock.advance(3600)
    assert bucket.tokens == 3  # never more than the burst


def test_try_acquire_takes_nothing_while_it_must_wait(clock: ManualClock) -> None:
    bucket = TokenBucket.per_minute(60, burst=1, clock=clock)
    assert bucket.try_acquire() == 0.0
    assert bucket.try_acquire() == pytest.approx(1.0)
    assert bucket.try_acquire() == pytest.approx(1.0)
    assert bucket.try_acquire(5) == math.inf  # more than the burst never fits


async def test_acquire_waits_when_the_wait_ends_before_the_deadline(clock: ManualClock, sleeps: Sleeps) -> None:
    limits = limiter(clock, sleeps, burst=1)
    assert await limits.acquire(clock() + 10)
    assert sleeps.recorded == []
    assert await limits.acquire(clock() + 10)
    assert sleeps.recorded == [pytest.approx(1.0)]


async def test_acquire_past_the_deadline_returns_false_without_sleeping(clock: ManualClock, sleeps: Sleeps) -> None:
    limits = limiter(clock, sleeps, burst=1)
    assert limits.try_acquire() == 0.0
    assert not await limits.acquire(clock() + 0.5)
    assert sleeps.recorded == []
    assert limits.try_acquire() == pytest.approx(1.0)  # the refused acquire took nothing


async def test_callers_waiting_together_are_served_in_turn(clock: ManualClock, sleeps: Sleeps) -> None:
    limits = limiter(clock, sleeps, burst=1)
    assert limits.try_acquire() == 0.0
    sleeps.hold()
    waiting = [asyncio.create_task(limits.acquire(clock() + 10)) for _ in range(3)]
    await sleeps.sleeping(3)
    assert sleeps.recorded == [pytest.approx(1.0), pytest.approx(2.0), pytest.approx(3.0)]
    sleeps.release()
    assert await asyncio.gather(*waiting) == [True, True, True]


async def test_a_cancelled_wait_gives_its_tokens_back(clock: ManualClock, sleeps: Sleeps) -> None:
    limits = limiter(clock, sleeps, burst=1)
    assert limits.try_acquire() == 0.0
    sleeps.hold()
    waiting = asyncio.create_task(limits.acquire(clock() + 10))
    await sleeps.sleeping(1)
    assert limits.try_acquire() == pytest.approx(2.0)  # behind the reservation
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert limits.try_acquire() == pytest.approx(1.0)


async def test_tokens_per_minute_charge_the_cost(clock: ManualClock, sleeps: Sleeps) -> None:
    limits = limiter(clock, sleeps, per_minute=600, burst=10, tokens_per_minute=1000)
    assert limits.try_acquire(cost=800) == 0.0
    assert limits.try_acquire(cost=300) == pytest.approx(6.0)  # 100 short at 1000/60 a second
    assert limits.requests.tokens == 9  # a refused acquire charges no bucket
    assert not await limits.acquire(clock() + 5, cost=300)
    assert await limits.acquire(clock() + 10, cost=300)
    assert sleeps.recorded == [pytest.approx(6.0)]
    assert limits.try_acquire(cost=5000) == math.inf


def test_tenant_buckets_are_independent(clock: ManualClock, sleeps: Sleeps) -> None:
    limits = limiter(clock, sleeps, per_minute=600, burst=10, tenant=RateLimitConfig(60, 1))
    assert limits.try_acquire(tenant="team-a") == 0.0
    assert limits.try_acquire(tenant="team-a") == pytest.approx(1.0)
    assert limits.try_acquire(tenant="team-b") == 0.0
    assert limits.try_acquire() == 0.0  # no tenant: only the provider's bucket
    assert limits.requests.tokens == 7


def test_tenant_buckets_are_bounded_least_recently_used_first(clock: ManualClock, sleeps: Sleeps) -> None:
    limits = limiter(clock, sleeps, tenant=RateLimitConfig(60, 1), max_tenants=3, burst=100)
    for name in ("a", "b", "c"):
        limits.try_acquire(tenant=name)
    limits.try_acquire(tenant="a")
    limits.try_acquire(tenant="d")
    assert sorted(limits.tenants) == ["a", "c", "d"]


def test_no_tenant_limit_unless_configured(clock: ManualClock, sleeps: Sleeps) -> None:
    limits = limiter(clock, sleeps, burst=3)
    assert limits.tenant_bucket("team-a") is None
    assert [limits.try_acquire(tenant="team-a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert len(limits.tenants) == 0


async def test_concurrency_cap_admits_the_limit_then_waits_for_a_release(clock: ManualClock) -> None:
    cap = ConcurrencyCap(2, clock=clock)
    assert await cap.acquire(clock() + 10)
    assert await cap.acquire(clock() + 10)
    third = asyncio.create_task(cap.acquire(clock() + 10))
    await asyncio.sleep(0)  # one turn of the loop: the third caller is now waiting for a slot
    assert not third.done()
    cap.release()
    assert await third
    assert cap.in_use == 2


async def test_concurrency_cap_gives_no_slot_past_the_deadline(clock: ManualClock) -> None:
    cap = ConcurrencyCap(1, clock=clock)
    async with cap.slot(clock() + 10) as granted:
        assert granted
        assert not await cap.acquire(clock())  # the deadline has passed: no wait at all
        assert not await cap.acquire(clock() + 0.001)  # the slot stays taken through the wait
    assert cap.in_use == 0


async def test_concurrency_slot_is_released_however_the_block_ends(clock: ManualClock) -> None:
    cap = ConcurrencyCap(1, clock=clock)

    async def call_that_fails() -> None:
        async with cap.slot(clock() + 10) as granted:
            assert granted
            raise RuntimeError("provider blew up")

    with pytest.raises(RuntimeError):
        await call_that_fails()
    assert cap.in_use == 0
    async with cap.slot(clock() + 10) as granted:
        assert granted
