"""The discord forwarder: an incoming-webhook execute with embeds, answered as Discord answers `?wait=true`."""

from __future__ import annotations

import orjson

from receiver.alerts import Notification
from tests.fakes import Received, Reply
from tests.forwarder_cases import Case

WEBHOOK_ID = "1223334444555566666"
TOKEN = "Xq3vN8kd_2LmZpR7sT0wYbC4fG9hJ1eA6uI5oP-zQxVnMbK8lWjH3gF2dS1aE0rT9yUcV"
PATH = f"/api/webhooks/{WEBHOOK_ID}/{TOKEN}"
JSON = {"Content-Type": "application/json"}
RED = 0xE74C3C


def reply(status: int, doc: object, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {**JSON, **(headers or {})}, orjson.dumps(doc))


def message_object(content: str) -> dict[str, object]:
    """What `POST /webhooks/{id}/{token}?wait=true` returns: the created message."""
    author = {"id": WEBHOOK_ID, "username": "amtriage", "avatar": None, "discriminator": "0000", "bot": True}
    return {"type": 0, "content": content, "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
            "timestamp": "2026-11-21T23:25:40.512000+00:00", "edited_timestamp": None, "flags": 0,
            "components": [], "id": "1309876543210987654", "channel_id": "1209876543210987654",
            "author": author, "pinned": False, "mention_everyone": False, "tts": False, "webhook_id": WEBHOOK_ID}


def check_request(received: list[Received], notification: Notification) -> None:
    [request] = received
    assert request.path == PATH
    assert request.headers["Content-Type"] == "application/json"
    assert "Authorization" not in request.headers  # the token is in the URL
    body = request.json()
    assert body["username"] == "amtriage"
    assert body["allowed_mentions"] == {"parse": ["users", "roles"]}
    assert "FIRING · CRITICAL" in body["content"]  # ai_severity wins over the `severity: warning` label
    assert "HighLatency" in body["content"]
    assert "Filesystem /var is almost full" in body["content"]
    assert "• df -h /var" in body["content"]
    assert len(body["embeds"]) == len(notification.alerts) == 3
    for embed, alert in zip(body["embeds"], notification.alerts, strict=True):
        assert embed["color"] == RED
        assert alert.labels["instance"] in embed["title"]
        assert {"name": "instance", "value": alert.labels["instance"], "inline": True} in embed["fields"]
        assert {"name": "category", "value": "storage", "inline": True} in embed["fields"]
        assert alert.fingerprint in embed["footer"]["text"]
        assert embed["timestamp"] == "2026-11-21T23:25:27.989Z"


def check_limits(received: list[Received]) -> None:
    assert len(received) <= 5  # max_messages: Discord takes 5 requests per 2 s per webhook
    for request in received:
        body = request.json()
        assert len(body.get("content", "")) <= 2000
        assert 1 <= len(body["embeds"]) <= 10
        total = 0
        for embed in body["embeds"]:
            assert len(embed["title"]) <= 256
            assert len(embed.get("description", "")) <= 4096
            assert len(embed["fields"]) <= 25
            assert all(len(f["name"]) <= 256 and 1 <= len(f["value"]) <= 1024 for f in embed["fields"])
            assert len(embed["footer"]["text"]) <= 2048
            total += (len(embed["title"]) + len(embed.get("description", "")) + len(embed["footer"]["text"])
                      + sum(len(f["name"]) + len(f["value"]) for f in embed["fields"]))
        assert total <= 6000
    assert "10 more alerts not shown" in received[-1].json()["content"]


CASE = Case(
    kind="discord",
    receiver=lambda base: f"{{name: r, type: discord, url: '{base}{PATH}', username: amtriage}}",
    check_request=check_request,
    ok=reply(200, message_object("🔥 FIRING")),
    retryable=[
        (reply(429, {"message": "You are being rate limited.", "retry_after": 0.52, "global": False},
               {"Retry-After": "1", "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset-After": "0.520", "X-RateLimit-Bucket": "a06de8b4e3f5", "X-RateLimit-Scope": "user"}),
         0.52),
        (reply(429, {"message": "You are being rate limited.", "retry_after": 12.7, "global": True},
               {"Retry-After": "13", "X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"}), 12.7),
        (Reply(429, {"X-RateLimit-Reset-After": "2.25", "Retry-After": "3"}, b""), 2.25),
        (Reply(429, {"Retry-After": "30", "Content-Type": "text/html"},
               b"<html><body>error code: 1015</body></html>"), 30.0),  # Cloudflare's ban
        (reply(500, {"message": "500: Internal Server Error", "code": 0}), None),
        (Reply(502, {"Content-Type": "text/html"}, b"<html><h1>502 Bad Gateway</h1></html>"), None),
    ],
    permanent=[
        reply(400, {"code": 50006, "message": "Cannot send an empty message"}),
        reply(400, {"code": 50035, "message": "Invalid Form Body", "errors": {"embeds": {"0": {"title": {
            "_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 256 or fewer in length."}]}}}}}),
        reply(401, {"code": 50027, "message": "Invalid Webhook Token"}),
        reply(403, {"code": 50001, "message": "Missing Access"}),
        reply(404, {"code": 10015, "message": "Unknown Webhook"}),
    ],
    check_limits=check_limits,
    secrets=(TOKEN,),
)
