"""The webhook forwarder: the stored Alertmanager v4 body, byte for byte, with the configured auth."""

from __future__ import annotations

import base64

from receiver.alerts import Notification
from tests.fakes import Received, Reply
from tests.forwarder_cases import Case

PASSWORD = "hook-password-9f2"


def check_request(received: list[Received], notification: Notification) -> None:
    [request] = received
    assert request.path == "/hook"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"am:{PASSWORD}".encode()).decode()
    assert request.headers["X-Team"] == "sre"
    assert request.json()["alerts"][0]["labels"] == dict(notification.alerts[0].labels)


CASE = Case(
    kind="webhook",
    receiver=lambda base: (f"{{name: r, type: webhook, url: '{base}/hook', headers: {{X-Team: sre}}, "
                           f"basic: {{username: am, password: {PASSWORD}}}}}"),
    check_request=check_request,
    ok=Reply(200),
    retryable=[(Reply(503, {"Retry-After": "7"}), 7.0), (Reply(429), None), (Reply(500), None)],
    permanent=[Reply(400), Reply(401), Reply(404)],
    secrets=(PASSWORD,),
)
