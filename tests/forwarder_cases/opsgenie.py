"""The opsgenie forwarder: one Alert API create (or close) per alert, alias = fingerprint, GenieKey auth."""

from __future__ import annotations

import orjson

from receiver.alerts import Notification
from tests.fakes import Received, Reply
from tests.forwarder_cases import Case

API_KEY = "3f1e0c9a-5b7d-4e2f-8a6c-9d0b1e2f3a4c"  # an API integration's key, a UUID


def reply(status: int, body: dict[str, object], headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"Content-Type": "application/json", **(headers or {})},
                 orjson.dumps({**body, "took": 0.002, "requestId": "2c1fd8a2-6b2e-4d6c-9a47-0f6e2b1c7d3e"}))


def check_request(received: list[Received], notification: Notification) -> None:
    assert len(received) == len(notification.alerts)  # one request per alert
    for request, alert in zip(received, notification.alerts, strict=True):
        assert request.path == "/v2/alerts"
        assert request.headers["Authorization"] == f"GenieKey {API_KEY}"
        assert request.headers["Content-Type"] == "application/json"
        body = request.json()
        assert body["alias"] == alert.fingerprint
        assert body["message"] == "HighLatency: Filesystem /var is almost full"
        assert body["priority"] == "P1"  # ai_severity critical, whatever the `severity: warning` label says
        assert body["source"] == notification.external_url
        assert body["entity"] == alert.labels["instance"]
        assert body["tags"] == ["HighLatency", "severity:critical", "category:storage", "prod"]
        assert body["responders"] == [{"name": "sre", "type": "team"}]
        assert all(isinstance(v, str) for v in body["details"].values())
        assert body["details"]["instance"] == alert.labels["instance"]
        assert body["details"]["ai_category"] == "storage"
        assert body["details"]["ai_recommendations"] == "df -h /var\ndu -xh /var | sort -rh | head"
        assert "- df -h /var" in body["description"]
        assert alert.annotations["description"] in body["description"]


def check_limits(received: list[Received]) -> None:
    assert len(received) == 60
    for request in received:
        body = request.json()
        assert 0 < len(body["message"]) <= 130
        assert len(body["alias"]) <= 512
        assert len(body["description"]) <= 15_000
        assert len(body.get("entity", "")) <= 512
        assert len(body["source"]) <= 100
        assert len(body["tags"]) <= 20
        assert all(len(t) <= 50 for t in body["tags"])
        assert sum(len(k) + len(v) for k, v in body["details"].items()) <= 8000


CASE = Case(
    kind="opsgenie",
    receiver=lambda base: (f"{{name: r, type: opsgenie, url: '{base}', api_key: {API_KEY}, tags: [prod], "
                           f"responders: [{{type: team, name: sre}}]}}"),
    check_request=check_request,
    ok=reply(202, {"result": "Request will be processed"}),
    retryable=[
        (reply(429, {"message": "You are making too many requests! To avoid errors, we recommend you limit requests."},
               {"X-RateLimit-State": "THROTTLED", "X-RateLimit-Period-In-Sec": "60"}), 60.0),
        (reply(429, {"message": "You are making too many requests!"},
               {"X-RateLimit-State": "THROTTLED", "X-RateLimit-Period-In-Sec": "1", "Retry-After": "3"}), 3.0),
        (reply(500, {"message": "Internal Server Error"}), None),
        (Reply(503, {"Retry-After": "7"}, b"<html>Service Unavailable</html>"), 7.0),
    ],
    permanent=[
        reply(422, {"message": "Request body is not processable. Please check the errors.",
                    "errors": {"message": "Message can not be empty."}}),
        reply(401, {"message": "Key format is not valid!"}),
        reply(403, {"message": "You are not authorized for this action!"}),
        reply(404, {"message": "Could not find resource"}),
    ],
    check_limits=check_limits,
    secrets=(API_KEY,),
)
