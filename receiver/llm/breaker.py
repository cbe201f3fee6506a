"""A circuit breaker per provider: CLOSED -> OPEN -> HALF_OPEN -> CLOSED, on an injected clock.

Opens on `max_failures` failures in a row, or a failure rate >= `failure_threshold` over the sliding `time_window`
once `min_calls` (default 10) calls are in it (kept in `buckets`, default 60, slices). A call lasting
`slow_call_duration` or more is a failure and a slow call. `reset_timeout` after opening, `allow()` goes HALF_OPEN: at
most `half_open_max_calls` probes in flight; `success_threshold` successes close it, one failure re-opens it. No
timers: the state moves in `allow()` and `record()`; `enabled: false` never opens. `IGNORED` (bad reply, budget
refusal, cancellation), an unrecorded `with permit:` exit and a dropped probe permit free the slot uncounted.

    breaker = CircuitBreaker(config.circuit_breaker, listener=BreakerMetrics(...), clock=clock)
    if (permit := breaker.allow()) is not None:     # None: open, try the next provider
        with permit:                                # left unrecorded (cancelled, raised): IGNORED
            reply = await provider.complete(request)
            permit.record(CallOutcome.SUCCESS)      # duration: the time since allow(), unless given
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Protocol

from prometheus_client import Counter, Gauge, Histogram

from receiver.config import BreakerConfig


class State(StrEnum):
    """The value is the `from`/`to` label of `llm_circuit_breaker_state_changes_total`."""
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CallOutcome(StrEnum):
    """What a call counts as, decided by the caller: `permit.record(CallOutcome.FAILURE)`."""
    SUCCESS = "success"
    FAILURE = "failure"
    IGNORED = "ignored"


_CLOSED, _OPEN, _HALF_OPEN = State  # plain names: attribute access on an enum class is slow in 3.11
_SUCCESS, _FAILURE, _IGNORED = CallOutcome


class BreakerListener(Protocol):
    """Observer of a breaker. `on_call` gets the counted outcome: a slow success arrives as FAILURE, slow."""

    def on_state_change(self, old: State, new: State) -> None: ...
    def on_call(self, outcome: CallOutcome, duration: float, slow: bool) -> None: ...
    def on_blocked(self) -> None: ...
    def on_half_open_call(self) -> None: ...


@dataclass(frozen=True, slots=True)
class BreakerStats:
    """A snapshot; window counts cover the last `time_window`. `next_probe_at` is on the breaker's clock."""

    state: State
    consecutive_failures: int
    failures: int
    successes: int
    slow_calls: int
    failure_rate: float
    blocked_total: int
    next_probe_at: float | None
    last_state_change: float
    probes_in_flight: int


class Permit:
    """One admitted call. The first `record()` counts; later ones, and `__exit__` after a record, do nothing."""

    __slots__ = ("_breaker", "_epoch", "_open", "_started")
    probe: ClassVar[bool] = False

    def __init__(self, breaker: CircuitBreaker, epoch: int, started: float) -> None:
        self._breaker, self._epoch, self._started, self._open = breaker, epoch, started, True

    def record(self, outcome: CallOutcome, duration: float | None = None) -> None:
        if self._open:
            self._open = False
            self._breaker._settle(self._epoch, self.probe, self._started, outcome, duration)

    def __enter__(self) -> Permit:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.record(_IGNORED)


class _Probe(Permit):
    __slots__ = ()
    probe = True

    def __del__(self) -> None:
        self.record(_IGNORED)


