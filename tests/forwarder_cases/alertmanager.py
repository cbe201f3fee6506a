"""The alertmanager forwarder: `POST /api/v2/alerts` with postable alerts, answered as Alertmanager 0.25 answers.

The reply shapes are the real binary's: 200 with an empty body; 400 with a JSON string ("start time
must be before end time") or `{"code":400,"message":...}` for a body that is not a list; 422
`{"code":602,...}` from its schema check; 401 from `--web.config.file` basic auth; 404 for a wrong
route prefix. 429 and Retry-After come from a proxy in front of it.
"""

from __future__ import annotations

import re

from receiver.alerts import Notification
from tests.fakes import Received, Reply
from tests.forwarder_cases import Case

TOKEN = "am-reinject-token-5c1e9a"
JSON = {"Content-Type": "application/json"}
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def check_request(received: list[Received], notification: Notification) -> None:
    [request] = received
    assert request.path == "/am/api/v2/alerts"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    posted = request.json()
    assert isinstance(posted, list)
    assert len(posted) == len(notification.alerts)
    for doc, alert in zip(posted, notification.alerts, strict=True):
        assert set(doc) <= {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}
        assert doc["labels"] == dict(alert.labels)
        assert doc["annotations"] == {**alert.annotations, "ai_forwarded_by": "amtriage"}
        assert doc["annotations"]["ai_severity"] == "critical"
        assert doc["startsAt"] == alert.starts_at
        assert ("endsAt" in doc) == (alert.status == "resolved")
        assert doc.get("generatorURL", "") == alert.generator_url


def check_limits(received: list[Received]) -> None:
    """Alertmanager takes any number of alerts in one POST; each must pass its validation."""
    [request] = received
    posted = request.json()
    assert len(posted) == 60
    for doc in posted:
        assert doc["labels"]
        assert all(LABEL_NAME.match(name) for name in (*doc["labels"], *doc["annotations"]))
        assert "endsAt" not in doc


CASE = Case(
    kind="alertmanager",
    receiver=lambda base: (f"{{name: r, type: alertmanager, url: '{base}', path_prefix: /am, "
                           f"bearer_token: {TOKEN}}}"),
    check_request=check_request,
    ok=Reply(200, body=b""),
    retryable=[
        (Reply(503, {"Retry-After": "7"}, b"upstream connect error"), 7.0),
        (Reply(429, {"Retry-After": "Fri, 15 Jan 2027 08:02:00 GMT"}, b"Too Many Requests"), 120.0),
        (Reply(500, JSON, b'"failed to create alerts"'), None),
        (Reply(502, {}, b"<html>Bad Gateway</html>"), None),
    ],
    permanent=[
        Reply(400, JSON, b'"start time must be before end time"'),
        Reply(400, JSON, b'{"code":400,"message":"parsing alerts body from \\"\\" failed, because json: '
                         b'cannot unmarshal object into Go value of type models.PostableAlerts"}'),
        Reply(422, JSON, b'{"code":602,"message":"0.labels in body is required"}'),
        Reply(401, {"WWW-Authenticate": "Basic"}, b"Unauthorized\n"),
        Reply(404, {}, b"404 page not found\n"),
    ],
    check_limits=check_limits,
    secrets=(TOKEN,),
)
