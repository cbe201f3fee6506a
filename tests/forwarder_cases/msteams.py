"""The msteams forwarder: an Adaptive Card posted to a Teams Workflows (Power Automate) webhook.

Workflows answer 202 with an empty body and errors as Logic Apps JSON; the retired O365 connectors
answered 200 `1`, and reported throttling and failures inside a 200 with a text body.
"""

from __future__ import annotations

from typing import Any

from receiver.alerts import Notification
from tests.fakes import Received, Reply
from tests.forwarder_cases import Case

SIG = "kq3ZtV8xR1mN0pL7wQ2eY5uI9oA4sD6fG8hJ1kL3zX0"
PATH = "/powerautomate/automations/direct/workflows/5f0c2a7be1d94c3a8d6b2e4f9a1c7d30/triggers/manual/paths/invoke"
QUERY = f"api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIG}"
THROTTLED = (b"Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 "
             b"with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deadbeef=2..")
TOO_LARGE = (b"Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413 "
             b"with ContextId tcid=0,server=msgapi-production-weu-azsc2-1-12,cv=deadbeef=2..")


def logic_apps_error(status: int, code: str, message: str, **headers: str) -> Reply:
    body = f'{{"error":{{"code":"{code}","message":"{message}"}}}}'.encode()
    return Reply(status, {"Content-Type": "application/json; charset=utf-8", **headers}, body)


def card(request: Received) -> dict[str, Any]:
    message = request.json()
    assert message["type"] == "message"
    [attachment] = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    content: dict[str, Any] = attachment["content"]
    assert content["type"] == "AdaptiveCard"
    assert content["version"] == "1.4"
    return content


def check_request(received: list[Received], notification: Notification) -> None:
    [request] = received
    assert request.path == PATH
    assert "Authorization" not in request.headers  # the sig in the URL is the credential
    assert request.headers["Content-Type"] == "application/json"
    content = card(request)
    head = content["body"][0]
    assert head["style"] == "attention"  # ai_severity critical, though the alerts' own label says warning
    assert head["items"][0]["text"] == "🔴 [FIRING:3] HighLatency"
    assert "Filesystem /var is almost full" in head["items"][1]["text"]
    assert "- df -h /var" in head["items"][1]["text"]
    facts = [f for c in content["body"][1:4] for f in c["items"][1]["facts"]]
    assert {f["value"] for f in facts if f["title"] == "instance"} == {a.labels["instance"]
                                                                       for a in notification.alerts}
    assert content["actions"][0] == {"type": "Action.OpenUrl", "title": "Open Alertmanager",
                                     "url": "http://127.0.0.1:19093"}


def check_limits(received: list[Received]) -> None:
    for request in received:
        assert len(request.body) <= 28_000  # Teams refuses cards over about 28 KB
        body = card(request)["body"]
        assert any(b.get("text", "").startswith("…and ") for b in body)  # what did not fit is counted


CASE = Case(
    kind="msteams",
    receiver=lambda base: f"{{name: r, type: msteams, url: '{base}{PATH}?{QUERY}'}}",
    check_request=check_request,
    ok=Reply(202, {}, b""),
    retryable=[
        (logic_apps_error(429, "TooManyRequests", "Rate limit is exceeded. Try again in 17 seconds.",
                          **{"Retry-After": "17"}), 17.0),
        (Reply(200, {"Content-Type": "text/plain; charset=utf-8"}, THROTTLED), None),
        (logic_apps_error(502, "BadGateway", "The workflow could not be reached."), None),
        (Reply(504, {}, b""), None),
    ],
    permanent=[
        logic_apps_error(400, "TriggerInputSchemaMismatch",
                         "The input body for trigger 'manual' of type 'Request' did not match its schema definition."),
        logic_apps_error(401, "DirectApiAuthorizationRequired",
                         "The request must be authenticated only by Shared Access scheme."),
        logic_apps_error(404, "WorkflowNotFound", "The workflow was not found."),
        Reply(200, {"Content-Type": "text/plain; charset=utf-8"}, TOO_LARGE),
    ],
    failing_ok=[
        Reply(200, {"Content-Type": "text/plain; charset=utf-8"}, THROTTLED),
        Reply(200, {"Content-Type": "text/plain; charset=utf-8"}, TOO_LARGE),
        Reply(200, {"Content-Type": "text/plain; charset=utf-8"}, b"Webhook message delivery failed with error: "
                                                                   b"ConnectorConfigurationNotFound"),
    ],
    check_limits=check_limits,
    secrets=(SIG,),
)
