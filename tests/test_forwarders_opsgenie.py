"""The opsgenie forwarder beyond the contract: texts, priorities, close, limits, throttling, config."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp import web

from receiver.config import loads
from receiver.errors import ConfigError, PermanentDelivery, Reason, RetryableDelivery
from receiver.forwarders import Forwarder, build
from receiver.forwarders.http import Deps
from receiver.forwarders.opsgenie import fit_details
from tests.conftest import ConfigFactory
from tests.fakes import ManualClock, RecordingSink, Reply, one, plain, sent
from tests.forwarder_cases.opsgenie import API_KEY
from tests.test_forwarders_contract import enriched

Make = Callable[..., Forwarder]


class QuerySink(RecordingSink):
    """A RecordingSink that also keeps each request's query string (the close call carries one)."""

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.queries.append(request.query_string)
        return await super().handle(request)


@pytest.fixture
async def sink() -> AsyncIterator[QuerySink]:
    recording = QuerySink()
    await recording.start()
    yield recording
    await recording.close()


@pytest.fixture
def template_errors() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def make(make_config: ConfigFactory, sink: QuerySink, session: aiohttp.ClientSession, clock: ManualClock,
         template_errors: list[tuple[str, str]]) -> Make:
    """An opsgenie forwarder at the sink with `extra` YAML keys; template errors land in `template_errors`."""

    def build_one(extra: str = "") -> Forwarder:
        base = sink.url("").rstrip("/")
        config = make_config(receivers=f"receivers:\n  - {{name: r, type: opsgenie, url: '{base}/', "
                                       f"api_key: {API_KEY}{extra}}}\n")
        deps = Deps(session, clock, on_template_error=lambda receiver, error: template_errors.append((receiver, error)))
        return build(config.receivers, deps)["r"]

    return build_one


async def test_default_texts_without_enrichment(make: Make, sink: QuerySink) -> None:
    [body, *_] = await sent(make(), sink, plain())
    assert body["message"] == "HighLatency: p99 latency above 1s"
    assert body["priority"] == "P3"  # the severity label: warning
    assert body["tags"] == ["HighLatency", "severity:warning"]
    assert not any(k.startswith("ai_") for k in body["details"])
    description = body["description"]
    assert description.startswith("p99 latency above 1s\n\ncheckout-a p99 = 1.4s\n\nSeverity: warning (P3)\n")
    assert "  instance=checkout-a:8080\n" in description
    assert description.endswith("Alertmanager: http://127.0.0.1:19093")
    assert "Recommendations" not in description


async def test_default_description_carries_the_enrichment_and_links(make: Make, sink: QuerySink) -> None:
    notification = one(enriched(), generator_url="http://prometheus:9090/graph?g0.expr=up",
                       annotations={**enriched().alerts[0].annotations, "runbook_url": "https://run.example.com/x"})
    [body] = await sent(make(), sink, notification)
    description = body["description"]
    assert "Severity: critical (P1) | category: storage | confidence: 0.90\n" in description
    assert "Recommendations:\n- df -h /var\n- du -xh /var | sort -rh | head\n" in description
    assert "Source: http://prometheus:9090/graph?g0.expr=up\nRunbook: https://run.example.com/x\n" in description
    assert description.endswith("Classified by rules (rules/disk-space)")


async def test_user_templates_override_the_defaults(make: Make, sink: QuerySink) -> None:
    forwarder = make(", templates: {message: '[{{ priority }}] {{ alert.labels.service }} slow', "
                     "entity: '{{ alert.labels.service }}', source: prometheus-eu}")
    [body, *_] = await sent(forwarder, sink, enriched())
    assert (body["message"], body["entity"], body["source"]) == ("[P1] checkout slow", "checkout", "prometheus-eu")


async def test_a_template_failing_at_render_falls_back_and_is_reported(
        make: Make, sink: QuerySink, template_errors: list[tuple[str, str]]) -> None:
    [body, *_] = await sent(make(", templates: {message: '{{ alert.labels.team.name }}'}"), sink, enriched())
    assert body["message"] == "HighLatency: Filesystem /var is almost full"
    assert template_errors
    assert template_errors[0] == ("r", template_errors[0][1])
    assert template_errors[0][1].startswith("templates.message: UndefinedError")


