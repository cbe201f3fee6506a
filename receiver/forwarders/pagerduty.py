"""The `pagerduty` forwarder: one Events API v2 event per alert, deduplicated by the alert's fingerprint.

Every alert of a notification is its own event with `dedup_key` = the alert's fingerprint: a firing
alert sent again (Alertmanager's repeat, or our own retry) lands on the open PagerDuty alert instead
of paging twice, and a resolved alert sends `resolve` for exactly that key. If any event of a
notification fails, the send fails (a retryable failure wins over a permanent one) and the whole
notification is tried again later; the events PagerDuty already accepted are deduplicated by their
`dedup_key` on that retry, so nobody is paged twice. After a 429, a timeout, a network or an auth
error the remaining events are not sent in this attempt (they would fail alike).

    receivers:
      - name: sre-pager
        type: pagerduty
        routing_key_file: /etc/amtriage/pagerduty-key  # or routing_key: the 32-character integration key
        # url: https://events.pagerduty.com/v2/enqueue # the default
        client: amtriage                # the event's client, linked to the Alertmanager (externalURL)
        default_severity: error         # when neither ai_severity nor a `severity` label gives one
        templates:                      # Jinja2: the message context plus `alert` (the one sent), `severity`
          summary: "{{ alert.labels.alertname }}: {{ alert.annotations.summary }}"
          source: "{{ alert.labels.instance }}"

Severity: ai_severity (critical, warning, info), else the alert's `severity` label (page/high/minor
and the like map onto PagerDuty's critical, error, warning, info), else `default_severity`.
Payload: summary (at most 1024 characters), source, severity, timestamp (startsAt), component, group
and class from labels of those names (class falls back to ai_category), custom_details (labels,
annotations, enrichment with recommendations as a list); links to generatorURL and runbook_url.
An event over PagerDuty's 512 KB has its custom details shortened, then replaced by a note.
A 429 without Retry-After waits 30 s, the spacing PagerDuty recommends.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import orjson

from receiver.alerts import Notification
from receiver.config import ReceiverConfig
from receiver.configread import Fields
from receiver.errors import PermanentDelivery, Reason, RetryableDelivery
from receiver.forwarders import templates
from receiver.forwarders.http import Deps, auth_headers, json_body, post, retry_after, send_each

SEVERITIES = ("critical", "error", "warning", "info")
SUMMARY_MAX = 1024
SOURCE_MAX = 1024
DEDUP_KEY_MAX = 255
EVENT_MAX_BYTES = 512_000
DETAIL_MAX = 1000  # characters per custom detail once an event is over EVENT_MAX_BYTES
THROTTLED_WAIT = 30.0
ROUTING_KEY_LENGTH = 32
_WORDS: dict[str, str] = {
    **dict.fromkeys(("critical", "page", "emergency", "fatal", "disaster"), "critical"),
    **dict.fromkeys(("error", "high", "major"), "error"),
    **dict.fromkeys(("warning", "warn", "medium", "minor", "average"), "warning"),
    **dict.fromkeys(("info", "informational", "low", "none", "notice"), "info"),
}
T = TypeVar("T")
_SUBSECOND = re.compile(r"(\.\d{3})\d+")

DEFAULTS = {
    "summary": ("{{ alert.labels.alertname or 'alert' }}"
                "{% if alert.labels.instance %} on {{ alert.labels.instance }}{% endif %}"
                "{% set text = alert.ai.summary or alert.annotations.summary or alert.annotations.description %}"
                "{% if text %}: {{ text }}{% endif %}"),
    "source": "{{ alert.labels.instance or alert.labels.job or alert.labels.service or externalURL or 'amtriage' }}",
}


@dataclass(frozen=True, slots=True)
class PagerDutyOptions:
    routing_key: str = field(repr=False)  # a secret: kept out of logs and error texts
    client: str = "amtriage"
    default_severity: str = "error"
    templates: Mapping[str, str] = field(default_factory=dict)


def severity(ai: Mapping[str, str], labels: Mapping[str, str], default: str) -> str:
    """PagerDuty's severity: the enrichment's, else the `severity` label's word, else `default`."""
    for word in (ai.get("severity", ""), labels.get("severity", "")):
        found = _WORDS.get(word.strip().lower())
        if found:
            return found
    return default


def custom_details(alert: Mapping[str, Any]) -> dict[str, Any]:
    """Labels, annotations and the enrichment (recommendations as a list, confidence as a number)."""
    enrichment: dict[str, Any] = dict(alert["ai"])
    if "recommendations" in enrichment:
        enrichment["recommendations"] = [r for r in enrichment["recommendations"].splitlines() if r.strip()]
    with contextlib.suppress(KeyError, ValueError):
        enrichment["confidence"] = float(enrichment["confidence"])
    details = {"labels": alert["labels"], "annotations": alert["annotations"]}
    return {**details, "enrichment": enrichment} if enrichment else details


