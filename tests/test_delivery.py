"""The delivery worker against a real outbox file and real downstream HTTP servers, on a manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import orjson
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from receiver import forwarders
from receiver.app import build_enricher
from receiver.config import Config
from receiver.delivery import DeliveryWorker, backoff
from receiver.forwarders.http import Deps
from receiver.metrics import Metrics
from receiver.outbox.sqlite import SqliteOutbox
from receiver.routing import Router
from tests.conftest import ConfigFactory, SinkFactory
from tests.fakes import FIXTURES, ManualClock, RecordingSink, Reply

BODY = (FIXTURES / "01-firing-single.json").read_bytes()

Parts = tuple[DeliveryWorker, SqliteOutbox, Metrics]
Build = Callable[[Config], Awaitable[Parts]]


@pytest.fixture
async def build(session: aiohttp.ClientSession, clock: ManualClock) -> AsyncIterator[Build]:
    """Builds a worker on a real outbox file, real forwarders and the manual clock (no jitter)."""
    opened: list[SqliteOutbox] = []

    async def make(config: Config) -> Parts:
        metrics = Metrics.create(CollectorRegistry())
        outbox = SqliteOutbox(config.outbox, clock=clock)
        await outbox.open()
        opened.append(outbox)
        worker = DeliveryWorker(
            outbox, build_enricher(config, metrics), Router(config.routes, config.default_receiver),
            forwarders.build(config.receivers, Deps(session, clock)), config.receivers, config.delivery, metrics,
            clock=clock, rand=lambda: 0.0,
        )
        return worker, outbox, metrics

    yield make
    for outbox in opened:
        await outbox.close()


def two_receivers(a: str, b: str) -> str:
    return (f"receivers:\n  - {{name: a, type: webhook, url: '{a}'}}\n  - {{name: b, type: webhook, url: '{b}'}}\n"
            "routes:\n  - {matchers: ['alertname=~\".+\"'], receivers: [a, b]}\n")


async def test_delivers_enriched_notification(build: Build, make_config: ConfigFactory, sink: RecordingSink) -> None:
    """A stored notification reaches the receiver with ai_* annotations, labels unchanged, then leaves the outbox."""
    worker, outbox, metrics = await build(make_config(url=sink.url("/hook")))
    await outbox.put(BODY)
    await worker.drain()
    [got] = sink.received
    sent, alert = orjson.loads(BODY)["alerts"][0], got.json()["alerts"][0]
    assert alert["labels"] == sent["labels"]
    assert alert["annotations"]["ai_source"] == "rules"
    assert (await outbox.stats()).depth == 0
    assert metrics.registry.get_sample_value(
        "amtriage_notifications_total", {"receiver": "sink", "integration": "webhook"}) == 1


async def test_retry_after_is_honoured(build: Build, make_config: ConfigFactory, sink: RecordingSink,
                                       clock: ManualClock) -> None:
    """A 429 with Retry-After: 120 is not tried again before 120 s have passed on the clock, and then it is."""
    sink.script(Reply(429, {"Retry-After": "120"}))
    worker, outbox, metrics = await build(make_config(url=sink.url("/hook")))
    await outbox.put(BODY)
    await worker.drain()
    assert len(sink.received) == 1
    clock.advance(119)
    await worker.drain()
    assert len(sink.received) == 1
    clock.advance(1)
    await worker.drain()
    assert len(sink.received) == 2
    assert sink.received[0].body == sink.received[1].body
    assert (await outbox.stats()).depth == 0
    assert metrics.registry.get_sample_value(
        "amtriage_notifications_failed_total",
        {"receiver": "sink", "integration": "webhook", "reason": "rate_limit"}) == 1


async def test_retry_after_as_http_date(build: Build, make_config: ConfigFactory, sink: RecordingSink,
                                        clock: ManualClock) -> None:
    from email.utils import formatdate

    sink.script(Reply(503, {"Retry-After": formatdate(clock() + 300, usegmt=True)}))
    worker, outbox, _ = await build(make_config(url=sink.url("/hook")))
    await outbox.put(BODY)
    await worker.drain()
    clock.advance(299)
    await worker.drain()
    assert len(sink.received) == 1
    clock.advance(1)
    await worker.drain()
    assert len(sink.received) == 2


async def test_server_errors_back_off_then_dead_letter(build: Build, make_config: ConfigFactory, sink: RecordingSink,
                                                        clock: ManualClock) -> None:
    """5xx is retried on a doubling backoff until max_attempts, then kept as a dead letter (not dropped)."""
    sink.script(*[Reply(503)] * 3)
    config = make_config(url=sink.url("/hook"),
                         extra="delivery: {max_attempts: 3, initial_backoff: 10s, max_backoff: 1h}\n")
    worker, outbox, _ = await build(config)
    await outbox.put(BODY)
    for wait in (0, 10, 20):
        clock.advance(wait)
        await worker.drain()
    assert len(sink.received) == 3
    stats = await outbox.stats()
    assert (stats.depth, stats.dead) == (0, 1)
    [dead] = await outbox.jobs("dead")
    assert (dead.receiver, dead.attempts, dead.last_error) == ("sink", 3, "server_error: HTTP 503")


async def test_client_error_is_not_retried(build: Build, make_config: ConfigFactory, sink: RecordingSink,
                                           clock: ManualClock) -> None:
    sink.script(Reply(400))
    worker, outbox, _ = await build(make_config(url=sink.url("/hook")))
    await outbox.put(BODY)
    await worker.drain()
    clock.advance(3600)
    await worker.drain()
    assert len(sink.received) == 1
    assert (await outbox.stats()).dead == 1


async def test_unreachable_receiver_is_retried(build: Build, make_config: ConfigFactory, clock: ManualClock) -> None:
    worker, outbox, metrics = await build(make_config(url="http://127.0.0.1:9/hook"))
    await outbox.put(BODY)
    await worker.drain()
    [job] = await outbox.jobs()
    assert (job.state, job.attempts, job.receiver, job.enriched) == ("pending", 1, "sink", True)
    assert metrics.registry.get_sample_value(
        "amtriage_notifications_failed_total",
        {"receiver": "sink", "integration": "webhook", "reason": "network_error"}) == 1


async def test_a_receiver_that_is_down_does_not_resend_to_the_others(
        build: Build, make_config: ConfigFactory, sink: RecordingSink, clock: ManualClock,
        another_sink: SinkFactory) -> None:
    """Receiver b fails; only b is retried, so a is paged exactly once."""
    down = await another_sink()
    down.script(Reply(500))
    config = make_config(receivers=two_receivers(sink.url("/a"), down.url("/b")))
    worker, outbox, _ = await build(config)
    await outbox.put(BODY)
    await worker.drain()
    clock.advance(60)
    await worker.drain()
    assert len(sink.received) == 1
    assert len(down.received) == 2
    assert down.received[0].body == down.received[1].body
    assert (await outbox.stats()).depth == 0


async def test_webhook_to_named_receiver_skips_routing(
        build: Build, make_config: ConfigFactory, sink: RecordingSink, another_sink: SinkFactory) -> None:
    other = await another_sink()
    config = make_config(receivers=two_receivers(sink.url("/a"), other.url("/b")))
    worker, outbox, _ = await build(config)
    await outbox.put(BODY, "b")
    await worker.drain()
    assert (len(sink.received), len(other.received)) == (0, 1)


async def test_transparent_mode_forwards_the_bytes_received(build: Build, make_config: ConfigFactory,
                                                            sink: RecordingSink) -> None:
    raw = (FIXTURES / "06-firing-rich-labels-unicode.raw-body.json").read_bytes()
    config = make_config(url=sink.url("/hook"), extra="enrichment: {mode: transparent}\n")
    worker, outbox, _ = await build(config)
    await outbox.put(raw)
    await worker.drain()
    assert sink.received[0].body == raw


async def test_send_resolved_false_drops_resolved_alerts(build: Build, make_config: ConfigFactory,
                                                         sink: RecordingSink) -> None:
    receivers = f"receivers:\n  - {{name: sink, url: '{sink.url('/hook')}', send_resolved: false}}\n"
    worker, outbox, _ = await build(make_config(receivers=receivers))
    await outbox.put((FIXTURES / "03-resolved-single.json").read_bytes())
    await outbox.put((FIXTURES / "04-mixed-firing-resolved.json").read_bytes())
    await worker.drain()
    [got] = sink.received
    assert {a["status"] for a in got.json()["alerts"]} == {"firing"}
    assert len(got.json()["alerts"]) == 2


async def test_unknown_receiver_becomes_a_dead_letter(
        build: Build, make_config: ConfigFactory, sink: RecordingSink) -> None:
    """A job for a receiver that is no longer configured is kept, not dropped."""
    worker, outbox, _ = await build(make_config(url=sink.url("/hook")))
    await outbox.put(BODY, "gone")
    await worker.drain()
    [dead] = await outbox.jobs("dead")
    assert dead.receiver == "gone"


@pytest.mark.parametrize(("attempt", "jitter", "expected"), [
    (1, 0.0, 1.0), (2, 0.0, 2.0), (3, 0.0, 4.0), (20, 0.0, 300.0), (3, 0.999999, 2.000002),
])
def test_backoff_doubles_is_capped_and_jittered(attempt: int, jitter: float, expected: float) -> None:
    assert backoff(attempt, initial=1, maximum=300, jitter=jitter) == pytest.approx(expected)



async def test_ha_pair_duplicate_pages_once(build: Build, make_config: ConfigFactory, sink: RecordingSink) -> None:
    """Both Alertmanagers of an HA pair send the same notification: the receiver gets it once."""
    worker, outbox, metrics = await build(make_config(url=sink.url()))
    await outbox.put(BODY)
    await outbox.put(BODY)
    await worker.drain()
    assert len(sink.received) == 1
    assert metrics.registry.get_sample_value(
        "amtriage_deduplicated_total", {"receiver": "sink", "reason": "duplicate"}) == 1


async def test_stale_firing_after_resolved_is_not_forwarded(
        build: Build, make_config: ConfigFactory, sink: RecordingSink, clock: ManualClock) -> None:
    """A peer that missed the resolve sends the old firing again: it is not paged as new."""
    worker, outbox, metrics = await build(make_config(url=sink.url()))
    for name in ("01-firing-single.json", "03-resolved-single.json", "01-firing-single.json"):
        await outbox.put((FIXTURES / name).read_bytes())
        clock.advance(600)
        await worker.drain()
    assert [r.json()["alerts"][0]["status"] for r in sink.received] == ["firing", "resolved"]
    assert metrics.registry.get_sample_value(
        "amtriage_deduplicated_total", {"receiver": "sink", "reason": "stale"}) == 1


async def test_reminder_after_the_window_is_forwarded(
        build: Build, make_config: ConfigFactory, sink: RecordingSink, clock: ManualClock) -> None:
    """Alertmanager's repeat_interval reminder comes long after the dedup window: it goes out."""
    worker, outbox, _ = await build(make_config(url=sink.url(), extra="delivery: {dedup_window: 5m}\n"))
    await outbox.put(BODY)
    await worker.drain()
    clock.advance(299)
    await outbox.put(BODY)
    await worker.drain()
    clock.advance(3600)
    await outbox.put(BODY)
    await worker.drain()
    assert len(sink.received) == 2


