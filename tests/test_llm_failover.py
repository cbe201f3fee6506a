"""Failover end to end: two fake OpenAI servers, the real client, breaker, outbox, worker and a receiver.

The first provider goes down (500s) and its breaker opens while the second answers; then both are down and
the alerts go out classified by the rules; then the first recovers and its half-open probe closes the breaker.
The breaker and the LLM client run on a manual clock; retries and probes never wait for real.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from prometheus_client import CollectorRegistry

from receiver import forwarders
from receiver.app import LLMState, build_enricher, build_llm
from receiver.config import Config
from receiver.delivery import DeliveryWorker
from receiver.forwarders.http import Deps
from receiver.metrics import Metrics
from receiver.outbox.sqlite import SqliteOutbox
from receiver.routing import Router
from tests.conftest import ConfigFactory
from tests.fakes import FIXTURES, ManualClock, RecordingSink
from tests.llm_fakes import KEY, OpenAIFake, fail, ok, slow

BODY = orjson.loads((FIXTURES / "01-firing-single.json").read_bytes())


def provider(name: str, fake: OpenAIFake, priority: int) -> str:
    return (f"    - {{name: {name}, type: openai, model: {fake.model}, api_key: {KEY}, base_url: '{fake.base_url()}',"
            f" priority: {priority}, max_retries: 0, circuit_breaker: {{max_failures: 2, reset_timeout: 30s,"
            " half_open_max_calls: 1, success_threshold: 1}}\n")


class Harness:
    def __init__(self, config: Config, session: aiohttp.ClientSession, clock: ManualClock) -> None:
        self.config, self.session, self.clock = config, session, clock
        self.metrics = Metrics.create(CollectorRegistry())
        self.outbox = SqliteOutbox(config.outbox, clock=clock)
        self.sleeps: list[float] = []
        self.sent = 0

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.advance(seconds)

    async def start(self) -> None:
        await self.outbox.open()
        enricher = build_enricher(self.config, self.metrics)
        enricher.llm = build_llm(self.config, self.session, self.metrics, LLMState.create(self.config),
                                 clock=self.clock, sleep=self.sleep)
        self.worker = DeliveryWorker(
            self.outbox, enricher, Router(self.config.routes, self.config.default_receiver),
            forwarders.build(self.config.receivers, Deps(self.session, self.clock)), self.config.receivers,
            self.config.delivery, self.metrics, clock=self.clock)

    async def notify(self) -> None:
        """A new firing of the alert (its own startsAt, so it is a new event, not a duplicate)."""
        self.sent += 1
        body = {**BODY, "alerts": [{**BODY["alerts"][0], "startsAt": f"2026-12-01T10:00:{self.sent:02d}Z"}]}
        await self.outbox.put(orjson.dumps(body))
        await self.worker.drain()

    def sample(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[OpenAIFake, OpenAIFake]]:
    first, second = OpenAIFake(model="gpt-4o-mini"), OpenAIFake(model="gpt-4o")
    await first.start()
    await second.start()
    yield first, second
    await first.close()
    await second.close()


@pytest.fixture
async def harness(fakes: tuple[OpenAIFake, OpenAIFake], make_config: ConfigFactory, sink: RecordingSink,
                  clock: ManualClock) -> AsyncIterator[Harness]:
    first, second = fakes
    extra = ("llm:\n  enabled: true\n  providers:\n" + provider("primary", first, 0) + provider("backup", second, 1)
             + "cache: {enabled: false}\nenrichment: {deadline: 10s}\n")
    async with aiohttp.ClientSession() as session:
        h = Harness(make_config(url=sink.url(), extra=extra), session, clock)
        await h.start()
        yield h
        await h.outbox.close()


def annotations(sink: RecordingSink, index: int) -> dict[str, Any]:
    return sink.received[index].json()["alerts"][0]["annotations"]  # type: ignore[no-any-return]


async def test_failover_then_rules_then_recovery(harness: Harness, fakes: tuple[OpenAIFake, OpenAIFake],
                                                 sink: RecordingSink, clock: ManualClock) -> None:
    first, second = fakes
    first.script(fail(500), fail(500))
    for _ in range(3):  # two 500s open the primary's breaker; the third call does not even reach it
        await harness.notify()
    assert [annotations(sink, i)["ai_model"] for i in range(3)] == ["openai/gpt-4o-2024-07-18"] * 3
    assert len(first.seen) == 2
    assert harness.sample("llm_circuit_breaker_state", provider="primary") == 1
    assert harness.sample("llm_client_requests_total", provider="primary", status="error") == 2
    assert harness.sample("llm_client_requests_total", provider="primary", status="circuit_open") == 1
    assert harness.sample("llm_client_requests_total", provider="backup", status="success") == 3
    assert harness.sample("llm_client_errors_total", provider="primary", error_type="server_error") == 2
    assert harness.sample("llm_tokens_total", provider="backup", model="gpt-4o-2024-07-18", kind="input") == 3 * 123

    second.script(fail(503), fail(503))  # both down now: the rules classify, and the alert still goes out
    await harness.notify()
    rules = annotations(sink, 3)
    assert (rules["ai_source"], rules["ai_model"]) == ("rules", "rules/disk-space")
    assert harness.sample("amtriage_enrichment_total", source="rules", reason="server_error") == 1
    assert harness.sample("llm_client_requests_total", provider="primary", status="fallback") == 1

    clock.advance(30)  # the primary's reset_timeout: one probe goes through, succeeds, and closes the breaker
    first.script(ok())
    await harness.notify()
    assert annotations(sink, 4)["ai_model"] == "openai/gpt-4o-mini-2024-07-18"
    assert harness.sample("llm_circuit_breaker_state", provider="primary") == 0
    for old, new in (("closed", "open"), ("open", "half_open"), ("half_open", "closed")):
        assert harness.sample("llm_circuit_breaker_state_changes_total", provider="primary",
                              **{"from": old, "to": new}) == 1
    assert harness.sample("llm_circuit_breaker_half_open_requests_total", provider="primary") == 1
    assert harness.sample("amtriage_enrichment_total", source="llm", reason="") == 4
    assert len(sink.received) == 5


async def test_a_hanging_provider_costs_at_most_the_enrichment_deadline(
        fakes: tuple[OpenAIFake, OpenAIFake], make_config: ConfigFactory, sink: RecordingSink,
        clock: ManualClock) -> None:
    """Both providers hang: at the enrichment deadline the alert is classified by the rules and sent."""
    first, second = fakes
    first.script(slow())
    second.script(slow())
    extra = ("llm:\n  enabled: true\n  providers:\n" + provider("primary", first, 0) + provider("backup", second, 1)
             + "cache: {enabled: false}\nenrichment: {deadline: 200ms}\n")
    async with aiohttp.ClientSession() as session:
        h = Harness(make_config(url=sink.url(), extra=extra), session, clock)
        await h.start()
        await h.notify()
        await h.outbox.close()
    got = annotations(sink, 0)
    assert got["ai_source"] == "rules"
    assert h.sample("amtriage_enrichment_total", source="rules", reason="timeout") == 1


async def test_one_rule_in_context_costs_one_call_and_repeats_come_from_the_cache(
        fakes: tuple[OpenAIFake, OpenAIFake], make_config: ConfigFactory, sink: RecordingSink,
        clock: ManualClock) -> None:
    """Three instances of one alert rule are one LLM call; each renders its own summary; a repeat is free."""
    first, _ = fakes
    first.script(ok('{"severity": "warning", "category": "latency", "confidence": 0.8, "summary": "p99 latency '
                    'high on {{ $labels.instance }}", "recommendations": ["check {{ $labels.instance }}"]}'))
    extra = "llm:\n  enabled: true\n  providers:\n" + provider("primary", first, 0)
    async with aiohttp.ClientSession() as session:
        h = Harness(make_config(url=sink.url(), extra=extra), session, clock)
        await h.start()
        group = orjson.loads((FIXTURES / "02-firing-group-3-alerts.json").read_bytes())
        await h.outbox.put(orjson.dumps(group))
        await h.worker.drain()
        group["alerts"] = [{**a, "startsAt": "2026-12-01T11:00:00Z"} for a in group["alerts"]]
        await h.outbox.put(orjson.dumps(group))  # the same rule firing again later: answered from the cache
        await h.worker.drain()
        await h.outbox.close()
    assert len(first.seen) == 1
    first_round, second_round = (r.json()["alerts"] for r in sink.received)
    assert [a["annotations"]["ai_summary"] for a in first_round] == [
        f"p99 latency high on checkout-{x}:8080" for x in "abc"]
    assert {a["annotations"]["ai_source"] for a in first_round} == {"llm"}
    assert {a["annotations"]["ai_source"] for a in second_round} == {"cache"}
    assert [a["annotations"]["ai_summary"] for a in second_round] == [a["annotations"]["ai_summary"]
                                                                      for a in first_round]