@pytest.mark.parametrize(("ai", "label", "extra", "expected"), [
    ("critical", "info", "", "P1"),
    ("warning", "critical", "", "P3"),
    ("info", "", "", "P5"),
    ("", "error", "", "P2"),
    ("", "page", "", "P1"),
    ("", "minor", "", "P3"),
    ("", "sev-7", "", "P3"),
    ("", "", ", default_priority: P4", "P4"),
    ("warning", "", ", priorities: {warning: P2}", "P2"),
    ("critical", "", ", priorities: {warning: P2}", "P1"),
])
async def test_priority_mapping(make: Make, sink: QuerySink, ai: str, label: str, extra: str, expected: str) -> None:
    notification = one(plain(), labels={"alertname": "X", **({"severity": label} if label else {})},
                       annotations={"summary": "s", **({"ai_severity": ai} if ai else {})})
    [body] = await sent(make(extra), sink, notification)
    assert body["priority"] == expected


async def test_resolved_alert_closes_by_alias(make: Make, sink: QuerySink) -> None:
    notification = enriched("05-resolved-group-all.json")
    bodies = await sent(make(), sink, notification)
    assert [r.path for r in sink.received] == [f"/v2/alerts/{a.fingerprint}/close" for a in notification.alerts]
    assert sink.queries == ["identifierType=alias"] * len(notification.alerts)
    assert all(r.headers["Authorization"] == f"GenieKey {API_KEY}" for r in sink.received)
    assert bodies[0] == {"source": "http://127.0.0.1:19093",
                         "note": f"Resolved in Alertmanager at {notification.alerts[0].ends_at}."}


async def test_mixed_notification_creates_firing_and_closes_resolved(make: Make, sink: QuerySink) -> None:
    notification = enriched("04-mixed-firing-resolved.json")
    await sent(make(), sink, notification)
    expected = ["/v2/alerts" if a.status == "firing" else f"/v2/alerts/{a.fingerprint}/close"
                for a in notification.alerts]
    assert [r.path for r in sink.received] == expected
    assert {"/v2/alerts"} < set(expected)


async def test_message_is_one_line_of_at_most_130_characters(make: Make, sink: QuerySink) -> None:
    notification = one(plain(), annotations={"summary": "disk\n  full " + "東" * 300})
    [body] = await sent(make(), sink, notification)
    assert len(body["message"]) == 130
    assert body["message"].startswith("HighLatency: disk full 東")
    assert body["message"].endswith("…")


async def test_description_is_cut_at_15000_characters(make: Make, sink: QuerySink) -> None:
    labels = {"alertname": "X", **{f"label_{i:03}": "v" * 400 for i in range(60)}}
    [body] = await sent(make(), sink, one(plain(), labels=labels))
    assert len(body["description"]) == 15_000
    assert body["description"].endswith("…")


def test_details_fit_8000_characters_in_order() -> None:
    pairs = [("ai_category", "storage"), *((f"l{i:02}", "v" * 1000) for i in range(10)), ("ai_summary", "s")]
    details = fit_details(pairs)
    assert sum(len(k) + len(v) for k, v in details.items()) <= 8000
    assert list(details)[:8] == ["ai_category", *(f"l{i:02}" for i in range(7))]
    assert details["l07"].endswith("…")
    assert "l09" not in details
    assert "ai_summary" not in details  # the cut value took what was left
    assert sum(len(k) + len(v) for k, v in details.items()) == 8000


async def test_tags_are_at_most_20_distinct_of_50_characters(make: Make, sink: QuerySink) -> None:
    configured = ", ".join([f"team-{i}" for i in range(25)] + ["HighLatency", "x" * 80])
    [body] = await sent(make(f", tags: [{configured}]"), sink, one(plain()))
    assert len(body["tags"]) == 20
    assert body["tags"][:3] == ["HighLatency", "severity:warning", "team-0"]
    assert len(set(body["tags"])) == 20


async def test_responders_and_visible_to_are_sent(make: Make, sink: QuerySink) -> None:
    extra = (", responders: [{type: team, name: sre}, {type: user, username: ann@example.com}, "
             "{type: escalation, id: 4513b7ea-3b91-438f-b7e4-e3e54af9147c}], visible_to: [{type: team, name: ops}]")
    [body] = await sent(make(extra), sink, one(plain()))
    assert body["responders"] == [{"name": "sre", "type": "team"}, {"username": "ann@example.com", "type": "user"},
                                  {"id": "4513b7ea-3b91-438f-b7e4-e3e54af9147c", "type": "escalation"}]
    assert body["visibleTo"] == [{"name": "ops", "type": "team"}]