def _shorten(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return templates.truncate(value, limit)
    if isinstance(value, dict):
        return {k: _shorten(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v, limit) for v in value]
    return value


def encode(event: dict[str, Any]) -> bytes:
    """The event as JSON within EVENT_MAX_BYTES: custom details shortened, then dropped, if need be."""
    data = orjson.dumps(event)
    payload = event.get("payload")
    if len(data) <= EVENT_MAX_BYTES or payload is None:
        return data
    details = payload["custom_details"]
    for replacement in (_shorten(details, DETAIL_MAX),
                        {"error": "custom details removed: the event exceeded PagerDuty's 512 KB"}):
        payload["custom_details"] = replacement
        data = orjson.dumps(event)
        if len(data) <= EVENT_MAX_BYTES:
            break
    return data


class PagerDutyForwarder:
    """Sends each alert as an Events API v2 trigger or resolve; see the module docstring for its config."""

    integration: ClassVar[str] = "pagerduty"
    default_url: ClassVar[str | None] = "https://events.pagerduty.com/v2/enqueue"

    @classmethod
    def options(cls, f: Fields) -> PagerDutyOptions:
        key = f.required_secret("routing_key")
        if key and len(key) != ROUTING_KEY_LENGTH:
            f.error("routing_key", f"must be the {ROUTING_KEY_LENGTH}-character integration key "
                                   f"of an Events API v2 integration (got {len(key)} characters)")
        return PagerDutyOptions(
            routing_key=key,
            client=f.string("client", "amtriage"),
            default_severity=f.choice("default_severity", "error", SEVERITIES),
            templates=templates.template_options(f, tuple(DEFAULTS)),
        )

    def __init__(self, config: ReceiverConfig, deps: Deps) -> None:
        self.name = config.name
        self.config = config
        self.settings: PagerDutyOptions = config.options
        self.deps = deps
        self.headers = {**config.headers, **auth_headers(config.credentials)}
        self.texts = templates.Templates(config.name, DEFAULTS, self.settings.templates, deps.on_template_error)

    async def send(self, notification: Notification, body: bytes) -> None:
        context = templates.message_context(notification, self.deps.annotation_prefix)
        events = [encode(self.event(self.alert_context(context, alert))) for alert in context["alerts"]]
        await send_each(self._post, events)

    def alert_context(self, context: Mapping[str, Any], alert: Mapping[str, Any]) -> dict[str, Any]:
        """The message context for one alert's texts: `alert`, and `severity` as PagerDuty gets it."""
        return {**context, "alert": alert,
                "severity": severity(alert["ai"], alert["labels"], self.settings.default_severity)}

    async def _post(self, event: bytes) -> None:
        await post(self.deps, self.config.url, event, headers=self.headers, timeout=self.config.timeout,
                   check_body=self._check_body)

    def event(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """The event for `context["alert"]`: a resolve for a resolved alert, else a full trigger."""
        alert = context["alert"]
        event: dict[str, Any] = {"routing_key": self.settings.routing_key,
                                 "dedup_key": alert["fingerprint"][:DEDUP_KEY_MAX]}
        if alert["status"] == "resolved":
            return {**event, "event_action": "resolve"}
        event.update(event_action="trigger", payload=self.payload(context), client=self.settings.client)
        if context["externalURL"]:
            event["client_url"] = context["externalURL"]
        links = [{"href": href, "text": text} for href, text in (
            (alert["generatorURL"], "Source (Prometheus)"), (alert["annotations"].get("runbook_url", ""), "Runbook"))
            if href.startswith(("http://", "https://"))]
        return {**event, "links": links} if links else event

    def payload(self, context: Mapping[str, Any]) -> dict[str, Any]:
        alert = context["alert"]
        labels = alert["labels"]
        summary = " ".join(self.texts.render("summary", context).split()) or labels.get("alertname") or "alert"
        payload = {
            "summary": templates.truncate(summary, SUMMARY_MAX),
            "source": templates.truncate(self.texts.render("source", context) or "amtriage", SOURCE_MAX),
            "severity": context["severity"],
            "timestamp": _SUBSECOND.sub(r"\1", alert["startsAt"]),
        }
        extra = {"component": labels.get("component"), "group": labels.get("group"),
                 "class": labels.get("class") or alert["ai"].get("category")}
        payload.update({k: v for k, v in extra.items() if v})
        payload["custom_details"] = custom_details(alert)
        return payload

    def _check_body(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        """400 with PagerDuty's own words (never the key); 429 waits its Retry-After or 30 s."""
        if status == 429:
            wait = retry_after(headers, self.deps.clock)
            raise RetryableDelivery(Reason.RATE_LIMIT, "HTTP 429 (throttled)", THROTTLED_WAIT if wait is None else wait)
        if status == 400:
            raise PermanentDelivery(Reason.CLIENT_ERROR, self._scrub(f"HTTP 400{_error_text(body)}"))

    def _scrub(self, text: str) -> str:
        return text.replace(self.settings.routing_key, "<routing_key>") if self.settings.routing_key else text


def _error_text(body: bytes) -> str:
    """`: message (error; error)` from PagerDuty's error reply, shortened; empty when it is not one."""
    reply = json_body(body)
    if not isinstance(reply, dict) or not isinstance(reply.get("message"), str):
        return ""
    errors = [e for e in reply.get("errors") or [] if isinstance(e, str)]
    text = reply["message"] + (f" ({'; '.join(errors)})" if errors else "")
    return ": " + templates.truncate(text, 300)


KIND = PagerDutyForwarder
