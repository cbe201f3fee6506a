"""Circuit breaker overhead: the check alone, and a closed-state call around an awaited no-op coroutine.

Measures, in one run and one event loop, the best of `--repeats` rounds of `--iterations` operations:

    bare await          await noop()                                       (the baseline)
    check               permit = breaker.allow(); permit.record(SUCCESS, 0.0)
    check + metrics     the same, with BreakerMetrics on a fresh CollectorRegistry
    call                allow(); with permit: await noop(); record(SUCCESS)   (duration from the clock)
    call + metrics      the same, with BreakerMetrics

and prints ns/op, and for the calls the overhead over the bare await. Prints figures; never asserts on time.

    python bench/breaker.py [--iterations 200000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from receiver.config import BreakerConfig  # noqa: E402 - after the path set-up above
from receiver.llm.breaker import BreakerMetrics, CallOutcome, CircuitBreaker  # noqa: E402

SUCCESS = CallOutcome.SUCCESS


async def noop() -> None:
    return None


def with_metrics() -> BreakerMetrics:
    r, p, name = CollectorRegistry(), ["provider"], "llm_circuit_breaker_"
    return BreakerMetrics(
        state=Gauge(name + "state", "", p, registry=r), failures=Counter(name + "failures_total", "", p, registry=r),
        successes=Counter(name + "successes_total", "", p, registry=r),
        blocked=Counter(name + "requests_blocked_total", "", p, registry=r),
        half_open=Counter(name + "half_open_requests_total", "", p, registry=r),
        slow_calls=Counter(name + "slow_calls_total", "", p, registry=r),
        state_changes=Counter(name + "state_changes_total", "", [*p, "from", "to"], registry=r),
        call_duration=Histogram(name + "call_duration_seconds", "", [*p, "result"], registry=r),
        provider="bench")


async def bare(n: int) -> None:
    for _ in range(n):
        await noop()


def check(breaker: CircuitBreaker) -> Callable[[int], Awaitable[None]]:
    async def run(n: int) -> None:
        allow = breaker.allow
        for _ in range(n):
            permit = allow()
            assert permit is not None
            permit.record(SUCCESS, 0.0)
    return run


def call(breaker: CircuitBreaker) -> Callable[[int], Awaitable[None]]:
    async def run(n: int) -> None:
        allow = breaker.allow
        for _ in range(n):
            permit = allow()
            assert permit is not None
            with permit:
                await noop()
                permit.record(SUCCESS)
    return run


async def best_ns(run: Callable[[int], Awaitable[None]], iterations: int, repeats: int) -> float:
    """The fastest round, in ns per operation (the least disturbed by the rest of the machine)."""
    await run(min(iterations, 10_000))  # warm-up
    rounds = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        await run(iterations)
        rounds.append((time.perf_counter_ns() - start) / iterations)
    return min(rounds)


async def main(iterations: int, repeats: int) -> None:
    config = BreakerConfig()
    cases: list[tuple[str, Callable[[int], Awaitable[None]], bool]] = [
        ("bare await", bare, False),
        ("check", check(CircuitBreaker(config)), False),
        ("check + metrics", check(CircuitBreaker(config, listener=with_metrics())), False),
        ("call", call(CircuitBreaker(config)), True),
        ("call + metrics", call(CircuitBreaker(config, listener=with_metrics())), True),
    ]
    print(f"python {sys.version.split()[0]}, {iterations} ops x {repeats} rounds, best round shown")
    baseline = 0.0
    for name, run, is_call in cases:
        ns = await best_ns(run, iterations, repeats)
        baseline = ns if name == "bare await" else baseline
        extra = f"   (+{ns - baseline:7.1f} ns over the bare await)" if is_call else ""
        print(f"{name:>16}: {ns:8.1f} ns/op{extra}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.iterations, args.repeats))
