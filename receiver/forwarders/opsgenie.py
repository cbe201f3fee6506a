"""The `opsgenie` forwarder: one Alert API request per alert, the alert's fingerprint as Opsgenie's alias.

A firing alert is `POST /v2/alerts` with `alias` = its fingerprint, so Opsgenie deduplicates a repeat
into the open alert (its count goes up) instead of opening another; a resolved alert is
`POST /v2/alerts/{alias}/close?identifierType=alias`. Opsgenie answers 202 and does the work later.
As for PagerDuty, a notification of several alerts fails as a whole when any request fails (retryable
wins over permanent); a retry re-sends the alerts already taken, which Opsgenie deduplicates by alias.

    receivers:
      - name: sre-opsgenie
        type: opsgenie
        api_key_file: /etc/amtriage/opsgenie-key  # or api_key (an API integration's key), sent as GenieKey
        url: https://api.eu.opsgenie.com          # EU accounts; default https://api.opsgenie.com
        priorities: {critical: P1, error: P2, warning: P3, info: P5}  # the default mapping
        default_priority: P3                      # when neither ai_severity nor a severity label says
        tags: [prometheus, team-sre]              # added to alertname, severity:… and category:…
        responders: [{type: team, name: sre}, {type: user, username: ann@example.com}]  # or escalation, schedule
        visible_to: [{type: team, name: platform}]  # who sees it without being notified
        templates: {message: "{{ alert.labels.alertname }}: {{ alert.annotations.summary }}"}

Templates (Jinja2: the message context plus `alert`, `severity` and `priority`): message,
description, entity, source, note (the close note). Limits, enforced with "…": message 130,
description 15,000, alias and entity 512, source 100, tags 20 of 50, details 8,000 in all.
A 429 waits its Retry-After, else the throttled window Opsgenie names in X-RateLimit-Period-In-Sec.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote

from receiver.alerts import Notification
from receiver.config import ReceiverConfig
from receiver.configread import Fields
from receiver.errors import PermanentDelivery, Reason, RetryableDelivery
from receiver.forwarders import templates
from receiver.forwarders.http import Deps, json_body, post, retry_after, send_each
from receiver.forwarders.pagerduty import SEVERITIES, severity

PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
DEFAULT_PRIORITIES = {"critical": "P1", "error": "P2", "warning": "P3", "info": "P5"}
LIMITS = {"message": 130, "alias": 512, "description": 15_000, "entity": 512, "source": 100, "note": 25_000}
TAGS_MAX, TAG_MAX, DETAILS_MAX, RECIPIENTS_MAX = 20, 50, 8000, 50

DEFAULTS = {
    "message": ("{{ alert.labels.alertname or 'alert' }}"
                "{% set text = alert.ai.summary or alert.annotations.summary %}{% if text %}: {{ text }}{% endif %}"),
    "description": """{% set a = alert %}
{{ a.ai.summary or a.annotations.summary or a.labels.alertname }}
{% if a.annotations.description %}

{{ a.annotations.description|truncate(6000, True, '…', 0) }}
{% endif %}

Severity: {{ severity }} ({{ priority }}){% if a.ai.category %} | category: {{ a.ai.category }}{% endif %}
{% if a.ai.confidence %} | confidence: {{ a.ai.confidence }}{% endif %}

Started: {{ a.startsAt }}
{% if a.ai.recommendations %}

Recommendations:
{% for line in a.ai.recommendations.splitlines() if line.strip() %}
- {{ line }}
{% endfor %}
{% endif %}

Labels:
{% for key, value in a.labels|dictsort %}
  {{ key }}={{ value|truncate(500, True, '…', 0) }}
{% endfor %}

