"""The slack forwarder in Web API mode: chat.postMessage with a bot token, Slack's `{"ok": ...}` replies.

(Incoming-webhook mode, with its text replies, is in tests/test_forwarders_slack.py.)
"""

from __future__ import annotations

from typing import Any

from receiver.alerts import Notification
from tests.fakes import Received, Reply
from tests.forwarder_cases import Case

TOKEN = "xoxb-2718281828-3141592653589-Zk8qL2vNw4rTyUe6PoI1aSdF"
JSON = {"Content-Type": "application/json; charset=utf-8"}
OK = (b'{"ok":true,"channel":"C0123ABCDEF","ts":"1732231527.000100",'
      b'"message":{"type":"message","subtype":"bot_message","text":"[FIRING:3] HighLatency",'
      b'"ts":"1732231527.000100","bot_id":"B0123ABCDEF"}}')


def failed(error: str, status: int = 200, **headers: str) -> Reply:
    """Slack's Web API error reply: usually HTTP 200, `ok: false` and a short error word."""
    return Reply(status, {**JSON, **headers}, b'{"ok":false,"error":"' + error.encode() + b'"}')


def texts(message: dict[str, Any]) -> list[str]:
    blocks = message["blocks"]
    return ([b["text"]["text"] for b in blocks if "text" in b]
            + [f["text"] for b in blocks for f in b.get("fields", ())]
            + [e["text"] for b in blocks for e in b.get("elements", ())])


def check_request(received: list[Received], notification: Notification) -> None:
    [request] = received
    assert request.path == "/api/chat.postMessage"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    message = request.json()
    assert message["channel"] == "#ops-alerts"
    assert message["text"].startswith("🔴 [FIRING:3] HighLatency")  # ai_severity critical beats the label's warning
    header, summary = message["blocks"][:2]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "🔴 [FIRING:3] HighLatency"}}
    assert "severity *critical*" in summary["text"]["text"]
    assert "Filesystem /var is almost full" in summary["text"]["text"]
    assert "• du -xh /var | sort -rh | head" in summary["text"]["text"]
    every = "\n".join(texts(message))
    for alert in notification.alerts:
        assert alert.labels["instance"] in every
    assert "<http://127.0.0.1:19093|Alertmanager>" in every


def check_limits(received: list[Received]) -> None:
    for request in received:
        message = request.json()
        blocks = message["blocks"]
        assert len(message["text"]) <= 40_000
        assert len(blocks) <= 50
        assert sum(map(len, texts(message))) <= 12_000  # beyond this Slack answers msg_blocks_too_long
        for block in blocks:
            if block["type"] == "header":
                assert block["text"]["type"] == "plain_text"
                assert len(block["text"]["text"]) <= 150
            if block["type"] == "section":
                assert 0 < len(block["text"]["text"]) <= 3000
                assert len(block.get("fields", ())) <= 10
                assert all(len(f["text"]) <= 2000 for f in block.get("fields", ()))
            if block["type"] == "context":
                assert len(block["elements"]) <= 10
        assert any(t.startswith("…and ") for t in texts(message))  # what did not fit is counted, not dropped


CASE = Case(
    kind="slack",
    receiver=lambda base: (f"{{name: r, type: slack, url: '{base}/api/chat.postMessage', token: {TOKEN}, "
                           f"channel: '#ops-alerts'}}"),
    check_request=check_request,
    ok=Reply(200, JSON, OK),
    retryable=[
        (failed("ratelimited", 429, **{"Retry-After": "30"}), 30.0),
        (failed("ratelimited", 429, **{"Retry-After": "1"}), 1.0),
        (failed("internal_error"), None),
        (failed("fatal_error"), None),
        (failed("service_unavailable", 503), None),
        (Reply(502, {"Content-Type": "text/html"}, b"<html><body>502 Bad Gateway</body></html>"), None),
    ],
    permanent=[
        failed("invalid_auth"), failed("not_authed"), failed("token_revoked"), failed("account_inactive"),
        failed("channel_not_found"), failed("not_in_channel"), failed("is_archived"), failed("msg_too_long"),
        failed("invalid_blocks"), failed("missing_scope"),
    ],
    failing_ok=[failed("channel_not_found"), failed("internal_error"), failed("invalid_blocks"),
                Reply(200, {"Content-Type": "text/html"}, b"<html><body>Sign in to the Wi-Fi</body></html>"),
                Reply(200, JSON, b'{"status":"accepted"}')],
    check_limits=check_limits,
    secrets=(TOKEN,),
)
