"""The discord forwarder beyond the contract: message rendering, colours, splitting, replies and config errors."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest

from receiver import alerts
from receiver.alerts import Alert, Notification
from receiver.config import loads
from receiver.errors import ConfigError, DeliveryError, PermanentDelivery, Reason, RetryableDelivery
from receiver.forwarders.discord import DiscordForwarder, embed_size, fit
from receiver.forwarders.http import Deps
from tests.conftest import ROOT
from tests.fakes import FIXTURES, PAYLOADS, ManualClock, RecordingSink, Reply, Reported
from tests.forwarder_cases.discord import CASE, PATH, TOKEN, message_object, reply
from tests.test_forwarders_contract import enriched

RULES = f"classifier: {{rules_file: {ROOT / 'config' / 'classifier.yaml'}}}\n"


def discord(session: aiohttp.ClientSession, base: str = "https://discord.com", extra: str = "",
            reported: Reported | None = None, path: str = PATH) -> DiscordForwarder:
    config = loads(f"{RULES}receivers:\n  - {{name: r, type: discord, url: '{base}{path}'{extra}}}\n", {})
    deps = Deps(session, ManualClock(), on_template_error=reported or Reported())
    return DiscordForwarder(config.receivers[0], deps)


def fixture(name: str) -> Notification:
    return alerts.parse((FIXTURES / name).read_bytes())


def many(count: int) -> Notification:
    base = enriched()
    template = base.alerts[0]
    return base.with_alerts(tuple(
        Alert(template.status, {**template.labels, "instance": f"host-{i}"}, template.annotations,
              template.starts_at, fingerprint=f"{i:016x}") for i in range(count)))


def config_errors(receiver: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        loads(f"{RULES}receivers:\n  - {receiver}\n", {})
    return caught.value.errors


async def test_a_group_is_one_message_with_a_header_and_an_embed_per_alert(session: aiohttp.ClientSession) -> None:
    [message] = discord(session).messages(enriched())
    assert message["content"] == (
        "🔥 **FIRING · CRITICAL** HighLatency — 3 firing\nFilesystem /var is almost full\n**Next steps**\n"
        "• df -h /var\n• du -xh /var | sort -rh | head\n[Alertmanager](http://127.0.0.1:19093)")
    first = message["embeds"][0]
    assert first["title"] == "🔥 [FIRING · CRITICAL] HighLatency on checkout-a:8080"
    assert first["description"] == "Filesystem /var is almost full\n\ncheckout-a p99 = 1.4s"  # shared steps once
    assert [f["name"] for f in first["fields"]] == ["category", "instance", "service"]  # distinct labels first
    assert first["footer"]["text"] == ("amtriage · classified by rules (rules/disk-space, confidence 0.90)"
                                       " · f48debb27fbe7af7")
    assert "url" not in first  # the fixture's generatorURL is empty


@pytest.mark.parametrize("path", PAYLOADS, ids=lambda p: p.name)
async def test_every_recorded_payload_renders_within_discords_limits(session: aiohttp.ClientSession,
                                                                     path: Path) -> None:
    notification = fixture(path.name)
    [message] = discord(session).messages(notification)
    assert len(message["embeds"]) == len(notification.alerts)
    assert 0 < len(message["content"]) <= 2000
    assert sum(embed_size(e) for e in message["embeds"]) <= 6000
    assert all(f["value"] for e in message["embeds"] for f in e["fields"])


async def test_a_single_alert_links_its_source_runbook_and_dashboard(session: aiohttp.ClientSession) -> None:
    [message] = discord(session).messages(fixture("06-firing-rich-labels-unicode.json"))
    [embed] = message["embeds"]
    assert embed["url"].startswith("http://prometheus.example.invalid:9090/graph")
    assert "[Runbook](https://runbooks.example.invalid/checkout?alert=burn&lang=ja)" in embed["description"]
    assert "[Dashboard](https://grafana.example.invalid/" in embed["description"]
    assert {"name": "quoted", "value": 'say "hi" & <bye>', "inline": True} in embed["fields"]
    assert embed["timestamp"] == "2026-11-21T23:25:32.335Z"


@pytest.mark.parametrize(("ai_severity", "label", "colour", "word"), [
    ("critical", "warning", 0xE74C3C, "CRITICAL"),
    ("warning", "critical", 0xE67E22, "WARNING"),
    ("info", "critical", 0x3498DB, "INFO"),
    (None, "page", 0xE74C3C, "CRITICAL"),  # transparent mode: the label's word
    (None, "minor", 0xE67E22, "WARNING"),
    (None, "p3", 0x95A5A6, "P3"),  # a word of its own: grey, shown as it is
])
async def test_severity_sets_colour_and_title(session: aiohttp.ClientSession, ai_severity: str | None, label: str,
                                              colour: int, word: str) -> None:
    alert = fixture("01-firing-single.json").alerts[0]
    notes = {**alert.annotations, **({"ai_severity": ai_severity} if ai_severity else {})}
    notification = fixture("01-firing-single.json").with_alerts(
        (alert.with_labels({**alert.labels, "severity": label}).with_annotations(notes),))
    [message] = discord(session).messages(notification)
    assert message["embeds"][0]["color"] == colour
    assert f"[FIRING · {word}]" in message["embeds"][0]["title"]
    assert f"**FIRING · {word}**" in message["content"]


async def test_transparent_mode_uses_the_alerts_own_summary(session: aiohttp.ClientSession) -> None:
    [message] = discord(session).messages(fixture("02-firing-group-3-alerts.json"))
    assert message["content"].startswith("🔥 **FIRING · WARNING** HighLatency — 3 firing\np99 latency above 1s")
    assert "Next steps" not in message["content"]
    assert message["embeds"][0]["footer"]["text"] == "amtriage · f48debb27fbe7af7"
    assert message["embeds"][0]["fields"][0]["name"] == "instance"


async def test_resolved_is_green_with_end_time_and_no_next_steps(session: aiohttp.ClientSession) -> None:
    [message] = discord(session).messages(enriched("05-resolved-group-all.json"))
    assert message["content"].startswith("✅ **RESOLVED** HighLatency — 3 resolved")
    assert "Next steps" not in message["content"]
    assert {e["color"] for e in message["embeds"]} == {0x2ECC71}
    assert message["embeds"][0]["title"] == "✅ [RESOLVED] HighLatency on checkout-a:8080"
    assert message["embeds"][0]["timestamp"] == "2026-11-21T23:25:31.378Z"


async def test_mixed_notification_counts_both(session: aiohttp.ClientSession) -> None:
    [message] = discord(session).messages(enriched("04-mixed-firing-resolved.json"))
    assert "— 2 firing, 1 resolved" in message["content"]
    assert [e["color"] for e in message["embeds"]] == [0xE74C3C, 0x2ECC71, 0xE74C3C]


async def test_user_templates_replace_the_defaults(session: aiohttp.ClientSession) -> None:
    extra = (", templates: {content: '<@&42> {{ status|upper }} {{ alerts|length }}', "
             "title: '{{ alert.labels.instance }} is {{ severity }}', description: '{{ alert.ai.category }}'}")
    [message] = discord(session, extra=extra).messages(enriched())
    assert message["content"] == "<@&42> FIRING 3"
    assert message["embeds"][0]["title"] == "checkout-a:8080 is critical"
    assert message["embeds"][0]["description"] == "storage"


async def test_a_user_template_failing_at_render_time_falls_back_and_is_reported(
        session: aiohttp.ClientSession) -> None:
    reported = Reported()
    forwarder = discord(session, extra=", templates: {title: '{{ alert.labels.nope.deeper }}'}", reported=reported)
    [message] = forwarder.messages(enriched())
    assert message["embeds"][0]["title"] == "🔥 [FIRING · CRITICAL] HighLatency on checkout-a:8080"
    assert len(reported.calls) == 3
    assert reported.calls[0][0] == "r"
    assert reported.calls[0][1].startswith("templates.title: UndefinedError")


async def test_alerts_are_spread_evenly_over_the_fewest_messages(session: aiohttp.ClientSession) -> None:
    forwarder = discord(session)
    messages = forwarder.messages(many(23))
    assert [len(m["embeds"]) for m in messages] == [8, 8, 7]
    assert messages[0]["content"].endswith(" (1/3)")
    assert messages[0]["content"].startswith("🔥 **FIRING · CRITICAL** HighLatency — 23 firing")
    assert [m["content"] for m in messages[1:]] == ["(2/3)", "(3/3)"]  # the header (and its mentions) once
    assert forwarder.messages(many(23)) == messages  # deterministic


async def test_alerts_past_max_messages_are_counted_not_dropped_silently(session: aiohttp.ClientSession) -> None:
    notification = many(13)
    messages = discord(session, extra=", max_messages: 1").messages(
        Notification(notification.alerts, status="firing", truncated_alerts=2,
                     common_labels=notification.common_labels, common_annotations=notification.common_annotations))
    [message] = messages
    assert len(message["embeds"]) == 10
    assert message["content"].endswith("\n…and 5 more alerts not shown here")  # 3 over the limit + 2 truncated


async def test_an_embed_is_shrunk_description_first_then_fields_then_title() -> None:
    fields = [{"name": f"label{i}", "value": "v" * 40, "inline": True} for i in range(25)]
    embed = {"title": "T" * 256, "description": "d" * 4096, "fields": list(fields), "footer": {"text": "f" * 50}}
    fitted = fit(dict(embed, fields=list(fields)), 2000)
    assert embed_size(fitted) == 2000
    assert fitted["description"].endswith("…")
    assert len(fitted["fields"]) == 25
    small = fit(dict(embed, fields=list(fields)), 600)
    assert "description" not in small
    assert embed_size(small) <= 600
    assert small["title"] == "T" * 256
    assert len(fit({"title": "T" * 256, "footer": {"text": "f" * 50}}, 100)["title"]) == 50


async def test_posts_with_wait_true_and_keeps_the_users_query(session: aiohttp.ClientSession) -> None:
    assert discord(session).url == f"https://discord.com{PATH}?wait=true"
    threaded = discord(session, base="https://discord.com", path=f"{PATH}?thread_id=77")
    assert threaded.url == f"https://discord.com{PATH}?thread_id=77&wait=true"


async def test_204_without_wait_is_delivered_too(session: aiohttp.ClientSession, sink: RecordingSink) -> None:
    sink.script(Reply(204, {}, b""))
    await discord(session, sink.url("").rstrip("/")).send(enriched(), b"")
    assert len(sink.received) == 1


async def test_a_later_message_failing_fails_the_send_and_says_which(session: aiohttp.ClientSession,
                                                                     sink: RecordingSink) -> None:
    limited = {"message": "You are being rate limited.", "retry_after": 1.5, "global": False}
    sink.script(reply(200, message_object("1/3")), reply(429, limited, {"Retry-After": "2"}))
    with pytest.raises(RetryableDelivery) as caught:
        await discord(session, sink.url("").rstrip("/")).send(many(23), b"")
    assert len(sink.received) == 2
    assert caught.value.retry_after == 1.5
    assert caught.value.reason is Reason.RATE_LIMIT
    assert str(caught.value) == "rate_limit: HTTP 429 (message 2 of 3)"


@pytest.mark.parametrize(("reply_", "reason", "detail"), [
    (reply(404, {"code": 10015, "message": "Unknown Webhook"}), Reason.CLIENT_ERROR,
     "HTTP 404: Discord error 10015: Unknown Webhook"),
    (reply(401, {"code": 50027, "message": "Invalid Webhook Token"}), Reason.AUTH,
     "HTTP 401: Discord error 50027: Invalid Webhook Token"),
    (reply(400, {"code": 50006, "message": "Cannot send an empty message"}), Reason.CLIENT_ERROR,
     "HTTP 400: Discord error 50006: Cannot send an empty message"),
    (Reply(403, {"Content-Type": "text/html"}, b"<html>Access denied</html>"), Reason.AUTH, "HTTP 403"),
])
async def test_permanent_errors_carry_discords_code_and_message(
        session: aiohttp.ClientSession, sink: RecordingSink, reply_: Reply, reason: Reason, detail: str) -> None:
    sink.script(reply_)
    with pytest.raises(PermanentDelivery) as caught:
        await discord(session, sink.url("").rstrip("/")).send(enriched(), b"")
    assert caught.value.reason is reason
    assert caught.value.detail == detail


async def test_the_token_is_in_no_error_and_in_no_log_of_ours(session: aiohttp.ClientSession, sink: RecordingSink,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    for reply_ in [r for r, _ in CASE.retryable] + CASE.permanent:
        sink.script(reply_)
        with pytest.raises(DeliveryError) as caught:
            await discord(session, sink.url("").rstrip("/")).send(enriched(), b"")
        texts.append(str(caught.value))
    texts.append(caplog.text)
    assert texts
    assert all(TOKEN not in text for text in texts)


@pytest.mark.parametrize(("receiver", "error"), [
    ("{name: r, type: discord}", "receivers[0].url: is required"),
    ("{name: r, type: discord, url: 'discord.com/api/webhooks/1/x'}", "receivers[0].url: must be an http(s) URL"),
    ("{name: r, type: discord, url: 'https://d.example/h', username: 'Discord Alerts'}",
     "receivers[0].username: must be at most 80 characters and not contain 'discord' or 'clyde'"),
    ("{name: r, type: discord, url: 'https://d.example/h', avatar_url: 'ftp://x/y.png'}",
     "receivers[0].avatar_url: must be an http(s) URL"),
    ("{name: r, type: discord, url: 'https://d.example/h', max_messages: 0}",
     "receivers[0].max_messages: must be at least 1"),
    ("{name: r, type: discord, url: 'https://d.example/h', templates: {text: x}}",
     "receivers[0].templates.text: unknown field"),
    ("{name: r, type: discord, url: 'https://d.example/h', templates: {title: '{{ x'}}",
     "receivers[0].templates.title: template does not compile"),
    ("{name: r, type: discord, url: 'https://d.example/h', thread_id: 5}", "receivers[0].thread_id: unknown field"),
])
def test_config_errors_name_the_field(receiver: str, error: str) -> None:
    assert any(e.startswith(error) for e in config_errors(receiver)), config_errors(receiver)


def test_the_webhook_url_may_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "hook"
    secret.write_text(f"https://discord.com{PATH}\n")
    config = loads(f"{RULES}receivers:\n  - {{name: r, type: discord, url_file: '{secret}'}}\n", {})
    assert config.receivers[0].url == f"https://discord.com{PATH}"
