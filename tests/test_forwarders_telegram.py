"""The telegram forwarder beyond the contract: HTML escaping, rendering, splitting, replies and config errors."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest

from receiver import alerts
from receiver.alerts import Alert, Notification
from receiver.config import loads
from receiver.errors import ConfigError, DeliveryError, PermanentDelivery, Reason, RetryableDelivery
from receiver.forwarders.http import Deps
from receiver.forwarders.telegram import TelegramForwarder, escaped, split
from tests.conftest import ROOT
from tests.fakes import FIXTURES, PAYLOADS, ManualClock, RecordingSink, Reported
from tests.forwarder_cases.telegram import CASE, CHAT_ID, SENT, TOKEN, Visible, error, reply
from tests.test_forwarders_contract import enriched, huge

RULES = f"classifier: {{rules_file: {ROOT / 'config' / 'classifier.yaml'}}}\n"


def telegram(session: aiohttp.ClientSession, base: str = "https://api.telegram.org", extra: str = "",
             reported: Reported | None = None) -> TelegramForwarder:
    text = f"{RULES}receivers:\n  - {{name: r, type: telegram, url: '{base}', bot_token: '{TOKEN}', " \
           f"chat_id: {CHAT_ID}{extra}}}\n"
    deps = Deps(session, ManualClock(), on_template_error=reported or Reported())
    return TelegramForwarder(loads(text, {}).receivers[0], deps)


def fixture(name: str) -> Notification:
    return alerts.parse((FIXTURES / name).read_bytes())


def config_errors(receiver: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        loads(f"{RULES}receivers:\n  - {receiver}\n", {})
    return caught.value.errors


async def test_every_interpolated_value_is_html_escaped(session: aiohttp.ClientSession) -> None:
    [text] = telegram(session).messages(fixture("06-firing-rich-labels-unicode.json"))
    assert "<code>quoted=say &quot;hi&quot; &amp; &lt;bye&gt;</code>" in text
    assert "Tabbed &lt;b&gt;html&lt;/b&gt; &amp; ampersand</i>" in text
    assert '<a href="https://runbooks.example.invalid/checkout?alert=burn&amp;lang=ja">Runbook</a>' in text
    assert "<code>site=東京-1</code>" in text
    visible = Visible(text)
    assert not visible.open
    assert 'say "hi" & <bye>' in "".join(visible.shown)


@pytest.mark.parametrize("path", PAYLOADS, ids=lambda p: p.name)
async def test_every_recorded_payload_renders_as_html_telegram_accepts(session: aiohttp.ClientSession,
                                                                       path: Path) -> None:
    notification = fixture(path.name)
    [text] = telegram(session).messages(notification)
    visible = Visible(text)  # only Telegram's tags, balanced
    assert not visible.open
    assert 0 < visible.length <= 4096
    assert all(a.labels["alertname"] in "".join(visible.shown) for a in notification.alerts)


async def test_a_group_shows_shared_things_once_and_what_tells_alerts_apart(session: aiohttp.ClientSession) -> None:
    [text] = telegram(session).messages(enriched())
    assert text == (
        '🔥 <b>FIRING · CRITICAL</b> HighLatency — 3 firing · <a href="http://127.0.0.1:19093">Alertmanager</a>\n'
        "<code>service=checkout</code> \n"
        "<b>Filesystem /var is almost full</b>\n"
        "<b>Next steps</b>\n• df -h /var\n• du -xh /var | sort -rh | head\n\n"
        "🔴 <b>HighLatency</b> · critical <code>instance=checkout-a:8080</code>\n<i>checkout-a p99 = 1.4s</i>\n\n"
        "🔴 <b>HighLatency</b> · critical <code>instance=checkout-b:8080</code>\n<i>checkout-b p99 = 1.9s</i>\n\n"
        "🔴 <b>HighLatency</b> · critical <code>instance=checkout-c:8080</code>\n<i>checkout-c p99 = 1.2s</i>")


async def test_alerts_with_their_own_enrichment_show_it_each(session: aiohttp.ClientSession) -> None:
    base = enriched()
    own = tuple(a.with_annotations({**a.annotations, "ai_summary": f"{a.labels['instance']} is slow",
                                    "ai_recommendations": f"restart {a.labels['instance']}"}) for a in base.alerts)
    [text] = telegram(session).messages(base.with_alerts(own))
    assert "Next steps" not in text
    assert "checkout-a:8080 is slow\n<i>checkout-a p99 = 1.4s</i>\n• restart checkout-a:8080" in text


@pytest.mark.parametrize(("ai_severity", "label", "shown"), [
    ("critical", "warning", "FIRING · CRITICAL"),
    ("info", "critical", "FIRING · INFO"),
    (None, "page", "FIRING · CRITICAL"),  # transparent mode: the label's word
    (None, "warn", "FIRING · WARNING"),
    (None, "p3", "FIRING · P3"),
])
async def test_severity_is_the_enrichments_else_the_labels(session: aiohttp.ClientSession, ai_severity: str | None,
                                                           label: str, shown: str) -> None:
    alert = fixture("01-firing-single.json").alerts[0]
    notes = {**alert.annotations, **({"ai_severity": ai_severity} if ai_severity else {})}
    notification = fixture("01-firing-single.json").with_alerts(
        (alert.with_labels({**alert.labels, "severity": label}).with_annotations(notes),))
    [text] = telegram(session).messages(notification)
    assert text.startswith(f"🔥 <b>{shown}</b>")


async def test_resolved_says_so_without_next_steps(session: aiohttp.ClientSession) -> None:
    [text] = telegram(session).messages(enriched("05-resolved-group-all.json"))
    assert text.startswith("✅ <b>RESOLVED</b> HighLatency — 3 resolved")
    assert "Next steps" not in text
    assert text.count("🟢 <b>HighLatency</b> <code>instance=") == 3


async def test_a_user_template_gets_escaped_values(session: aiohttp.ClientSession) -> None:
    extra = ", templates: {text: '<b>{{ status|upper }}</b> {{ commonLabels.quoted }} {{ alerts[0].severity }}'}"
    [text] = telegram(session, extra=extra).messages(fixture("06-firing-rich-labels-unicode.json"))
    assert text == "<b>FIRING</b> say &quot;hi&quot; &amp; &lt;bye&gt; critical"


async def test_a_user_template_failing_at_render_time_falls_back_and_is_reported(
        session: aiohttp.ClientSession) -> None:
    reported = Reported()
    forwarder = telegram(session, extra=", templates: {text: '{{ commonLabels.nope.deeper }}'}", reported=reported)
    [text] = forwarder.messages(enriched())
    assert text.startswith("🔥 <b>FIRING · CRITICAL</b> HighLatency")
    [(receiver, message)] = reported.calls
    assert receiver == "r"
    assert message.startswith("templates.text: UndefinedError")


async def test_a_user_template_rendering_nothing_sends_the_default(session: aiohttp.ClientSession) -> None:
    extra = ", templates: {text: '{% if false %}x{% endif %}<b> </b>'}"
    [text] = telegram(session, extra=extra).messages(enriched())
    assert text.startswith("🔥 <b>FIRING · CRITICAL</b> HighLatency")


def test_split_keeps_a_short_text_whole() -> None:
    assert split("<b>a</b>\nb &amp; c") == ["<b>a</b>\nb &amp; c"]


def test_split_cuts_at_line_ends_when_lines_fit() -> None:
    text = "\n".join(f"line {i:03d} " + "x" * 90 for i in range(100))  # 100 lines of 99 characters
    parts = split(text, limit=1000)
    assert [len(p) for p in parts] == [999] * 10
    assert all(p.startswith("line ") for p in parts)
    assert "\n".join(parts) == text


def test_split_never_cuts_inside_a_tag_or_entity_and_reopens_open_tags() -> None:
    text = '<b><a href="https://x.example/?a=1&amp;b=2">' + "&lt;&amp;&gt;é" * 3000 + "</a></b>"
    parts = split(text, limit=1000)
    assert len(parts) == 12
    for part in parts:
        assert part.startswith('<b><a href="https://x.example/?a=1&amp;b=2">')
        assert part.endswith("</a></b>")
        visible = Visible(part)
        assert not visible.open
        assert visible.length <= 1000
        assert set("".join(visible.shown)) == set("<&>é")
    assert sum(Visible(p).length for p in parts) == 12000


def test_split_counts_utf16_units_as_telegram_does() -> None:
    parts = split("😀" * 3000, limit=4032)
    lengths = [Visible(p).length for p in parts]
    assert lengths == [4000, 2000]  # each emoji is two UTF-16 units; long runs are cut every 100 characters


def test_split_keeps_each_part_within_32_kib_as_sent() -> None:
    parts = split("<b><i><u>x</u></i></b>" * 5000)
    assert len(parts) > 1
    assert all(len(p.encode()) <= 1 << 15 for p in parts)
    assert sum(Visible(p).length for p in parts) == 5000


def test_escaped_turns_every_string_of_a_context_safe() -> None:
    assert escaped({"a<": ["<&>", ("x", '"')], "n": 3}) == {"a&lt;": ["&lt;&amp;&gt;", ("x", "&quot;")], "n": 3}


async def test_long_texts_are_numbered_and_cut_past_max_messages(session: aiohttp.ClientSession) -> None:
    texts = telegram(session, extra=", max_messages: 2").messages(huge())
    assert len(texts) == 2
    assert texts[0].endswith("\n<i>(1/2)</i>")
    assert texts[1].endswith("\n<i>(2/2; cut here: the whole text needs 8 messages)</i>")
    assert telegram(session, extra=", max_messages: 2").messages(huge()) == texts  # deterministic


async def test_many_alerts_get_shorter_descriptions(session: aiohttp.ClientSession) -> None:
    base = enriched()
    long = base.alerts[0].with_annotations({**base.alerts[0].annotations, "description": "d" * 5000})
    [one] = telegram(session).messages(base.with_alerts((long,)))
    assert f"<i>{'d' * 999}…</i>" in one
    ten = tuple(Alert(long.status, {**long.labels, "instance": f"h{i}"}, long.annotations, long.starts_at)
                for i in range(10))
    assert f"<i>{'d' * 149}…</i>" in telegram(session).messages(base.with_alerts(ten))[0]


async def test_request_options_go_into_the_payload(session: aiohttp.ClientSession, sink: RecordingSink) -> None:
    forwarder = telegram(session, sink.url("").rstrip("/"), ", chat_id: '@sre_alerts', disable_notification: true")
    await forwarder.send(enriched(), b"")
    [request] = sink.received
    body = request.json()
    assert body["chat_id"] == "@sre_alerts"
    assert body["disable_notification"] is True
    assert "message_thread_id" not in body


async def test_a_later_part_failing_fails_the_send_and_says_which(session: aiohttp.ClientSession,
                                                                  sink: RecordingSink) -> None:
    sink.script(reply(200, SENT), error(429, "Too Many Requests: retry after 7", retry_after=7))
    with pytest.raises(RetryableDelivery) as caught:
        await telegram(session, sink.url("").rstrip("/")).send(huge(), b"")
    assert len(sink.received) == 2
    assert caught.value.retry_after == 7.0
    assert str(caught.value) == "rate_limit: Telegram 429: Too Many Requests: retry after 7 (message 2 of 4)"


@pytest.mark.parametrize(("reply_", "reason", "detail"), [
    (error(400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to_chat_id=-1001987654321),
     Reason.CLIENT_ERROR, "Telegram 400: Bad Request: group chat was upgraded to a supergroup chat: "
                          "the group is now supergroup -1001987654321; set chat_id: -1001987654321"),
    (error(403, "Forbidden: bot was blocked by the user"), Reason.AUTH,
     "Telegram 403: Forbidden: bot was blocked by the user"),
    (error(401, "Unauthorized"), Reason.AUTH, "Telegram 401: Unauthorized"),
    (error(400, "Bad Request: chat not found"), Reason.CLIENT_ERROR, "Telegram 400: Bad Request: chat not found"),
    (reply(200, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"}),
     Reason.CLIENT_ERROR, "Telegram 400: Bad Request: message text is empty"),
    (error(400, f"Bad Request: token {TOKEN} echoed by a proxy"), Reason.CLIENT_ERROR,
     "Telegram 400: Bad Request: token <bot_token> echoed by a proxy"),
])
async def test_permanent_replies_say_what_telegram_said(session: aiohttp.ClientSession, sink: RecordingSink,
                                                        reply_: object, reason: Reason, detail: str) -> None:
    sink.script(reply_)  # type: ignore[arg-type]
    with pytest.raises(PermanentDelivery) as caught:
        await telegram(session, sink.url("").rstrip("/")).send(enriched(), b"")
    assert caught.value.reason is reason
    assert caught.value.detail == detail


async def test_the_token_is_in_no_error_and_in_no_log_of_ours(session: aiohttp.ClientSession, sink: RecordingSink,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    for reply_ in [r for r, _ in CASE.retryable] + CASE.permanent + CASE.failing_ok:
        sink.script(reply_)
        with pytest.raises(DeliveryError) as caught:
            await telegram(session, sink.url("").rstrip("/")).send(enriched(), b"")
        texts.append(str(caught.value))
    texts.append(caplog.text)
    assert all(secret not in text for text in texts for secret in CASE.secrets)
    assert "bot_token='" not in repr(telegram(session).settings)


@pytest.mark.parametrize(("receiver", "error"), [
    ("{name: r, type: telegram, chat_id: 1}", "receivers[0].bot_token: is required (or bot_token_file)"),
    ("{name: r, type: telegram, bot_token: 'not-a-token', chat_id: 1}",
     "receivers[0].bot_token: must be the token @BotFather gave"),
    (f"{{name: r, type: telegram, bot_token: '{TOKEN}'}}", "receivers[0].chat_id: is required"),
    (f"{{name: r, type: telegram, bot_token: '{TOKEN}', chat_id: sre}}",
     "receivers[0].chat_id: must be a numeric chat id (like -1001234567890) or a public channel's @username"),
    (f"{{name: r, type: telegram, bot_token: '{TOKEN}', chat_id: [1]}}",
     "receivers[0].chat_id: must be a numeric chat id"),
    (f"{{name: r, type: telegram, bot_token: '{TOKEN}', chat_id: 1, message_thread_id: 0}}",
     "receivers[0].message_thread_id: must be at least 1"),
    (f"{{name: r, type: telegram, bot_token: '{TOKEN}', chat_id: 1, parse_mode: MarkdownV2}}",
     "receivers[0].parse_mode: unknown field"),
    (f"{{name: r, type: telegram, bot_token: '{TOKEN}', chat_id: 1, templates: {{title: x}}}}",
     "receivers[0].templates.title: unknown field"),
    (f"{{name: r, type: telegram, bot_token: '{TOKEN}', chat_id: 1, disable_notification: maybe}}",
     "receivers[0].disable_notification: must be true or false"),
])
def test_config_errors_name_the_field(receiver: str, error: str) -> None:
    errors = config_errors(receiver)
    assert any(e.startswith(error) for e in errors), errors
    assert all(TOKEN not in e for e in errors)


def test_token_from_a_file_and_chat_ids_in_every_form(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text(TOKEN + "\n")
    for given, expected in (("-1001234567890", -1001234567890), ("'-42'", -42), ("'@sre_alerts'", "@sre_alerts")):
        config = loads(f"{RULES}receivers:\n  - {{name: r, type: telegram, bot_token_file: '{secret}', "
                       f"chat_id: {given}}}\n", {})
        assert config.receivers[0].options.bot_token == TOKEN
        assert config.receivers[0].options.chat_id == expected
        assert config.receivers[0].url == "https://api.telegram.org"
