"""The pagerduty forwarder: one Events API v2 event per alert on /v2/enqueue, keyed by fingerprint."""

from __future__ import annotations

import orjson

from receiver.alerts import Notification
from tests.fakes import Received, Reply
from tests.forwarder_cases import Case

ROUTING_KEY = "R03f9c2a7e1d84b6c9f0a5e2d7b3c1f8"  # 32 characters, as PagerDuty issues them


def reply(status: int, body: dict[str, object], headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"Content-Type": "application/json", **(headers or {})}, orjson.dumps(body))


def check_request(received: list[Received], notification: Notification) -> None:
    assert len(received) == len(notification.alerts)  # one event per alert
    for request, alert in zip(received, notification.alerts, strict=True):
        assert request.path == "/v2/enqueue"
        assert request.headers["Content-Type"] == "application/json"
        event = request.json()
        assert event["routing_key"] == ROUTING_KEY
        assert event["dedup_key"] == alert.fingerprint
        assert event["event_action"] == "trigger"
        assert event["client"] == "amtriage"
        assert event["client_url"] == notification.external_url
        payload = event["payload"]
        assert payload["severity"] == "critical"  # ai_severity wins over the `severity: warning` label
        assert payload["summary"] == f"HighLatency on {alert.labels['instance']}: Filesystem /var is almost full"
        assert payload["source"] == alert.labels["instance"]
        assert payload["timestamp"] == "2026-11-21T23:25:27.989Z"
        assert payload["class"] == "storage"
        details = payload["custom_details"]
        assert details["labels"] == dict(alert.labels)
        assert details["annotations"]["summary"] == alert.annotations["summary"]
        assert "ai_summary" not in details["annotations"]
        assert details["enrichment"]["recommendations"] == ["df -h /var", "du -xh /var | sort -rh | head"]
        assert details["enrichment"]["confidence"] == 0.9
        assert details["enrichment"]["model"] == "rules/disk-space"


def check_limits(received: list[Received]) -> None:
    assert len(received) == 60
    for request in received:
        assert len(request.body) <= 512_000
        event = request.json()
        assert len(event["dedup_key"]) <= 255
        assert len(event["payload"]["summary"]) <= 1024
        assert event["payload"]["summary"]
        assert event["payload"]["source"]
        assert event["payload"]["severity"] in ("critical", "error", "warning", "info")


CASE = Case(
    kind="pagerduty",
    receiver=lambda base: f"{{name: r, type: pagerduty, url: '{base}/v2/enqueue', routing_key: {ROUTING_KEY}}}",
    check_request=check_request,
    ok=reply(202, {"status": "success", "message": "Event processed", "dedup_key": "f48debb27fbe7af7"}),
    retryable=[
        (reply(429, {"status": "throttle event", "message": "Requests for this service are arriving too quickly. "
                                                           "Please retry later."}), 30.0),
        (reply(429, {"status": "throttle event", "message": "Too many requests"}, {"Retry-After": "12"}), 12.0),
        (reply(500, {"status": "Internal Server Error", "message": "An error occurred"}), None),
        (Reply(503, {"Retry-After": "7"}, b"<html>Service Unavailable</html>"), 7.0),
    ],
    permanent=[
        reply(400, {"status": "invalid event", "message": "Event object is invalid",
                    "errors": ["'payload.summary' is missing or blank"]}),
        reply(400, {"status": "Unrecognized object", "message": "Event object format is unrecognized",
                    "errors": ["JSON parse error"]}),
        Reply(404, {}, b"Not Found"),
    ],
    check_limits=check_limits,
    secrets=(ROUTING_KEY,),
)
