"""The LLM client: providers in priority order, each behind its breaker, rate limit and the budget.

`complete(request, deadline)` tries the providers by `priority` (equal priority: a weighted draw
by `weight`), skipping one whose breaker is open, whose rate limit would not free up before the
deadline, or when the budget is spent; a provider that fails (after its own retries, which never
wait past the deadline) hands over to the next. When none answers it raises the last LLMError
and the caller falls back to the rules. Every step is counted under the metric names LLM-client
dashboards chart (`llm_client_*`, `llm_circuit_breaker_*`, `llm_tokens_total`, `llm_cost_usd_total`).

    client = LLMClient.build(config.llm, ProviderDeps(session), metrics.llm, Budget(config.llm.budget))
    reply, slot = await client.complete(request, deadline=clock() + 10)
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from receiver.config import LLMConfig, ProviderConfig
from receiver.errors import LLMError, ProviderError, Reason
from receiver.llm import Provider, ProviderDeps, Reply, Request, kinds
from receiver.llm.breaker import BreakerMetrics, CallOutcome, CircuitBreaker
from receiver.llm.cost import Budget, Price, price
from receiver.llm.http import call_with_retry
from receiver.llm.ratelimit import ConcurrencyCap, RateLimiter
from receiver.metrics import LLMMetrics


@dataclass(frozen=True)
class Slot:
    """One configured provider with everything that guards it."""

    config: ProviderConfig
    provider: Provider
    breaker: CircuitBreaker
    limiter: RateLimiter
    cap: ConcurrencyCap | None
    price: Price

    @property
    def name(self) -> str:
        return self.config.name


def build_slot(config: ProviderConfig, deps: ProviderDeps, metrics: LLMMetrics, llm: LLMConfig) -> Slot:
    listener = BreakerMetrics(
        state=metrics.breaker_state, failures=metrics.breaker_failures, successes=metrics.breaker_successes,
        blocked=metrics.breaker_blocked, half_open=metrics.breaker_half_open, slow_calls=metrics.breaker_slow_calls,
        state_changes=metrics.breaker_state_changes, call_duration=metrics.breaker_call_duration,
        provider=config.name)
    breaker = CircuitBreaker(config.circuit_breaker, listener=listener, clock=deps.clock,
                             min_calls=config.circuit_breaker.min_calls)
    limiter = RateLimiter.from_config(config.rate_limit, tokens_per_minute=config.rate_limit.tokens_per_minute,
                                      tenant=llm.per_receiver, clock=deps.clock, sleep=deps.sleep)
    cap = ConcurrencyCap(config.rate_limit.max_concurrency, clock=deps.clock) if config.rate_limit.max_concurrency \
        else None
    provider = kinds()[config.type](config, deps)
    return Slot(config, provider, breaker, limiter, cap, price(config.model, config.pricing))


class LLMClient:
    """Failover across providers; see the module docstring."""

    def __init__(self, slots: Sequence[Slot], budget: Budget, metrics: LLMMetrics, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 rand: Callable[[], float] = random.random) -> None:
        self.slots = tuple(slots)
        self.budget = budget
        self.metrics = metrics
        self.clock = clock
        self.sleep = sleep
        self.rand = rand
        self.by_name = {s.name: s for s in self.slots}
        self._publish_budget()

    @classmethod
    def build(cls, config: LLMConfig, deps: ProviderDeps, metrics: LLMMetrics, budget: Budget) -> LLMClient:
        slots = [build_slot(p, deps, metrics, config) for p in config.providers]
        return cls(slots, budget, metrics, clock=deps.clock, sleep=deps.sleep)

    def order(self) -> list[Slot]:
        """By priority; within one priority a weighted random order (weight 0: only as a last resort)."""
        keyed = [(s.config.priority, -(self.rand() ** (1 / s.config.weight)) if s.config.weight > 0 else 1.0, i, s)
                 for i, s in enumerate(self.slots)]
        return [s for *_, s in sorted(keyed, key=lambda k: k[:3])]

    async def complete(self, request: Request, *, deadline: float, tenant: str | None = None) -> tuple[Reply, Slot]:
        last: LLMError = LLMError(Reason.OTHER, "no LLM provider is configured")
        for slot in self.order():
            try:
                return await self._try(slot, request, deadline, tenant), slot
            except LLMError as exc:
                last = exc
        if self.slots:
            self.metrics.requests.labels(self.slots[0].name, "fallback").inc()
        raise last

    async def _try(self, slot: Slot, request: Request, deadline: float, tenant: str | None) -> Reply:
        if not self.budget.allows():
            self.metrics.requests.labels(slot.name, "fallback").inc()
            raise LLMError(Reason.BUDGET, "the LLM budget is spent")
        permit = slot.breaker.allow()
        if permit is None:
            self.metrics.requests.labels(slot.name, "circuit_open").inc()
            raise LLMError(Reason.CIRCUIT_OPEN, f"{slot.name}: circuit open")
        with permit:
            if not await slot.limiter.acquire(deadline, tenant=tenant):
                self.metrics.requests.labels(slot.name, "rate_limited").inc()
                permit.record(CallOutcome.IGNORED)
                raise LLMError(Reason.RATE_LIMIT, f"{slot.name}: rate limited")
            if slot.cap is not None and not await slot.cap.acquire(deadline):
                self.metrics.requests.labels(slot.name, "rate_limited").inc()
                permit.record(CallOutcome.IGNORED)
                raise LLMError(Reason.RATE_LIMIT, f"{slot.name}: too many calls in flight")
            try:
                reply = await self._call(slot, request, deadline)
            except ProviderError as exc:
                permit.record(CallOutcome.FAILURE)
                self.metrics.requests.labels(slot.name, "error").inc()
                self.metrics.errors.labels(slot.name, exc.reason).inc()
                raise
            finally:
                if slot.cap is not None:
                    slot.cap.release()
            permit.record(CallOutcome.SUCCESS)
        self._account(slot, reply)
        return reply

    async def _call(self, slot: Slot, request: Request, deadline: float) -> Reply:
        config, started = slot.config, self.clock()
        try:
            return await call_with_retry(lambda: slot.provider.complete(request), max_retries=config.max_retries,
                                         delay=config.retry_delay, backoff=config.retry_backoff, deadline=deadline,
                                         clock=self.clock, sleep=self.sleep, rand=self.rand)
        finally:
            self.metrics.request_duration.labels(slot.name).observe(max(0.0, self.clock() - started))

    def _account(self, slot: Slot, reply: Reply) -> None:
        model = reply.model or slot.config.model
        self.metrics.requests.labels(slot.name, "success").inc()
        self.metrics.tokens.labels(slot.name, model, "input").inc(reply.usage.input_tokens)
        self.metrics.tokens.labels(slot.name, model, "output").inc(reply.usage.output_tokens)
        cost = slot.price.of(reply.usage.input_tokens, reply.usage.output_tokens)
        self.metrics.cost.labels(slot.name, model).inc(cost)
        self.budget.spend(cost)
        self._publish_budget()

    def _publish_budget(self) -> None:
        for period in ("daily", "monthly"):
            left = self.budget.remaining(period)
            if left is not None:  # a period without a cap has no series: nothing to alert on
                self.metrics.budget_remaining.labels(period).set(left)