async def test_new_event_of_the_same_alert_is_fresh(build: Build, make_config: ConfigFactory,
                                                    sink: RecordingSink) -> None:
    """The same alert firing again later (a new startsAt) is a new event, even after its resolve."""
    worker, outbox, _ = await build(make_config(url=sink.url()))
    again = orjson.loads(BODY)
    again["alerts"][0]["startsAt"] = "2026-12-01T10:00:00Z"
    for body in (BODY, (FIXTURES / "03-resolved-single.json").read_bytes(), orjson.dumps(again)):
        await outbox.put(body)
        await worker.drain()
    assert len(sink.received) == 3


async def test_dedup_window_zero_turns_it_off(build: Build, make_config: ConfigFactory, sink: RecordingSink) -> None:
    worker, outbox, _ = await build(make_config(url=sink.url(), extra="delivery: {dedup_window: 0s}\n"))
    await outbox.put(BODY)
    await outbox.put(BODY)
    await worker.drain()
    assert len(sink.received) == 2


class Switchable(RecordingSink):
    """A receiver that answers `status_while_down` until it is brought back up."""

    def __init__(self, status_while_down: int = 503) -> None:
        super().__init__()
        self.down = True
        self.status_while_down = status_while_down

    async def handle(self, request: web.Request) -> web.Response:
        if self.down:
            await request.read()
            self.attempts = getattr(self, "attempts", 0) + 1
            return web.Response(status=self.status_while_down)
        return await super().handle(request)


