"""The telegram forwarder: Bot API sendMessage with the token in the path, answered in the Bot API's shapes."""

from __future__ import annotations

from html.parser import HTMLParser

import orjson

from receiver.alerts import Notification
from tests.fakes import Received, Reply
from tests.forwarder_cases import Case

TOKEN = "7434127865:AAHx9f2Kd0pQ-mZs8vB1wYtR3uLcE5nJ6gH"
CHAT_ID = -1001234567890
JSON = {"Content-Type": "application/json"}
TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code", "pre",
        "blockquote", "tg-emoji"}  # what Telegram's HTML style accepts


def reply(status: int, doc: object) -> Reply:
    return Reply(status, JSON, orjson.dumps(doc))


def error(code: int, description: str, **parameters: object) -> Reply:
    doc: dict[str, object] = {"ok": False, "error_code": code, "description": description}
    return reply(code, {**doc, "parameters": parameters} if parameters else doc)


SENT = {"ok": True, "result": {
    "message_id": 4711, "date": 1795303527, "message_thread_id": 42, "is_topic_message": True,
    "from": {"id": 7434127865, "is_bot": True, "first_name": "amtriage", "username": "amtriage_bot"},
    "chat": {"id": CHAT_ID, "title": "SRE alerts", "type": "supergroup", "is_forum": True},
    "text": "🔥 FIRING · CRITICAL HighLatency", "entities": [{"offset": 3, "length": 18, "type": "bold"}],
    "link_preview_options": {"is_disabled": True}}}


class Visible(HTMLParser):
    """What Telegram shows of an HTML text, and whether its tags are ones it accepts and balanced."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.shown: list[str] = []
        self.open: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in TAGS, tag
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open, tag
        assert self.open.pop() == tag, tag

    def handle_data(self, data: str) -> None:
        self.shown.append(data)

    @property
    def length(self) -> int:
        """In UTF-16 code units, as Telegram counts."""
        return len("".join(self.shown).encode("utf-16-le")) // 2


def check_request(received: list[Received], notification: Notification) -> None:
    [request] = received
    assert request.path == f"/bot{TOKEN}/sendMessage"
    assert request.headers["Content-Type"] == "application/json"
    body = request.json()
    assert body["chat_id"] == CHAT_ID
    assert body["message_thread_id"] == 42
    assert body["parse_mode"] == "HTML"
    assert body["link_preview_options"] == {"is_disabled": True}
    assert "disable_notification" not in body
    text = body["text"]
    assert text.startswith("🔥 <b>FIRING · CRITICAL</b> HighLatency — 3 firing")  # ai_severity over the label
    assert text.count("<b>Filesystem /var is almost full</b>") == 1  # the shared summary, once
    assert text.count("• df -h /var") == 1
    for alert in notification.alerts:
        assert f"<code>instance={alert.labels['instance']}</code>" in text
    assert not Visible(text).open


def check_limits(received: list[Received]) -> None:
    assert 1 < len(received) <= 4  # max_messages
    for number, request in enumerate(received, 1):
        body = request.json()
        assert body["chat_id"] == CHAT_ID
        text = body["text"]
        visible = Visible(text)
        assert 1 <= visible.length <= 4096
        assert len(text.encode()) <= 1 << 15
        assert not visible.open
        assert f"({number}/{len(received)}" in text
    assert "cut here" in received[-1].json()["text"]


CASE = Case(
    kind="telegram",
    receiver=lambda base: (f"{{name: r, type: telegram, url: '{base}', bot_token: '{TOKEN}', "
                           f"chat_id: {CHAT_ID}, message_thread_id: 42}}"),
    check_request=check_request,
    ok=reply(200, SENT),
    retryable=[
        (error(429, "Too Many Requests: retry after 5", retry_after=5), 5.0),
        (error(500, "Internal Server Error"), None),
        (error(502, "Bad Gateway"), None),
        (Reply(502, {"Content-Type": "text/html"}, b"<html><center><h1>502 Bad Gateway</h1></center></html>"), None),
    ],
    permanent=[
        error(400, "Bad Request: chat not found"),
        error(400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to_chat_id=-1001987654321),
        error(400, 'Bad Request: can\'t parse entities: Unsupported start tag "foo" at byte offset 12'),
        error(401, "Unauthorized"),
        error(403, "Forbidden: bot was blocked by the user"),
        error(404, "Not Found"),
    ],
    failing_ok=[
        reply(200, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"}),
        reply(200, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 3",
                    "parameters": {"retry_after": 3}}),
    ],
    check_limits=check_limits,
    secrets=(TOKEN, TOKEN.split(":")[1]),
)
