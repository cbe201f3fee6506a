"""The circuit breaker on a manual clock: every transition, both opening triggers, probes, metrics. No sleeps."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from receiver.config import BreakerConfig
from receiver.llm.breaker import BreakerMetrics, CallOutcome, CircuitBreaker, Permit, State
from tests.fakes import ManualClock

OK, FAIL, IGNORED = CallOutcome.SUCCESS, CallOutcome.FAILURE, CallOutcome.IGNORED


def make(clock: ManualClock, **config: object) -> CircuitBreaker:
    return CircuitBreaker(BreakerConfig(**config), clock=clock)  # type: ignore[arg-type]


def call(breaker: CircuitBreaker, outcome: CallOutcome, duration: float = 0.1) -> None:
    permit = breaker.allow()
    assert permit is not None, "the breaker blocked a call the test expected to pass"
    permit.record(outcome, duration)


def opened(clock: ManualClock, **config: object) -> CircuitBreaker:
    breaker = make(clock, **{"max_failures": 1, "reset_timeout": 60.0, **config})
    call(breaker, FAIL)
    assert breaker.stats().state is State.OPEN
    return breaker


def test_closed_breaker_lets_calls_through_and_counts_them(clock: ManualClock) -> None:
    breaker = make(clock)
    for outcome in (OK, FAIL, OK):
        call(breaker, outcome)
    stats = breaker.stats()
    assert (stats.state, stats.successes, stats.failures, stats.consecutive_failures) == (State.CLOSED, 2, 1, 0)
    assert stats.failure_rate == pytest.approx(1 / 3)


def test_opens_after_max_failures_in_a_row_and_a_success_restarts_the_count(clock: ManualClock) -> None:
    breaker = make(clock, max_failures=3)
    for outcome in (FAIL, FAIL, OK, FAIL, FAIL):
        call(breaker, outcome)
    assert breaker.stats().state is State.CLOSED
    call(breaker, FAIL)
    assert breaker.stats().state is State.OPEN
    assert breaker.allow() is None


def test_opens_on_failure_rate_once_the_minimum_number_of_calls_is_seen(clock: ManualClock) -> None:
    breaker = CircuitBreaker(BreakerConfig(max_failures=100, failure_threshold=0.5), clock=clock, min_calls=10)
    for outcome in [FAIL, OK] * 4 + [FAIL]:  # 5 of 9 failed: above the threshold, below the minimum
        call(breaker, outcome)
    assert breaker.stats().state is State.CLOSED
    call(breaker, OK)  # 5 of 10: the threshold is reached, but a success never opens
    assert breaker.stats().state is State.CLOSED
    call(breaker, FAIL)  # 6 of 11
    assert breaker.stats().state is State.OPEN


def test_calls_older_than_the_window_slide_out(clock: ManualClock) -> None:
    breaker = CircuitBreaker(BreakerConfig(max_failures=100, failure_threshold=0.5, time_window=60.0), clock=clock,
                             min_calls=10)
    for _ in range(9):
        call(breaker, FAIL)
    clock.advance(30)
    assert breaker.stats().failures == 9
    clock.advance(31)
    assert breaker.stats().failures == 0
    for outcome in [OK] * 8 + [FAIL, FAIL]:  # 2 of 10 in the window; 11 of 19 counting the old ones
        call(breaker, outcome)
    stats = breaker.stats()
    assert (stats.state, stats.failures, stats.successes) == (State.CLOSED, 2, 8)


def test_slow_calls_count_as_failures_and_separately(clock: ManualClock) -> None:
    breaker = make(clock, max_failures=2, slow_call_duration=3.0)
    call(breaker, OK, duration=3.0)
    stats = breaker.stats()
    assert (stats.failures, stats.slow_calls, stats.successes, stats.consecutive_failures) == (1, 1, 0, 1)
    permit = breaker.allow()
    assert permit is not None
    clock.advance(5)
    permit.record(OK)  # no duration given: measured on the breaker's clock since allow()
    assert breaker.stats().state is State.OPEN


def test_open_blocks_until_the_reset_timeout_then_lets_a_probe_through(clock: ManualClock) -> None:
    breaker = opened(clock, reset_timeout=60.0)
    opened_at = clock()
    assert breaker.stats().next_probe_at == opened_at + 60
    clock.advance(59)
    assert breaker.allow() is None
    clock.advance(1)
    probe = breaker.allow()
    assert probe is not None
    stats = breaker.stats()
    assert (stats.state, stats.blocked_total, stats.next_probe_at, stats.probes_in_flight) == (
        State.HALF_OPEN, 1, None, 1)
    assert stats.last_state_change == clock()


async def test_half_open_lets_exactly_n_probes_through_concurrent_callers(clock: ManualClock) -> None:
    breaker = opened(clock, half_open_max_calls=3, success_threshold=3)
    clock.advance(60)
    go, all_tried, finish = asyncio.Event(), asyncio.Event(), asyncio.Event()
    tried = 0

    async def caller() -> bool:
        nonlocal tried
        await go.wait()
        permit = breaker.allow()
        tried += 1
        if tried == 50:
            all_tried.set()
        if permit is None:
            return False
        with permit:
            await finish.wait()
            permit.record(OK, 0.1)
        return True

    tasks = [asyncio.create_task(caller()) for _ in range(50)]
    go.set()
    await all_tried.wait()
    assert (breaker.stats().probes_in_flight, breaker.stats().blocked_total) == (3, 47)
    finish.set()
    assert sum(await asyncio.gather(*tasks)) == 3
    assert breaker.stats().state is State.CLOSED


def test_a_failed_probe_reopens_and_restarts_the_timer(clock: ManualClock) -> None:
    breaker = opened(clock, reset_timeout=60.0)
    clock.advance(60)
    call(breaker, FAIL)
    assert breaker.stats().state is State.OPEN
    assert breaker.stats().next_probe_at == clock() + 60
    clock.advance(59)
    assert breaker.allow() is None


def test_success_threshold_probe_successes_close_it_with_a_fresh_window(clock: ManualClock) -> None:
    breaker = opened(clock, half_open_max_calls=1, success_threshold=2)
    clock.advance(60)
    call(breaker, OK)
    assert breaker.stats().state is State.HALF_OPEN
    call(breaker, OK)
    stats = breaker.stats()
    assert (stats.state, stats.failures, stats.successes, stats.consecutive_failures) == (State.CLOSED, 0, 0, 0)


def test_ignored_outcomes_count_nothing(clock: ManualClock) -> None:
    breaker = make(clock, max_failures=2)
    for outcome in (FAIL, IGNORED, IGNORED):
        call(breaker, outcome)
    stats = breaker.stats()
    assert (stats.failures, stats.successes, stats.consecutive_failures) == (1, 0, 1)
    call(breaker, FAIL)  # ignored calls did not break the run of failures
    assert breaker.stats().state is State.OPEN


def test_an_ignored_probe_frees_its_slot_without_counting(clock: ManualClock) -> None:
    breaker = opened(clock, half_open_max_calls=1, success_threshold=1)
    clock.advance(60)
    probe = breaker.allow()
    assert probe is not None
    assert breaker.allow() is None
    probe.record(IGNORED, 0.1)
    assert breaker.stats().state is State.HALF_OPEN
    call(breaker, OK)
    assert breaker.stats().state is State.CLOSED


async def test_a_cancelled_caller_releases_its_half_open_slot(clock: ManualClock) -> None:
    breaker = opened(clock, half_open_max_calls=1)
    clock.advance(60)
    holding, never = asyncio.Event(), asyncio.Event()

    async def caller() -> None:
        permit = breaker.allow()
        assert permit is not None
        with permit:
            holding.set()
            await never.wait()
            permit.record(OK)

    task = asyncio.create_task(caller())
    await holding.wait()
    assert breaker.allow() is None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stats = breaker.stats()
    assert (stats.state, stats.probes_in_flight) == (State.HALF_OPEN, 0)
    assert breaker.allow() is not None


def test_an_error_left_unrecorded_in_the_block_releases_the_slot_uncounted(clock: ManualClock) -> None:
    breaker = opened(clock, half_open_max_calls=1)
    clock.advance(60)
    permit = breaker.allow()
    assert permit is not None
    with pytest.raises(RuntimeError), permit:
        raise RuntimeError("not classified by the caller")
    assert (breaker.stats().state, breaker.stats().probes_in_flight) == (State.HALF_OPEN, 0)


def test_a_dropped_probe_permit_releases_its_slot(clock: ManualClock) -> None:
    breaker = opened(clock, half_open_max_calls=1)
    clock.advance(60)
    breaker.allow()  # the permit is dropped at once, never recorded
    assert breaker.allow() is not None


def test_only_the_first_record_counts(clock: ManualClock) -> None:
    breaker = make(clock)
    permit = breaker.allow()
    assert isinstance(permit, Permit)
    with permit:
        permit.record(FAIL, 0.1)
        permit.record(OK, 0.1)
    assert (breaker.stats().failures, breaker.stats().successes) == (1, 0)


def test_manual_reset_closes_and_calls_admitted_before_do_not_count(clock: ManualClock) -> None:
    breaker = make(clock, max_failures=2)
    early = breaker.allow()
    assert early is not None
    call(breaker, FAIL)
    call(breaker, FAIL)
    assert breaker.stats().state is State.OPEN
    clock.advance(5)
    breaker.reset()
    early.record(FAIL, 0.1)
    stats = breaker.stats()
    assert (stats.state, stats.failures, stats.consecutive_failures, stats.last_state_change) == (
        State.CLOSED, 0, 0, clock())
    assert breaker.allow() is not None


def test_a_late_probe_result_after_the_breaker_closed_counts_nothing(clock: ManualClock) -> None:
    breaker = opened(clock, half_open_max_calls=2, success_threshold=1)
    clock.advance(60)
    first, second = breaker.allow(), breaker.allow()
    assert first is not None
    assert second is not None
    first.record(OK, 0.1)
    second.record(FAIL, 0.1)
    stats = breaker.stats()
    assert (stats.state, stats.failures) == (State.CLOSED, 0)


def test_disabled_breaker_always_allows(clock: ManualClock) -> None:
    breaker = make(clock, enabled=False, max_failures=1)
    for _ in range(20):
        call(breaker, FAIL)
    stats = breaker.stats()
    assert (stats.state, stats.failures, stats.blocked_total) == (State.CLOSED, 20, 0)


def instruments(registry: CollectorRegistry) -> dict[str, Gauge | Counter | Histogram]:
    """DESIGN's names, as receiver/metrics.py builds them."""
    p, name = ["provider"], "llm_circuit_breaker_"
    return {
        "state": Gauge(name + "state", "0 closed, 1 open, 2 half-open.", p, registry=registry),
        "failures": Counter(name + "failures_total", "Failed calls.", p, registry=registry),
        "successes": Counter(name + "successes_total", "Successful calls.", p, registry=registry),
        "blocked": Counter(name + "requests_blocked_total", "Calls refused.", p, registry=registry),
        "half_open": Counter(name + "half_open_requests_total", "Probes let through.", p, registry=registry),
        "slow_calls": Counter(name + "slow_calls_total", "Slow calls.", p, registry=registry),
        "state_changes": Counter(name + "state_changes_total", "Transitions.", [*p, "from", "to"], registry=registry),
        "call_duration": Histogram(name + "call_duration_seconds", "Call duration.", [*p, "result"],
                                   registry=registry),
    }


