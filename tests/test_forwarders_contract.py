"""Every forwarder against a fake server speaking its destination's real request and reply shapes."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from receiver import alerts
from receiver.alerts import Alert, Notification
from receiver.classifier import Classification
from receiver.config import Config
from receiver.errors import DeliveryError, PermanentDelivery, RetryableDelivery
from receiver.forwarders import KINDS, Forwarder, build
from receiver.forwarders.http import Deps
from receiver.pipeline import annotations_for
from tests.conftest import ConfigFactory
from tests.fakes import FIXTURES, ManualClock, RecordingSink
from tests.forwarder_cases import Case, all_cases

CASES = all_cases()
IDS = [c.kind for c in CASES]
ENRICHMENT = Classification("critical", "storage", 0.9, "Filesystem /var is almost full",
                            ("df -h /var", "du -xh /var | sort -rh | head"), "rules", "rules/disk-space")


def enriched(name: str = "02-firing-group-3-alerts.json") -> Notification:
    notification = alerts.parse((FIXTURES / name).read_bytes())
    extra = annotations_for(ENRICHMENT, "ai_", ("severity", "category", "confidence", "summary",
                                                 "recommendations", "source", "model"))
    return notification.with_alerts(tuple(a.with_annotations({**a.annotations, **extra})
                                          for a in notification.alerts))


def huge() -> Notification:
    """60 alerts with long, unicode-heavy texts: more than any destination takes in one message."""
    base = enriched()
    template = base.alerts[0]
    many = tuple(
        Alert(template.status, {**template.labels, "instance": f"host-{i}"},
              {**template.annotations, "description": "ü東" * 3000, "ai_summary": f"summary {i} " + "x" * 400},
              template.starts_at, template.ends_at, template.generator_url, f"{i:016x}")
        for i in range(60)
    )
    return base.with_alerts(many)


def forwarder(case: Case, config: Config, session: aiohttp.ClientSession, clock: ManualClock) -> Forwarder:
    return build(config.receivers, Deps(session, clock))["r"]


@pytest.fixture(params=CASES, ids=IDS)
def case(request: pytest.FixtureRequest) -> Case:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def made(case: Case, make_config: ConfigFactory, sink: RecordingSink, session: aiohttp.ClientSession,
         clock: ManualClock) -> Forwarder:
    base = sink.url("").rstrip("/")
    return forwarder(case, make_config(receivers=f"receivers:\n  - {case.receiver(base)}\n"), session, clock)


def test_every_kind_has_a_contract_case() -> None:
    assert sorted(KINDS) == sorted(IDS)


async def test_delivers_in_the_destinations_shape(case: Case, made: Forwarder, sink: RecordingSink) -> None:
    sink.script(case.ok)
    notification = enriched()
    await made.send(notification, notification.to_json())
    case.check_request(sink.received, notification)


async def test_resolved_notification_is_delivered(case: Case, made: Forwarder, sink: RecordingSink) -> None:
    notification = enriched("05-resolved-group-all.json")
    await made.send(notification, notification.to_json())
    assert sink.received


async def test_retryable_replies_ask_for_another_attempt(case: Case, made: Forwarder, sink: RecordingSink) -> None:
    notification = enriched()
    for reply, retry_after in case.retryable:
        sink.received.clear()
        sink.script(reply)
        with pytest.raises(RetryableDelivery) as caught:
            await made.send(notification, notification.to_json())
        assert caught.value.retry_after == retry_after, reply


async def test_permanent_replies_are_not_retried(case: Case, made: Forwarder, sink: RecordingSink) -> None:
    notification = enriched()
    for reply in case.permanent:
        sink.script(reply)
        with pytest.raises(PermanentDelivery):
            await made.send(notification, notification.to_json())


async def test_a_2xx_that_says_it_failed_is_a_failure(case: Case, made: Forwarder, sink: RecordingSink) -> None:
    if not case.failing_ok:
        pytest.skip(f"{case.kind}: its API has no failures inside a 2xx")
    notification = enriched()
    for reply in case.failing_ok:
        sink.script(reply)
        with pytest.raises(DeliveryError):
            await made.send(notification, notification.to_json())


async def test_oversize_content_stays_within_the_destinations_limits(
        case: Case, made: Forwarder, sink: RecordingSink) -> None:
    notification = huge()
    await made.send(notification, notification.to_json())
    assert sink.received
    case.check_limits(sink.received)


async def test_secrets_never_reach_errors_or_logs(case: Case, made: Forwarder, sink: RecordingSink,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    notification = enriched()
    texts = []
    for reply in [r for r, _ in case.retryable] + case.permanent + case.failing_ok:
        sink.script(reply)
        with pytest.raises(DeliveryError) as caught:
            await made.send(notification, notification.to_json())
        texts.append(str(caught.value))
    texts.append(caplog.text)
    for secret in case.secrets:
        assert all(secret not in text for text in texts), case.kind


async def test_unreachable_destination_is_retryable(case: Case, make_config: ConfigFactory,
                                                    session: aiohttp.ClientSession, clock: ManualClock) -> None:
    made = forwarder(case, make_config(receivers=f"receivers:\n  - {case.receiver('http://127.0.0.1:9')}\n"),
                     session, clock)
    notification = enriched()
    with pytest.raises(RetryableDelivery) as caught:
        await made.send(notification, notification.to_json())
    assert all(secret not in str(caught.value) for secret in case.secrets)
