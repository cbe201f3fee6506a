"""The `alertmanager` forwarder: posts the enriched alerts back into an Alertmanager (`POST /api/v2/alerts`).

Each alert becomes a postable alert: its labels as they are (plus `mark_label`, if set), its
annotations plus `<prefix>forwarded_by: amtriage`, `startsAt`, `generatorURL` when it has one, and
`endsAt` only when it is resolved. A firing alert's `endsAt` in a webhook is the zero time, so it is
left out and the Alertmanager applies its `resolve_timeout`; a resolved one carries its real end,
so the copy resolves when the original does. One POST per notification (Alertmanager takes any
number); it checks annotation names as label names, so `annotation_prefix` must fit `[a-zA-Z_][a-zA-Z0-9_]*`.

    receivers:
      - name: reinject
        type: alertmanager
        url: http://alertmanager:9093       # the base URL; /api/v2/alerts is added
        path_prefix: /alertmanager          # its --web.route-prefix, if any (default "")
        bearer_token_file: /etc/amtriage/am-token   # or basic: {username, password_file}
        mark_label: {name: amtriage_enriched, value: "true"}   # opt-in, see below

Closing the loop when this is the Alertmanager that feeds amtriage. Alertmanager routes match
labels, never annotations, so `forwarded_by` cannot keep a route from sending an alert back to
amtriage; it lets amtriage see that, and `already_enriched` (receiver.pipeline) makes amtriage pass such alerts through
without classifying them again (an annotation-only update changes no fingerprint, so Alertmanager
sends nothing new: at worst the alert comes back once per `repeat_interval`, unchanged).

Without `mark_label` (the default) a posted alert has the identity of its original and is merged
into it: fine for a separate downstream Alertmanager, but in the same one every new copy of the
original (Prometheus re-sends it each evaluation) replaces the annotations, and the humans' route
may notify before the enrichment lands. With `mark_label` the posted alert is a new alert (one
more label), so routes can tell the two apart. The trade-offs: both show in the UI; the originals
reach people only through amtriage (alert on amtriage's own health on a direct route); silences
and inhibitions on the original labels still match, a negative matcher on the new label does not.

    global:
      resolve_timeout: 1h      # the copies carry no endsAt while firing: they live this long ...
    route:
      receiver: amtriage       # every original goes to amtriage ...
      repeat_interval: 30m     # ... and again before resolve_timeout, which keeps its copy alive
      routes:
        - matchers: ['amtriage_enriched="true"']   # the copies amtriage posted back
          receiver: oncall                          # go to people, never to amtriage again
    receivers:
      - name: amtriage
        webhook_configs: [{url: "http://amtriage:9095/webhook", send_resolved: true}]
      - name: oncall
        ...
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from receiver.alerts import ZERO_TIME, Alert, Notification
from receiver.config import ReceiverConfig
from receiver.configread import Fields
from receiver.errors import PermanentDelivery, Reason
from receiver.forwarders.http import Deps, auth_headers, json_body, post
from receiver.forwarders.templates import truncate
from receiver.pipeline import FORWARDED_BY

MARK = "amtriage"
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_DETAIL_LIMIT = 200


@dataclass(frozen=True, slots=True)
class MarkLabel:
    """A label put on every posted alert, so Alertmanager routes can tell the copies apart."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class AlertmanagerOptions:
    path_prefix: str = ""
    mark_label: MarkLabel | None = None


def postable(alert: Alert, prefix: str, mark: MarkLabel | None, now: float) -> dict[str, Any]:
    """One alert in the shape of Alertmanager's `PostableAlert`."""
    labels = dict(alert.labels) if mark is None else {**alert.labels, mark.name: mark.value}
    doc: dict[str, Any] = {
        "labels": labels,
        "annotations": {**alert.annotations, prefix + FORWARDED_BY: MARK},
        "startsAt": alert.starts_at,
    }
    if alert.status == "resolved":
        doc["endsAt"] = alert.ends_at if alert.ends_at != ZERO_TIME else _rfc3339(now)
    if alert.generator_url:
        doc["generatorURL"] = alert.generator_url
    return doc


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_reply(status: int, headers: Mapping[str, str], body: bytes) -> None:
    """Alertmanager refuses alerts with 400 (a JSON string, or `{"code": 400, "message": ...}` when the
    body is not a list) or 422 (`{"code": 6xx, "message": ...}`, a schema check): permanent, and its
    short message says which alert field is wrong."""
    if status not in (400, 422):
        return
    doc = json_body(body)
    message = doc.get("message") if isinstance(doc, dict) else doc
    detail = f"HTTP {status}"
    if isinstance(message, str) and message:
        detail += ": " + truncate(message, _DETAIL_LIMIT)
    raise PermanentDelivery(Reason.CLIENT_ERROR, detail)


class AlertmanagerForwarder:
    """Posts each alert of a notification to an Alertmanager; see the module docstring for its config."""

    integration: ClassVar[str] = "alertmanager"
    default_url: ClassVar[str | None] = None

    @classmethod
    def options(cls, f: Fields) -> AlertmanagerOptions:
        prefix = f.string("path_prefix").rstrip("/")
        if prefix and not prefix.startswith("/"):
            f.error("path_prefix", "must start with /")
            prefix = ""
        return AlertmanagerOptions(prefix, _mark_label(f) if f.has("mark_label") else None)

    def __init__(self, config: ReceiverConfig, deps: Deps) -> None:
        self.name = config.name
        self.config = config
        self.settings: AlertmanagerOptions = config.options
        self.deps = deps
        self.url = config.url.rstrip("/") + self.settings.path_prefix + "/api/v2/alerts"
        self.headers = {**config.headers, **auth_headers(config.credentials)}

    async def send(self, notification: Notification, body: bytes) -> None:
        now = self.deps.clock()
        payload = [postable(a, self.deps.annotation_prefix, self.settings.mark_label, now)
                   for a in notification.alerts]
        await post(self.deps, self.url, payload, headers=self.headers, timeout=self.config.timeout,
                   check_body=check_reply)


def _mark_label(f: Fields) -> MarkLabel | None:
    is_mapping = isinstance(f.raw.get("mark_label"), dict)
    section = f.section("mark_label")  # reports a value that is not a mapping
    if not is_mapping:
        return None
    name = section.string("name", required=True)
    value = section.string("value", required=True)
    section.done()
    if name and (not _LABEL_NAME.match(name) or name.startswith("__")):
        section.error("name", "must be a label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)")
        return None
    return MarkLabel(name, value) if name and value else None


KIND = AlertmanagerForwarder