async def test_throttling_waits_the_named_window_and_stops_the_round(make: Make, sink: QuerySink) -> None:
    sink.script(Reply(202), Reply(429, {"X-RateLimit-State": "THROTTLED", "X-RateLimit-Period-In-Sec": "60"}))
    with pytest.raises(RetryableDelivery) as caught:
        await make().send(enriched(), b"")
    assert len(sink.received) == 2
    assert caught.value.reason == Reason.RATE_LIMIT
    assert caught.value.retry_after == 60.0


async def test_unprocessable_carries_opsgenies_words_never_the_key(make: Make, sink: QuerySink) -> None:
    sink.script(Reply(422, body=orjson.dumps({"message": "Request body is not processable. Please check the errors.",
                                              "errors": {"responders": f"team not found for key {API_KEY}"},
                                              "took": 0.001, "requestId": "r-1"})))
    with pytest.raises(PermanentDelivery) as caught:
        await make().send(one(enriched()), b"")
    assert caught.value.reason == Reason.CLIENT_ERROR
    assert caught.value.detail == ("HTTP 422: Request body is not processable. Please check the errors. "
                                   "(responders: team not found for key <api_key>)")


async def test_a_bad_key_is_an_auth_failure_that_stops_the_round(make: Make, sink: QuerySink) -> None:
    sink.script(Reply(401, body=b'{"message":"Key format is not valid!","took":0.0,"requestId":"r-2"}'))
    with pytest.raises(PermanentDelivery) as caught:
        await make().send(enriched(), b"")
    assert len(sink.received) == 1  # the same key would fail the other two alike
    assert caught.value.reason == Reason.AUTH
    assert caught.value.detail == "HTTP 401: Key format is not valid! (1 of 3 events failed)"


def config_errors(receiver: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        loads(f"receivers:\n  - {{name: r, type: opsgenie{receiver}}}\n", {})
    return caught.value.errors


def test_api_key_is_required() -> None:
    assert config_errors("") == ["receivers[0].api_key: is required (or api_key_file)"]


def test_an_unreadable_key_file_is_one_error(tmp_path: Path) -> None:
    [error] = config_errors(f", api_key_file: {tmp_path / 'missing'}")
    assert error.startswith("receivers[0].api_key_file: cannot read")


def test_bearer_or_basic_auth_is_refused() -> None:
    errors = config_errors(f", api_key: {API_KEY}, bearer_token: other-token")
    assert errors == ["receivers[0].bearer_token: opsgenie authenticates with api_key (sent as GenieKey); remove this"]


def test_bad_options_are_reported_by_path() -> None:
    errors = config_errors(f", api_key: {API_KEY}, priorities: {{critical: P0, urgent: P1}}, default_priority: P9, "
                           "responders: [{name: sre}, {type: team, name: a, id: b}, {type: team, username: u}, "
                           "{type: user, name: n}, {type: squad, name: s}], visible_to: [{type: schedule, name: x}]")
    assert "receivers[0].priorities.critical: must be one of P1, P2, P3, P4, P5 (got 'P0')" in errors
    assert "receivers[0].priorities.urgent: must be one of critical, error, warning, info" in errors
    assert "receivers[0].default_priority: must be one of P1, P2, P3, P4, P5 (got 'P9')" in errors
    assert "receivers[0].responders[0].type: is required" in errors
    assert "receivers[0].responders[1]: needs exactly one of id, name or username" in errors
    assert "receivers[0].responders[2].username: is only for type user (use id or name)" in errors
    assert "receivers[0].responders[3].name: a user is named by username or id" in errors
    assert any(e.startswith("receivers[0].responders[4].type: must be one of team, user") for e in errors)
    assert any(e.startswith("receivers[0].visible_to[0].type: must be one of team, user") for e in errors)
    assert all(API_KEY not in e for e in errors)


def test_api_key_file_is_read_kept_out_of_repr_and_the_default_url_is_the_us_api(tmp_path: Path) -> None:
    key_file = tmp_path / "og-key"
    key_file.write_text(API_KEY + "\n")
    config = loads(f"receivers:\n  - {{name: r, type: opsgenie, api_key_file: {key_file}}}\n", {})
    [receiver] = config.receivers
    assert receiver.options.api_key == API_KEY
    assert API_KEY not in repr(receiver)
    assert receiver.url == "https://api.opsgenie.com"
