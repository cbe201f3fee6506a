"""The msteams forwarder beyond the contract: the card an on-call engineer reads, templates, severity
styles, the 28 KB budget, what a 2xx reply may still mean, and options errors by path."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import aiohttp
import orjson
import pytest

from receiver import alerts
from receiver.alerts import ZERO_TIME, Alert, Notification
from receiver.config import loads
from receiver.errors import ConfigError, DeliveryError, PermanentDelivery, RetryableDelivery
from receiver.forwarders import build
from receiver.forwarders.http import Deps
from receiver.forwarders.msteams import TeamsForwarder
from tests.fakes import FIXTURES, ManualClock, RecordingSink, Reply
from tests.forwarder_cases.msteams import PATH, QUERY, SIG, THROTTLED, TOO_LARGE
from tests.test_forwarders_contract import enriched, huge

TEXT = {"Content-Type": "text/plain; charset=utf-8"}


def make(session: aiohttp.ClientSession, extra: str = "", errors: list[tuple[str, str]] | None = None,
         url: str = f"https://prod.example{PATH}?{QUERY}") -> TeamsForwarder:
    config = loads(f"receivers:\n  - {{name: r, type: msteams, url: '{url}'{extra}}}\n", {})
    deps = Deps(session, ManualClock())
    if errors is not None:
        deps = Deps(session, ManualClock(), on_template_error=lambda receiver, error: errors.append((receiver, error)))
    forwarder = build(config.receivers, deps)["r"]
    assert isinstance(forwarder, TeamsForwarder)
    return forwarder


def body(message: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = message["attachments"][0]["content"]["body"]
    return items


def head(message: dict[str, Any]) -> tuple[str, str, str]:
    """The header container's style, its title and its summary text."""
    container = body(message)[0]
    texts = [i["text"] for i in container["items"]]
    return container["style"], texts[0], texts[1] if len(texts) > 1 else ""


def one(label: str | None = None, ai: str | None = None, annotations: dict[str, str] | None = None) -> Notification:
    labels = {"alertname": "DiskFull", "instance": "db-1:9100"} | ({"severity": label} if label else {})
    notes = (annotations or {"summary": "disk almost full"}) | ({"ai_severity": ai} if ai else {})
    alert = Alert("firing", labels, notes, "2026-11-21T23:25:27Z", ZERO_TIME, "http://prom:9090/graph?g0.expr=up", "f")
    return Notification(alerts=(), group_labels={"alertname": "DiskFull"},
                        external_url="http://am.example:9093").with_alerts((alert,))


def test_default_card_has_what_on_call_needs(session: aiohttp.ClientSession) -> None:
    message = make(session).message(enriched())
    style, title, summary = head(message)
    assert (style, title) == ("attention", "🔴 [FIRING:3] HighLatency")
    assert summary == ("**3 firing** · severity **critical** · storage\n\nFilesystem /var is almost full\n\n"
                       "**Next steps:**\n- df -h /var\n- du -xh /var | sort -rh | head")
    first = body(message)[1]
    assert first["items"][0]["text"] == "🔴 **HighLatency** firing\n\ncheckout-a p99 = 1.4s"
    assert first["items"][1]["facts"] == [
        {"title": "Severity", "value": "critical (0.90)"}, {"title": "Category", "value": "storage"},
        {"title": "Started", "value": "2026-11-21 23:25:27 UTC"}, {"title": "instance", "value": "checkout-a:8080"},
        {"title": "service", "value": "checkout"}]
    assert body(message)[-1]["text"] == "classified by rules (rules/disk-space)"
    assert message["attachments"][0]["content"]["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open Alertmanager", "url": "http://127.0.0.1:19093"},
        {"type": "Action.OpenUrl", "title": "Silence",
         "url": "http://127.0.0.1:19093/#/silences/new?filter=%7Balertname%3D%22HighLatency%22%7D"}]


