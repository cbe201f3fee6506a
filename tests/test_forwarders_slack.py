"""The slack forwarder beyond the contract: the message an on-call engineer reads, templates, severity,
Slack's limits, incoming-webhook mode and its text replies, and options errors by path."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from receiver import alerts
from receiver.alerts import ZERO_TIME, Alert, Notification
from receiver.config import loads
from receiver.errors import ConfigError, DeliveryError, PermanentDelivery, RetryableDelivery
from receiver.forwarders import build
from receiver.forwarders.http import Deps
from receiver.forwarders.slack import SlackForwarder
from tests.fakes import FIXTURES, ManualClock, RecordingSink, Reply
from tests.forwarder_cases.slack import JSON, OK, TOKEN, texts
from tests.test_forwarders_contract import enriched, huge

HOOK_PATH = "/services/T024BE7LD/B08J5Q2R4TL/pR3kX9mWq7ZvL2nB8cY4tA1s"
HTML = {"Content-Type": "text/html"}


def make(session: aiohttp.ClientSession, extra: str = "", errors: list[tuple[str, str]] | None = None,
         url: str = "https://slack.example/api/chat.postMessage", token: bool = True) -> SlackForwarder:
    auth = f", token: {TOKEN}, channel: C0123ABCDEF" if token else ""
    config = loads(f"receivers:\n  - {{name: r, type: slack, url: '{url}'{auth}{extra}}}\n", {})
    report = (lambda receiver, error: errors.append((receiver, error))) if errors is not None else None
    deps = Deps(session, ManualClock()) if report is None else Deps(session, ManualClock(), on_template_error=report)
    forwarder = build(config.receivers, deps)["r"]
    assert isinstance(forwarder, SlackForwarder)
    return forwarder


def one(severity_label: str | None = None, ai_severity: str | None = None, status: str = "firing",
        annotations: dict[str, str] | None = None) -> Notification:
    labels = {"alertname": "DiskFull", "instance": "db-1:9100"}
    labels |= {"severity": severity_label} if severity_label else {}
    notes = (annotations or {"summary": "disk almost full"}) | ({"ai_severity": ai_severity} if ai_severity else {})
    alert = Alert(status, labels, notes, "2026-11-21T23:25:27Z", ZERO_TIME, "http://prom:9090/graph?g0.expr=up", "f1")
    return Notification(alerts=(), group_labels={"alertname": "DiskFull"},
                        external_url="http://am.example:9093").with_alerts((alert,))


def sections(message: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]


def header(message: dict[str, Any]) -> str:
    text: str = message["blocks"][0]["text"]["text"]
    return text


def test_default_message_has_what_on_call_needs(session: aiohttp.ClientSession) -> None:
    message = make(session).message(enriched())
    assert header(message) == "🔴 [FIRING:3] HighLatency"
    summary, *per_alert = sections(message)
    assert summary.splitlines() == ["*3 firing* · severity *critical* · storage", "Filesystem /var is almost full",
                                    "*Next steps:*", "• df -h /var", "• du -xh /var | sort -rh | head"]
    assert [s.splitlines()[0] for s in per_alert] == ["🔴 *HighLatency* firing"] * 3
    assert "checkout-b p99 = 1.9s" in per_alert[1]  # its description; the common summary is said once, above
    fields = [f["text"] for f in message["blocks"][2]["fields"]]
    assert fields == ["*Severity*\ncritical (0.90)", "*Category*\nstorage", "*Started*\n2026-11-21 23:25:27 UTC",
                      "*instance*\ncheckout-a:8080", "*service*\ncheckout"]
    [context] = message["blocks"][-1]["elements"]
    assert context["text"] == ("<http://127.0.0.1:19093|Alertmanager> · <http://127.0.0.1:19093/#/silences/new?"
                               "filter=%7Balertname%3D%22HighLatency%22%7D|Silence> · classified by rules "
                               "(rules/disk-space)")
    assert message["text"] == "🔴 [FIRING:3] HighLatency\n*3 firing* · severity *critical* · storage"
    assert message["channel"] == "C0123ABCDEF"


def test_transparent_alerts_fall_back_to_their_own_severity_and_summary(session: aiohttp.ClientSession) -> None:
    notification = alerts.parse((FIXTURES / "02-firing-group-3-alerts.json").read_bytes())
    message = make(session).message(notification)
    assert header(message) == "🟠 [FIRING:3] HighLatency"
    assert sections(message)[0] == "*3 firing* · severity *warning*\np99 latency above 1s"
    assert message["blocks"][2]["fields"][0]["text"] == "*Severity*\nwarning"


@pytest.mark.parametrize(("label", "ai", "emoji", "word"), [
    ("critical", None, "🔴", "critical"), ("page", None, "🔴", "critical"), ("error", None, "🔴", "critical"),
    ("warn", None, "🟠", "warning"), ("minor", None, "🟠", "warning"), ("none", None, "🔵", "info"),
    ("critical", "info", "🔵", "info"),  # the classifier's word wins over the label
    ("warning", "critical", "🔴", "critical"), (None, None, "⚪", "unknown"), ("sev2", None, "⚪", "unknown"),
])
def test_severity_mapping(session: aiohttp.ClientSession, label: str | None, ai: str | None, emoji: str,
                          word: str) -> None:
    message = make(session).message(one(label, ai))
    assert header(message) == f"{emoji} [FIRING:1] DiskFull"
    assert f"severity *{word}*" in sections(message)[0]


def test_worst_firing_alert_sets_the_group_severity_and_goes_first(session: aiohttp.ClientSession) -> None:
    a, b = one("info").alerts[0], one("critical").alerts[0]
    notification = one().with_alerts((a.with_labels({**a.labels, "instance": "x"}), b))
    message = make(session).message(notification)
    assert header(message).startswith("🔴")
    assert message["blocks"][2]["fields"][0]["text"] == "*Severity*\ncritical"


def test_resolved_notification(session: aiohttp.ClientSession) -> None:
    message = make(session).message(enriched("05-resolved-group-all.json"))
    assert header(message).startswith("✅ [RESOLVED] ")
    assert all(s.splitlines()[0].endswith(" resolved") for s in sections(message)[1:])


def test_firing_alerts_come_before_resolved_ones(session: aiohttp.ClientSession) -> None:
    message = make(session).message(enriched("04-mixed-firing-resolved.json"))
    assert header(message).startswith("🔴 [FIRING:2] ")
    assert [s.split("\n")[0].split()[-1] for s in sections(message)[1:]] == ["firing", "firing", "resolved"]


def test_links_to_source_and_runbook(session: aiohttp.ClientSession) -> None:
    notification = one("warning", annotations={"summary": "s", "runbook_url": "https://runbooks.example/disk"})
    alert_text = sections(make(session).message(notification))[1]
    assert alert_text.splitlines()[0] == ("🟠 *<http://prom:9090/graph?g0.expr=up|DiskFull>* firing"
                                          " · <https://runbooks.example/disk|runbook>")


def test_mrkdwn_control_characters_are_escaped_but_not_in_the_plain_text_header(
        session: aiohttp.ClientSession) -> None:
    notification = one("warning", annotations={"summary": "p99 <1s & queue > 10 <!channel>"})
    notification = notification.with_alerts(tuple(a.with_labels({**a.labels, "alertname": "A<B"})
                                                  for a in notification.alerts))
    message = make(session).message(notification)
    assert header(message) == "🟠 [FIRING:1] DiskFull"
    assert "p99 &lt;1s &amp; queue &gt; 10 &lt;!channel&gt;" in sections(message)[0]
    assert "A&lt;B" in sections(message)[1]


def test_a_user_template_replaces_the_default(session: aiohttp.ClientSession) -> None:
    forwarder = make(session, ", templates: {title: '{{ commonLabels.service }} is slow', "
                              "text: 'see {{ alerts|length }}'}")
    message = forwarder.message(enriched())
    assert header(message) == "checkout is slow"
    assert sections(message)[0] == "see 3"
    assert sections(message)[1].startswith("🔴 *HighLatency* firing")  # `alert` keeps its default


def test_a_failing_user_template_falls_back_to_the_default_and_is_reported(session: aiohttp.ClientSession) -> None:
    errors: list[tuple[str, str]] = []
    forwarder = make(session, ", templates: {title: '{{ commonLabels.nope.deeper }}'}", errors)
    message = forwarder.message(enriched())
    assert header(message) == "🔴 [FIRING:3] HighLatency"
    [(receiver, error)] = errors
    assert receiver == "r"
    assert error.startswith("templates.title: UndefinedError")


def test_huge_notification_is_cut_the_same_way_every_time(session: aiohttp.ClientSession) -> None:
    forwarder = make(session)
    first, second = forwarder.message(huge()), forwarder.message(huge())
    assert first == second
    shown = [s for s in sections(first)[1:] if not s.startswith("…and ")]
    [more] = [s for s in sections(first) if s.startswith("…and ")]
    assert more.startswith(f"…and {60 - len(shown)} more alerts not shown · <http://127.0.0.1:19093|")
    assert all(len(s) <= 800 and s.endswith("…") for s in shown)
    assert sum(map(len, texts(first))) <= 12_000


def test_max_alerts_and_alertmanagers_own_truncation_are_counted(session: aiohttp.ClientSession) -> None:
    notification = replace(enriched(), truncated_alerts=5)
    message = make(session, ", max_alerts: 2").message(notification)
    assert len(sections(message)) == 1 + 2 + 1
    assert sections(message)[-1].startswith("…and 6 more alerts not shown")


def test_long_titles_are_cut_for_the_header_block(session: aiohttp.ClientSession) -> None:
    notification = replace(one("warning"), group_labels={"alertname": "x" * 400})
    text = header(make(session).message(notification))
    assert len(text) == 150
    assert text.endswith("…")


async def test_web_api_error_names_slacks_word_and_never_the_token(sink: RecordingSink,
                                                                   session: aiohttp.ClientSession) -> None:
    forwarder = make(session, url=sink.url("/api/chat.postMessage"))
    sink.script(Reply(200, JSON, b'{"ok":false,"error":"channel_not_found"}'),
                Reply(200, JSON, b'{"ok":false,"error":"' + TOKEN.encode() + b' <b>"}'),
                Reply(200, JSON, OK))
    notification = enriched()
    with pytest.raises(PermanentDelivery) as caught:
        await forwarder.send(notification, b"")
    assert str(caught.value) == "client_error: HTTP 200: channel_not_found"
    with pytest.raises(PermanentDelivery) as caught:
        await forwarder.send(notification, b"")
    assert str(caught.value) == "client_error: HTTP 200: unknown"  # an odd error text is not repeated
    await forwarder.send(notification, b"")


async def test_incoming_webhook_is_posted_without_auth_and_ok_is_success(sink: RecordingSink,
                                                                         session: aiohttp.ClientSession) -> None:
    forwarder = make(session, url=sink.url(HOOK_PATH), token=False)
    sink.script(Reply(200, HTML, b"ok"))
    await forwarder.send(enriched(), b"")
    [request] = sink.received
    assert request.path == HOOK_PATH
    assert "Authorization" not in request.headers
    assert request.headers["Content-Type"] == "application/json"
    assert "channel" not in request.json()
    assert request.json()["blocks"][0]["type"] == "header"


@pytest.mark.parametrize(("reply", "kind", "text", "retry_after"), [
    (Reply(400, HTML, b"invalid_payload"), PermanentDelivery, "client_error: HTTP 400: invalid_payload", None),
    (Reply(400, HTML, b"no_text"), PermanentDelivery, "client_error: HTTP 400: no_text", None),
    (Reply(403, HTML, b"action_prohibited"), PermanentDelivery, "auth: HTTP 403: action_prohibited", None),
    (Reply(403, HTML, b"invalid_token"), PermanentDelivery, "auth: HTTP 403: invalid_token", None),
    (Reply(404, HTML, b"no_service"), PermanentDelivery, "auth: HTTP 404: no_service", None),
    (Reply(404, HTML, b"channel_not_found"), PermanentDelivery, "client_error: HTTP 404: channel_not_found", None),
    (Reply(410, HTML, b"channel_is_archived"), PermanentDelivery, "client_error: HTTP 410: channel_is_archived",
     None),
    (Reply(500, HTML, b"rollup_error"), RetryableDelivery, "server_error: HTTP 500: rollup_error", None),
    (Reply(429, {**HTML, "Retry-After": "12"}, b"rate_limited"), RetryableDelivery, "rate_limit: HTTP 429: "
     "rate_limited", 12.0),
    (Reply(503, HTML, b"upstream_down"), RetryableDelivery, "server_error: HTTP 503", None),  # a proxy's word
    (Reply(200, HTML, b"<html>captive portal</html>"), PermanentDelivery, "bad_reply: HTTP 200: unexpected_reply",
     None),
])
async def test_incoming_webhook_replies(sink: RecordingSink, session: aiohttp.ClientSession,
                                        caplog: pytest.LogCaptureFixture, reply: Reply, kind: type[DeliveryError],
                                        text: str, retry_after: float | None) -> None:
    caplog.set_level(logging.DEBUG)
    forwarder = make(session, url=sink.url(HOOK_PATH), token=False)
    sink.script(reply)
    with pytest.raises(kind) as caught:
        await forwarder.send(enriched(), b"")
    assert str(caught.value) == text
    if isinstance(caught.value, RetryableDelivery):
        assert caught.value.retry_after == retry_after
    ours = [r.getMessage() for r in caplog.records if r.name != "aiohttp.access"]  # that one is the fake's log
    assert all("pR3kX9mWq7ZvL2nB8cY4tA1s" not in m for m in [str(caught.value), *ours])


@pytest.mark.parametrize(("receiver", "error"), [
    ("{name: r, type: slack, token: xoxb-1-2-abc}",
     "receivers[0].channel: is required with token (a channel ID like C0123ABCDEF, or #name)"),
    ("{name: r, type: slack, channel: C0123ABCDEF}",
     "receivers[0].url: is required: the incoming webhook URL (or set token and channel for chat.postMessage)"),
    ("{name: r, type: slack, token: 'https://hooks.slack.com/services/T/B/x', channel: C1}",
     "receivers[0].token: must be a Slack bot or user token (xoxb-… or xoxp-…)"),
    ("{name: r, type: slack, token: xoxb-1, token_file: /nonexistent, channel: C1}",
     "receivers[0].token: set either token or token_file, not both"),
    ("{name: r, type: slack, url: 'https://hooks.slack.com/services/T/B/x', max_alerts: 45}",
     "receivers[0].max_alerts: must be at most 40 (Slack takes 50 blocks per message)"),
    ("{name: r, type: slack, url: 'https://hooks.slack.com/services/T/B/x', max_alerts: 0}",
     "receivers[0].max_alerts: must be at least 1"),
    ("{name: r, type: slack, url: 'https://hooks.slack.com/services/T/B/x', templates: {title: '{% if %}'}}",
     "receivers[0].templates.title: template does not compile"),
    ("{name: r, type: slack, url: 'https://hooks.slack.com/services/T/B/x', templates: {summary: x}}",
     "receivers[0].templates.summary: unknown field"),
    ("{name: r, type: slack, url: 'https://hooks.slack.com/services/T/B/x', colour: red}",
     "receivers[0].colour: unknown field"),
])
def test_options_errors_name_the_field(receiver: str, error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        loads(f"receivers:\n  - {receiver}\n", {})
    assert any(e.startswith(error) for e in caught.value.errors), caught.value.errors


def test_token_file_is_read_and_kept_out_of_reprs(tmp_path: Path) -> None:
    path = tmp_path / "slack-token"
    path.write_text(TOKEN + "\n")
    config = loads(f"receivers:\n  - {{name: r, type: slack, token_file: {path}, channel: C1}}\n", {})
    [receiver] = config.receivers
    assert receiver.url == "https://slack.com/api/chat.postMessage"
    assert receiver.options.token == TOKEN
    assert TOKEN not in repr(receiver)