class _Window:
    """Rows of [slice index, calls, failures, slow calls] for the last `size` slices of `width` seconds."""

    def __init__(self, span: float, size: int) -> None:
        self.width, self.size = max(span, 1e-9) / size, size
        self.rows: deque[list[int]] = deque(maxlen=size)
        self.clear()

    def clear(self) -> None:
        self.rows.clear()
        self.row, self.ends = [0, 0, 0, 0], -math.inf  # the current row, and when its slice ends

    def add(self, now: float, failed: bool, slow: bool) -> None:
        if now >= self.ends:
            index = int(now // self.width)
            self.row, self.ends = [index, 0, 0, 0], (index + 1) * self.width
            self.rows.append(self.row)
        row = self.row
        row[1] += 1
        if failed:
            row[2], row[3] = row[2] + 1, row[3] + slow

    def totals(self, now: float) -> tuple[int, int, int]:
        oldest = int(now // self.width) - self.size
        live = [row for row in self.rows if row[0] > oldest]
        return sum(r[1] for r in live), sum(r[2] for r in live), sum(r[3] for r in live)


class _Silent:  # the listener of a breaker nobody watches
    on_state_change = on_call = on_blocked = on_half_open_call = staticmethod(lambda *_: None)


class CircuitBreaker:
    """One provider's breaker. `reset()` is the manual reset (POST /api/v1/breakers/{provider}/reset).

        breaker = CircuitBreaker(BreakerConfig(max_failures=3), clock=clock, min_calls=10)
        breaker.allow(), breaker.stats().state, breaker.reset()
    """

    def __init__(self, config: BreakerConfig | None = None, *, listener: BreakerListener | None = None,
                 clock: Callable[[], float] = time.monotonic, min_calls: int = 10, buckets: int = 60) -> None:
        self.config = config = config or BreakerConfig()
        self._listener: BreakerListener = listener or _Silent()
        self._clock, self._min_calls = clock, min_calls
        self._window = _Window(config.time_window, buckets)
        self._state, self._changed_at = _CLOSED, clock()
        self._epoch = self._consecutive = self._probes = self._probe_successes = self._blocked = 0

    def allow(self) -> Permit | None:
        """A permit for one call, or None (blocked: open, or every half-open probe slot taken)."""
        now = self._clock()
        if self._state is _CLOSED:
            return Permit(self, self._epoch, now)
        if self._state is _OPEN and now >= self._changed_at + self.config.reset_timeout:
            self._change(_HALF_OPEN, now)
        if self._state is _HALF_OPEN and self._probes < self.config.half_open_max_calls:
            self._probes += 1
            self._listener.on_half_open_call()
            return _Probe(self, self._epoch, now)
        self._blocked += 1
        self._listener.on_blocked()
        return None

    def reset(self) -> None:
        """Back to CLOSED with an empty window; permits given out before do not count any more."""
        self._change(_CLOSED, self._clock())

    def stats(self) -> BreakerStats:
        calls, failures, slow = self._window.totals(self._clock())
        return BreakerStats(
            state=self._state, consecutive_failures=self._consecutive, failures=failures, successes=calls - failures,
            slow_calls=slow, failure_rate=failures / calls if calls else 0.0, blocked_total=self._blocked,
            next_probe_at=self._changed_at + self.config.reset_timeout if self._state is _OPEN else None,
            last_state_change=self._changed_at, probes_in_flight=self._probes)

    def _settle(self, epoch: int, probe: bool, started: float, outcome: CallOutcome, duration: float | None) -> None:
        now = self._clock()
        duration = now - started if duration is None else duration
        slow = outcome is not _IGNORED and duration >= self.config.slow_call_duration
        if slow:
            outcome = _FAILURE
        self._listener.on_call(outcome, duration, slow)
        if epoch != self._epoch:
            return  # admitted before the last state change: it has no say in this one
        if not probe:
            if outcome is not _IGNORED:
                self._closed_call(outcome is _FAILURE, slow, now)
            return
        self._probes -= 1
        if outcome is _FAILURE:
            self._change(_OPEN, now)
        elif outcome is _SUCCESS:
            self._probe_successes += 1
            if self._probe_successes >= self.config.success_threshold:
                self._change(_CLOSED, now)

    def _closed_call(self, failed: bool, slow: bool, now: float) -> None:
        self._window.add(now, failed, slow)
        self._consecutive = self._consecutive + 1 if failed else 0
        if not failed or not self.config.enabled:
            return
        calls, failures, _ = self._window.totals(now)
        by_rate = calls >= self._min_calls and failures >= self.config.failure_threshold * calls
        if by_rate or 0 < self.config.max_failures <= self._consecutive:
            self._change(_OPEN, now)

    def _change(self, new: State, now: float) -> None:
        old, self._state = self._state, new
        self._epoch, self._probes, self._probe_successes = self._epoch + 1, 0, 0
        if new is _CLOSED:
            self._window.clear()
            self._consecutive = 0
        if old is not new:
            self._changed_at = now
            self._listener.on_state_change(old, new)


class BreakerMetrics:
    """A `BreakerListener` keeping one provider's `llm_circuit_breaker_*` metrics (instruments from metrics.py,
    labelled `provider`, plus `from`, `to` on state_changes and `result` success|failure on call_duration).

        listener = BreakerMetrics(state=m.cb_state, failures=m.cb_failures, ..., provider="primary")
    """

    def __init__(self, *, state: Gauge, failures: Counter, successes: Counter, blocked: Counter, half_open: Counter,
                 slow_calls: Counter, state_changes: Counter, call_duration: Histogram, provider: str) -> None:
        self._provider, self._changes = provider, state_changes
        self._state = state.labels(provider=provider)
        self._failures = failures.labels(provider=provider)
        self._successes = successes.labels(provider=provider)
        self.on_blocked = blocked.labels(provider=provider).inc  # the listener's two no-argument events
        self.on_half_open_call = half_open.labels(provider=provider).inc
        self._slow = slow_calls.labels(provider=provider)
        self._durations = {o: call_duration.labels(provider=provider, result=o) for o in ("success", "failure")}
        self._state.set(0)

    def on_state_change(self, old: State, new: State) -> None:
        self._state.set(list(State).index(new))  # 0 closed, 1 open, 2 half-open
        self._changes.labels(**{"provider": self._provider, "from": old, "to": new}).inc()

    def on_call(self, outcome: CallOutcome, duration: float, slow: bool) -> None:
        if outcome is _IGNORED:
            return
        self._durations[outcome].observe(duration)
        (self._successes if outcome is _SUCCESS else self._failures).inc()
        if slow:
            self._slow.inc()
