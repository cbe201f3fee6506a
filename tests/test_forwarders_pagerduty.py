"""The pagerduty forwarder beyond the contract: texts, severity, resolve, limits, failures, config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import aiohttp
import orjson
import pytest

from receiver.config import loads
from receiver.errors import ConfigError, PermanentDelivery, Reason, RetryableDelivery
from receiver.forwarders import Forwarder, build
from receiver.forwarders.http import Deps
from receiver.forwarders.pagerduty import EVENT_MAX_BYTES, encode, severity
from tests.conftest import ConfigFactory
from tests.fakes import ManualClock, RecordingSink, Reply, one, plain, sent
from tests.forwarder_cases.pagerduty import ROUTING_KEY
from tests.test_forwarders_contract import enriched

Make = Callable[..., Forwarder]


@pytest.fixture
def template_errors() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def make(make_config: ConfigFactory, sink: RecordingSink, session: aiohttp.ClientSession, clock: ManualClock,
         template_errors: list[tuple[str, str]]) -> Make:
    """A pagerduty forwarder at the sink with `extra` YAML keys; template errors land in `template_errors`."""

    def build_one(extra: str = "") -> Forwarder:
        url = sink.url("/v2/enqueue")
        config = make_config(receivers=f"receivers:\n  - {{name: r, type: pagerduty, url: '{url}', "
                                       f"routing_key: {ROUTING_KEY}{extra}}}\n")
        deps = Deps(session, clock, on_template_error=lambda receiver, error: template_errors.append((receiver, error)))
        return build(config.receivers, deps)["r"]

    return build_one


async def test_default_summary_names_alert_instance_and_summary(make: Make, sink: RecordingSink) -> None:
    [event, *_] = await sent(make(), sink, plain())
    assert event["payload"]["summary"] == "HighLatency on checkout-a:8080: p99 latency above 1s"
    assert event["payload"]["severity"] == "warning"  # from the severity label
    assert "enrichment" not in event["payload"]["custom_details"]


async def test_user_templates_override_summary_and_source(make: Make, sink: RecordingSink) -> None:
    forwarder = make(", templates: {summary: '{{ severity|upper }} {{ alert.labels.service }} is slow', "
                     "source: '{{ alert.labels.service }}.prod'}")
    [event, *_] = await sent(forwarder, sink, enriched())
    assert event["payload"]["summary"] == "CRITICAL checkout is slow"
    assert event["payload"]["source"] == "checkout.prod"


async def test_a_template_failing_at_render_falls_back_and_is_reported(
        make: Make, sink: RecordingSink, template_errors: list[tuple[str, str]]) -> None:
    forwarder = make(", templates: {summary: '{{ alert.labels.team.name }}'}")
    [event, *_] = await sent(forwarder, sink, enriched())
    assert event["payload"]["summary"] == "HighLatency on checkout-a:8080: Filesystem /var is almost full"
    assert template_errors
    assert all(receiver == "r" for receiver, _ in template_errors)
    assert template_errors[0][1].startswith("templates.summary: UndefinedError")


@pytest.mark.parametrize(("ai", "label", "default", "expected"), [
    ("critical", "info", "error", "critical"),
    ("warning", "critical", "error", "warning"),
    ("info", "", "error", "info"),
    ("", "critical", "error", "critical"),
    ("", "page", "error", "critical"),
    ("", "high", "error", "error"),
    ("", "error", "warning", "error"),
    ("", "Warning ", "error", "warning"),
    ("", "minor", "error", "warning"),
    ("", "none", "error", "info"),
    ("", "sev-7", "error", "error"),
    ("", "", "info", "info"),
])
def test_severity_mapping(ai: str, label: str, default: str, expected: str) -> None:
    assert severity({"severity": ai} if ai else {}, {"severity": label} if label else {}, default) == expected


async def test_default_severity_applies_when_nothing_says_one(make: Make, sink: RecordingSink) -> None:
    notification = one(plain(), labels={"alertname": "Odd"})
    [event] = await sent(make(", default_severity: info"), sink, notification)
    assert event["payload"]["severity"] == "info"
    assert event["payload"]["summary"] == "Odd: p99 latency above 1s"
    assert event["payload"]["source"] == "http://127.0.0.1:19093"  # externalURL


async def test_resolved_alert_resolves_its_dedup_key_and_nothing_else(make: Make, sink: RecordingSink) -> None:
    notification = enriched("05-resolved-group-all.json")
    events = await sent(make(), sink, notification)
    assert events == [{"routing_key": ROUTING_KEY, "dedup_key": a.fingerprint, "event_action": "resolve"}
                      for a in notification.alerts]


async def test_mixed_notification_triggers_firing_and_resolves_resolved(make: Make, sink: RecordingSink) -> None:
    notification = enriched("04-mixed-firing-resolved.json")
    events = await sent(make(), sink, notification)
    expected = [("trigger" if a.status == "firing" else "resolve", a.fingerprint) for a in notification.alerts]
    assert [(e["event_action"], e["dedup_key"]) for e in events] == expected
    assert {"trigger", "resolve"} <= {action for action, _ in expected}


async def test_links_and_component_group_from_the_alert(make: Make, sink: RecordingSink) -> None:
    notification = one(plain(), labels={"alertname": "X", "component": "mysql", "group": "db", "class": "latency"},
                       annotations={"summary": "s", "runbook_url": "https://runbooks.example.com/x"},
                       generator_url="http://prometheus:9090/graph?g0.expr=up")
    [event] = await sent(make(), sink, notification)
    assert event["links"] == [{"href": "http://prometheus:9090/graph?g0.expr=up", "text": "Source (Prometheus)"},
                              {"href": "https://runbooks.example.com/x", "text": "Runbook"}]
    payload = event["payload"]
    assert (payload["component"], payload["group"], payload["class"]) == ("mysql", "db", "latency")


async def test_summary_is_one_line_of_at_most_1024_characters(make: Make, sink: RecordingSink) -> None:
    notification = one(plain(), annotations={"summary": "disk\n  full " + "ü" * 2000})
    [event] = await sent(make(), sink, notification)
    summary = event["payload"]["summary"]
    assert len(summary) == 1024
    assert summary.endswith("…")
    assert summary.startswith("HighLatency on checkout-a:8080: disk full üü")


def test_an_event_over_512kb_has_its_details_shortened_then_dropped() -> None:
    event = {"event_action": "trigger", "payload": {"summary": "s", "custom_details": {
        "annotations": {f"a{i}": "x" * 5000 for i in range(200)}}}}
    data = encode(event)
    assert len(data) <= EVENT_MAX_BYTES
    shortened = orjson.loads(data)["payload"]["custom_details"]["annotations"]
    assert len(shortened) == 200
    assert all(len(v) == 1000 and v.endswith("…") for v in shortened.values())
    event = {"event_action": "trigger", "payload": {"summary": "s", "custom_details": {
        "annotations": {f"a{i}": "x" for i in range(60_000)}}}}
    data = encode(event)
    assert len(data) <= EVENT_MAX_BYTES
    assert list(orjson.loads(data)["payload"]["custom_details"]) == ["error"]


async def test_one_rejected_event_fails_the_send_after_the_others_went(make: Make, sink: RecordingSink) -> None:
    sink.script(Reply(202), Reply(400, body=b'{"status":"invalid event","message":"Event object is invalid",'
                                            b'"errors":["\'payload.source\' is missing or blank"]}'))
    with pytest.raises(PermanentDelivery) as caught:
        await make().send(enriched(), b"")
    assert len(sink.received) == 3
    assert caught.value.reason == Reason.CLIENT_ERROR
    assert caught.value.detail == ("HTTP 400: Event object is invalid ('payload.source' is missing or blank) "
                                   "(1 of 3 events failed)")


async def test_retryable_wins_over_permanent(make: Make, sink: RecordingSink) -> None:
    sink.script(Reply(400), Reply(500), Reply(202))
    with pytest.raises(RetryableDelivery) as caught:
        await make().send(enriched(), b"")
    assert len(sink.received) == 3
    assert caught.value.reason == Reason.SERVER_ERROR
    assert "2 of 3 events failed" in caught.value.detail


async def test_throttling_stops_the_round(make: Make, sink: RecordingSink) -> None:
    sink.script(Reply(202), Reply(429))
    with pytest.raises(RetryableDelivery) as caught:
        await make().send(enriched(), b"")
    assert len(sink.received) == 2  # the third would be throttled too: it goes with the retry
    assert caught.value.retry_after == 30.0


async def test_the_routing_key_is_scrubbed_from_an_echoed_error(make: Make, sink: RecordingSink) -> None:
    sink.script(Reply(400, body=orjson.dumps({"status": "invalid event", "message": "Event object is invalid",
                                              "errors": [f"unknown routing_key {ROUTING_KEY}"]})))
    with pytest.raises(PermanentDelivery) as caught:
        await make().send(one(enriched()), b"")
    assert ROUTING_KEY not in str(caught.value)
    assert "unknown routing_key <routing_key>" in caught.value.detail


def config_errors(receiver: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        loads(f"receivers:\n  - {{name: r, type: pagerduty{receiver}}}\n", {})
    return caught.value.errors


def test_routing_key_is_required() -> None:
    assert config_errors("") == ["receivers[0].routing_key: is required (or routing_key_file)"]


def test_an_unreadable_key_file_is_one_error(tmp_path: Path) -> None:
    [error] = config_errors(f", routing_key_file: {tmp_path / 'missing'}")
    assert error.startswith("receivers[0].routing_key_file: cannot read")


def test_routing_key_must_be_an_integration_key_and_is_not_echoed() -> None:
    [error] = config_errors(", routing_key: short-secret-value")
    assert error.startswith("receivers[0].routing_key: must be the 32-character integration key")
    assert "short-secret-value" not in error


def test_bad_options_are_reported_by_path() -> None:
    errors = config_errors(f", routing_key: {ROUTING_KEY}, default_severity: fatal, colour: red, "
                           "templates: {summary: '{{ oops', title: x}")
    assert "receivers[0].default_severity: must be one of critical, error, warning, info (got 'fatal')" in errors
    assert "receivers[0].colour: unknown field" in errors
    assert "receivers[0].templates.title: unknown field" in errors
    assert any(e.startswith("receivers[0].templates.summary: template does not compile") for e in errors)


def test_routing_key_file_is_read_kept_out_of_repr_and_the_default_url_is_the_events_api(tmp_path: Path) -> None:
    key_file = tmp_path / "pd-key"
    key_file.write_text(ROUTING_KEY + "\n")
    config = loads(f"receivers:\n  - {{name: r, type: pagerduty, routing_key_file: {key_file}}}\n", {})
    [receiver] = config.receivers
    assert receiver.options.routing_key == ROUTING_KEY
    assert ROUTING_KEY not in repr(receiver)
    assert receiver.url == "https://events.pagerduty.com/v2/enqueue"