def test_metrics_follow_the_breaker_through_the_registry(clock: ManualClock) -> None:
    registry = CollectorRegistry()
    metrics = BreakerMetrics(**instruments(registry), provider="primary")  # type: ignore[arg-type]
    breaker = CircuitBreaker(BreakerConfig(max_failures=2, slow_call_duration=3.0, success_threshold=1),
                             listener=metrics, clock=clock)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value("llm_circuit_breaker_" + name, {"provider": "primary", **labels})

    assert value("state") == 0
    call(breaker, OK, 0.2)
    call(breaker, IGNORED, 0.2)
    call(breaker, FAIL, 0.5)
    call(breaker, OK, 4.0)  # slow: the second failure in a row
    assert value("state") == 1
    assert breaker.allow() is None
    clock.advance(60)
    call(breaker, OK, 0.3)
    assert value("state") == 0
    assert (value("successes_total"), value("failures_total"), value("slow_calls_total")) == (2, 2, 1)
    assert (value("requests_blocked_total"), value("half_open_requests_total")) == (1, 1)
    assert value("call_duration_seconds_count", result="success") == 2
    assert value("call_duration_seconds_count", result="failure") == 2
    assert value("call_duration_seconds_sum", result="failure") == pytest.approx(4.5)
    for old, new in (("closed", "open"), ("open", "half_open"), ("half_open", "closed")):
        assert value("state_changes_total", **{"from": old, "to": new}) == 1