def events(sink: RecordingSink) -> list[tuple[str, str, str, str]]:
    """(group, fingerprint, startsAt, status) of every alert the sink got, in arrival order."""
    return [(r.json()["groupKey"], a["fingerprint"], a["startsAt"], a["status"])
            for r in sink.received for a in r.json()["alerts"]]


SEQUENCE = ["01-firing-single.json", "02-firing-group-3-alerts.json", "04-mixed-firing-resolved.json",
            "03-resolved-single.json", "05-resolved-group-all.json"]


async def test_one_receiver_down_delays_only_itself_and_catches_up_in_order(
        build: Build, make_config: ConfigFactory, another_sink: SinkFactory, clock: ManualClock) -> None:
    """Three receivers, one down for a while: the two others get every alert at once; the third gets all of
    them once it is back, in order within each group, and no alert event twice anywhere."""
    a, b = await another_sink(), await another_sink()
    c = Switchable()
    await c.start()
    try:
        receivers = ("receivers:\n" + "".join(f"  - {{name: {n}, url: '{s.url()}'}}\n" for n, s in
                                              (("a", a), ("b", b), ("c", c)))
                     + "routes:\n  - {matchers: ['alertname=~\".+\"'], receivers: [a, b, c]}\n")
        worker, outbox, _ = await build(make_config(receivers=receivers, extra="delivery: {max_attempts: 50}\n"))
        for name in SEQUENCE:
            await outbox.put((FIXTURES / name).read_bytes())
            await worker.drain()
            clock.advance(1)
        assert events(a) == events(b)
        # 01: 1, 02: 3, 04: only checkout-b's resolve is new, 03: 1, 05: 3 (checkout-b re-fired, so its
        # resolve in 05 is a new event with a new startsAt; the other two are resolves not yet sent)
        assert len(events(a)) == len(set(events(a))) == 9
        assert c.received == []
        for _ in range(3):  # still down: only the head of each group is retried, the rest wait behind it
            clock.advance(600)
            before = c.attempts
            await worker.drain()
            assert c.attempts - before == 2
        c.down = False
        for _ in range(10):
            clock.advance(600)
            await worker.drain()
        assert events(c) == events(a)
        assert (await outbox.stats()).depth == 0
    finally:
        await c.close()


async def test_permanently_failing_receiver_ends_in_dead_letters_and_replay_delivers_once(
        build: Build, make_config: ConfigFactory, clock: ManualClock) -> None:
    d = Switchable(status_while_down=400)
    await d.start()
    try:
        worker, outbox, _ = await build(make_config(url=d.url()))
        await outbox.put(BODY)
        await worker.drain()
        [dead] = await outbox.jobs("dead")
        assert dead.last_error == "client_error: HTTP 400"
        d.down = False
        assert await outbox.replay(receiver="sink") == 1
        await worker.drain()
        clock.advance(3600)
        await worker.drain()
        assert len(d.received) == 1
        assert orjson.loads(d.received[0].body)["alerts"][0]["labels"] == orjson.loads(BODY)["alerts"][0]["labels"]
        assert (await outbox.stats()).dead == 0
    finally:
        await d.close()