def test_transparent_alerts_fall_back_to_their_own_severity_and_summary(session: aiohttp.ClientSession) -> None:
    notification = alerts.parse((FIXTURES / "02-firing-group-3-alerts.json").read_bytes())
    message = make(session).message(notification)
    assert head(message) == ("warning", "🟠 [FIRING:3] HighLatency",
                             "**3 firing** · severity **warning**\n\np99 latency above 1s")
    assert len(body(message)) == 4  # no "classified by" line without enrichment


@pytest.mark.parametrize(("label", "ai", "style", "color"), [
    ("critical", None, "attention", "attention"), ("high", None, "attention", "attention"),
    ("warning", None, "warning", "warning"), ("info", None, "accent", "accent"),
    ("critical", "info", "accent", "accent"),  # the classifier's word wins over the label
    (None, None, "emphasis", "default"), ("p2", None, "emphasis", "default"),
])
def test_severity_styles(session: aiohttp.ClientSession, label: str | None, ai: str | None, style: str,
                         color: str) -> None:
    container = body(make(session).message(one(label, ai)))[0]
    assert (container["style"], container["items"][0]["color"]) == (style, color)


def test_resolved_notification_is_green(session: aiohttp.ClientSession) -> None:
    message = make(session).message(enriched("05-resolved-group-all.json"))
    style, title, _ = head(message)
    assert style == "good"
    assert title.startswith("✅ [RESOLVED] ")


def test_links_and_runbook_button(session: aiohttp.ClientSession) -> None:
    notification = one("warning", annotations={"summary": "s", "runbook_url": "https://runbooks.example/disk"})
    message = make(session).message(notification)
    assert body(message)[1]["items"][0]["text"] == ("🟠 **[DiskFull](http://prom:9090/graph?g0.expr=up)** firing"
                                                    " · [runbook](https://runbooks.example/disk)")
    titles = [a["title"] for a in message["attachments"][0]["content"]["actions"]]
    assert titles == ["Open Alertmanager", "Silence", "Runbook", "Source"]


def test_urls_teams_would_refuse_are_not_buttons(session: aiohttp.ClientSession) -> None:
    notification = one("warning")
    notification = notification.with_alerts(tuple(replace(a, generator_url="http://prom/graph?g0.expr=" + "x" * 3000)
                                                  for a in notification.alerts))
    notification = replace(notification, external_url="alertmanager.local:9093")
    assert make(session).message(notification)["attachments"][0]["content"]["actions"] == []


def test_a_user_template_replaces_the_default(session: aiohttp.ClientSession) -> None:
    message = make(session, ", templates: {title: '{{ commonLabels.service }} is slow', text: ''}").message(enriched())
    assert head(message)[1:] == ("checkout is slow", "**3 firing** · severity **critical** · storage\n\n"
                                 "Filesystem /var is almost full\n\n**Next steps:**\n- df -h /var\n"
                                 "- du -xh /var | sort -rh | head")  # an empty template keeps the default


def test_a_failing_user_template_falls_back_to_the_default_and_is_reported(session: aiohttp.ClientSession) -> None:
    errors: list[tuple[str, str]] = []
    forwarder = make(session, ", templates: {alert: '{{ alert.labels.nope.deeper }}'}", errors)
    message = forwarder.message(enriched())
    assert body(message)[1]["items"][0]["text"].startswith("🔴 **HighLatency** firing")
    assert len(errors) == 3  # once per alert rendered
    assert all(e == ("r", errors[0][1]) and e[1].startswith("templates.alert: UndefinedError") for e in errors)


def test_huge_notification_stays_under_28kb_the_same_way_every_time(session: aiohttp.ClientSession) -> None:
    forwarder = make(session)
    first, second = forwarder.message(huge()), forwarder.message(huge())
    assert first == second
    assert len(orjson.dumps(first)) <= 28_000
    shown = [b for b in body(first) if b["type"] == "Container"][1:]
    [more] = [b["text"] for b in body(first) if b.get("text", "").startswith("…and ")]
    assert more == f"…and {60 - len(shown)} more alerts not shown (see Alertmanager)"
    assert all(len(c["items"][0]["text"]) <= 800 for c in shown)