{% for name, url in [('Source', a.generatorURL), ('Runbook', a.annotations.runbook_url), ('Alertmanager', externalURL)]
   if url %}
{{ name }}: {{ url }}
{% endfor %}
{% if a.ai.source %}Classified by {{ a.ai.source }}{% if a.ai.model %} ({{ a.ai.model }}){% endif %}{% endif %}""",
    "entity": "{{ alert.labels.instance or alert.labels.service or alert.labels.job }}",
    "source": "{{ externalURL or 'amtriage' }}",
    "note": "Resolved in Alertmanager{% if alert.endsAt[:4] != '0001' %} at {{ alert.endsAt }}{% endif %}.",
}


@dataclass(frozen=True, slots=True)
class OpsgenieOptions:
    api_key: str = field(repr=False)  # a secret: kept out of logs and error texts
    priorities: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_PRIORITIES))
    default_priority: str = "P3"
    tags: tuple[str, ...] = ()
    responders: tuple[Mapping[str, str], ...] = ()
    visible_to: tuple[Mapping[str, str], ...] = ()
    templates: Mapping[str, str] = field(default_factory=dict)


def _recipients(f: Fields, key: str, types: tuple[str, ...]) -> tuple[dict[str, str], ...]:
    """`[{type: team, name: sre}, ...]`: each with a type and exactly one of id, name or username."""
    found = []
    for item in f.items(key):
        kind = item.choice("type", types[0], types) if item.has("type") else item.string("type", required=True)
        ids = {k: item.string(k) for k in ("id", "name", "username") if item.string(k)}
        item.done()
        if len(ids) != 1:
            item.error("", "needs exactly one of id, name or username")
        elif "username" in ids and kind != "user":
            item.error("username", "is only for type user (use id or name)")
        elif "name" in ids and kind == "user":
            item.error("name", "a user is named by username or id")
        else:
            found.append({**ids, "type": kind})
    if len(found) > RECIPIENTS_MAX:
        f.error(key, f"at most {RECIPIENTS_MAX} entries")
    return tuple(found)


def _priorities(f: Fields) -> dict[str, str]:
    given = f.mapping("priorities")
    for sev, priority in given.items():
        if sev not in SEVERITIES:
            f.error(f"priorities.{sev}", f"must be one of {', '.join(SEVERITIES)}")
        elif priority not in PRIORITIES:
            f.error(f"priorities.{sev}", f"must be one of {', '.join(PRIORITIES)} (got {priority!r})")
    return {**DEFAULT_PRIORITIES, **{k: v for k, v in given.items() if k in SEVERITIES and v in PRIORITIES}}


def fit_details(pairs: Iterable[tuple[str, str]], limit: int = DETAILS_MAX) -> dict[str, str]:
    """Pairs in order while keys and values total at most `limit` characters; a value that does not
    fit is cut (with "…"), and what comes after a full budget is left out."""
    details: dict[str, str] = {}
    used = 0
    for key, value in pairs:
        room = limit - used - len(key)
        if key in details or room < 2:
            continue
        details[key] = templates.truncate(value, room)
        used += len(key) + len(details[key])
    return details


class OpsgenieForwarder:
    """Creates or closes one Opsgenie alert per alert; see the module docstring for its config."""

    integration: ClassVar[str] = "opsgenie"
    default_url: ClassVar[str | None] = "https://api.opsgenie.com"

    @classmethod
    def options(cls, f: Fields) -> OpsgenieOptions:
        key = f.required_secret("api_key")
        for other in ("bearer_token", "bearer_token_file", "basic"):
            if f.has(other):
                f.error(other, "opsgenie authenticates with api_key (sent as GenieKey); remove this")
        return OpsgenieOptions(
            api_key=key,
            priorities=_priorities(f),
            default_priority=f.choice("default_priority", "P3", PRIORITIES),
            tags=f.strings("tags"),
            responders=_recipients(f, "responders", ("team", "user", "escalation", "schedule")),
            visible_to=_recipients(f, "visible_to", ("team", "user")),
            templates=templates.template_options(f, tuple(DEFAULTS)),
        )

    def __init__(self, config: ReceiverConfig, deps: Deps) -> None:
        self.name = config.name
        self.config = config
        self.settings: OpsgenieOptions = config.options
        self.deps = deps
        self.base = config.url.rstrip("/")
        self.headers = {**config.headers, "Authorization": f"GenieKey {self.settings.api_key}"}
        self.texts = templates.Templates(config.name, DEFAULTS, self.settings.templates, deps.on_template_error)

    async def send(self, notification: Notification, body: bytes) -> None:
        context = templates.message_context(notification, self.deps.annotation_prefix)
        requests = [self.request(self.alert_context(context, alert)) for alert in context["alerts"]]
        await send_each(self._post, requests)

    def alert_context(self, context: Mapping[str, Any], alert: Mapping[str, Any]) -> dict[str, Any]:
        sev = severity(alert["ai"], alert["labels"], "")
        priority = self.settings.priorities.get(sev, self.settings.default_priority)
        return {**context, "alert": alert, "severity": sev or "unknown", "priority": priority}

    def request(self, context: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """(path and query, body) for `context["alert"]`: a close when it is resolved, else a create."""
        alert = context["alert"]
        alias = templates.truncate(alert["fingerprint"], LIMITS["alias"], marker="")
        source = self._text("source", context) or "amtriage"
        if alert["status"] == "resolved":
            return (f"/v2/alerts/{quote(alias, safe='')}/close?identifierType=alias",
                    {"source": source, "note": self._text("note", context)})
        body = {"message": self._text("message", context) or "alert", "alias": alias,
                "description": self._text("description", context), "priority": context["priority"],
                "source": source, "tags": self._tags(context), "details": self._details(alert)}
        extra = {"entity": self._text("entity", context), "responders": list(self.settings.responders),
                 "visibleTo": list(self.settings.visible_to)}
        return "/v2/alerts", {**body, **{k: v for k, v in extra.items() if v}}

    def _text(self, name: str, context: Mapping[str, Any]) -> str:
        text = self.texts.render(name, context)
        return templates.truncate(" ".join(text.split()) if name == "message" else text, LIMITS[name])

    def _tags(self, context: Mapping[str, Any]) -> list[str]:
        """alertname, severity:…, category:… and the configured tags: at most 20 distinct, each of 50 at most."""
        alert, category = context["alert"], context["alert"]["ai"].get("category")
        wanted = [alert["labels"].get("alertname", ""), f"severity:{context['severity']}",
                  f"category:{category}" if category else "", *self.settings.tags]
        found: list[str] = []
        for tag in (templates.truncate(t.strip(), TAG_MAX) for t in wanted):
            if tag and tag not in found and len(found) < TAGS_MAX:
                found.append(tag)
        return found

    def _details(self, alert: Mapping[str, Any]) -> dict[str, str]:
        """Short enrichment fields first, then labels, then the long enrichment texts, within 8,000."""
        prefix, ai = self.deps.annotation_prefix, alert["ai"]
        short = [(prefix + k, ai[k]) for k in ("severity", "category", "confidence", "source", "model") if k in ai]
        long = [(prefix + k, ai[k]) for k in ("summary", "recommendations") if k in ai]
        return fit_details([*short, *sorted(alert["labels"].items()), *long])

    async def _post(self, request: tuple[str, dict[str, Any]]) -> None:
        path, body = request
        await post(self.deps, self.base + path, body, headers=self.headers, timeout=self.config.timeout,
                   check_body=self._check_body)

    def _check_body(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        """429 waits Retry-After or the throttled window; other 4xx carry Opsgenie's message (never the key)."""
        if status == 429:
            wait = retry_after(headers, self.deps.clock)
            if wait is None:  # Opsgenie names the throttled window (1 s or 60 s) instead
                wait = retry_after({"Retry-After": headers.get("X-RateLimit-Period-In-Sec", "")}, self.deps.clock)
            raise RetryableDelivery(Reason.RATE_LIMIT, "HTTP 429 (throttled)", wait)
        if 400 <= status < 500 and status != 408:
            reason = Reason.AUTH if status in (401, 403) else Reason.CLIENT_ERROR
            raise PermanentDelivery(reason, self._scrub(f"HTTP {status}{_error_text(body)}"))

    def _scrub(self, text: str) -> str:
        return text.replace(self.settings.api_key, "<api_key>") if self.settings.api_key else text


def _error_text(body: bytes) -> str:
    """`: message (field: error; ...)` from Opsgenie's error reply, shortened; empty when it is not one."""
    reply = json_body(body)
    if not isinstance(reply, dict) or not isinstance(reply.get("message"), str):
        return ""
    errors = reply.get("errors")
    found = [f"{k}: {v}" for k, v in errors.items() if isinstance(v, str)] if isinstance(errors, dict) else []
    return ": " + templates.truncate(reply["message"] + (f" ({'; '.join(found)})" if found else ""), 300)


KIND = OpsgenieForwarder