def test_max_alerts_and_alertmanagers_own_truncation_are_counted(session: aiohttp.ClientSession) -> None:
    message = make(session, ", max_alerts: 1").message(replace(enriched(), truncated_alerts=7))
    assert [b["text"] for b in body(message) if b.get("text", "").startswith("…and ")] == [
        "…and 9 more alerts not shown (see Alertmanager)"]


@pytest.mark.parametrize(("reply", "outcome"), [
    (Reply(202, {}, b""), None),                     # Workflows
    (Reply(200, TEXT, b"1"), None),                  # an O365 connector
    (Reply(200, {"Content-Type": "application/json"}, b'{"status":"posted"}'), None),  # a flow's own Response
    (Reply(200, TEXT, THROTTLED), (RetryableDelivery, "rate_limit: HTTP 200, reporting HTTP 429")),
    (Reply(200, TEXT, THROTTLED.replace(b"429", b"503")), (RetryableDelivery, "server_error: HTTP 200, reporting "
                                                                             "HTTP 503")),
    (Reply(200, TEXT, TOO_LARGE), (PermanentDelivery, "client_error: HTTP 200, reporting HTTP 413")),
    (Reply(200, TEXT, THROTTLED.replace(b"429", b"403")), (PermanentDelivery, "auth: HTTP 200, reporting HTTP 403")),
    (Reply(200, TEXT, b"Webhook message delivery failed with error: ConnectorNotFound"),
     (PermanentDelivery, "bad_reply: HTTP 200: the reply reports a failure")),
    (Reply(429, {"Retry-After": "40"}, b""), (RetryableDelivery, "rate_limit: HTTP 429")),
])
async def test_what_a_reply_means(sink: RecordingSink, session: aiohttp.ClientSession,
                                  caplog: pytest.LogCaptureFixture, reply: Reply,
                                  outcome: tuple[type[DeliveryError], str] | None) -> None:
    caplog.set_level(logging.DEBUG)
    forwarder = make(session, url=sink.url(PATH) + "?" + QUERY)
    sink.script(reply)
    if outcome is None:
        await forwarder.send(enriched(), b"")
        return
    kind, text = outcome
    with pytest.raises(kind) as caught:
        await forwarder.send(enriched(), b"")
    assert str(caught.value) == text  # the reply's own text (ContextId, server names) is not repeated
    ours = [r.getMessage() for r in caplog.records if r.name != "aiohttp.access"]  # that one is the fake's log
    assert all(SIG not in m for m in [str(caught.value), *ours])


@pytest.mark.parametrize(("receiver", "error"), [
    ("{name: r, type: msteams}", "receivers[0].url: is required"),
    ("{name: r, type: msteams, url: 'teams.example/hook'}", "receivers[0].url: must be an http(s) URL"),
    ("{name: r, type: msteams, url: 'https://x.example/h', max_alerts: 0}",
     "receivers[0].max_alerts: must be at least 1"),
    ("{name: r, type: msteams, url: 'https://x.example/h', max_alerts: 51}",
     "receivers[0].max_alerts: must be at most 50"),
    ("{name: r, type: msteams, url: 'https://x.example/h', templates: {summary: x}}",
     "receivers[0].templates.summary: unknown field"),
    ("{name: r, type: msteams, url: 'https://x.example/h', templates: {text: '{{ x'}}",
     "receivers[0].templates.text: template does not compile"),
    ("{name: r, type: msteams, url: 'https://x.example/h', channel: general}", "receivers[0].channel: unknown field"),
])
def test_options_errors_name_the_field(receiver: str, error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        loads(f"receivers:\n  - {receiver}\n", {})
    assert any(e.startswith(error) for e in caught.value.errors), caught.value.errors
