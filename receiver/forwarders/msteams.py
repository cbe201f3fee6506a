"""The `msteams` forwarder: one Adaptive Card per notification, through a Teams Workflows (Power Automate) webhook.

    - name: team-teams
      type: msteams
      url_file: /etc/amtriage/teams-workflow-url   # the workflow's URL; its sig= is the secret
      max_alerts: 20                               # alerts shown in full; the rest are counted
      templates: {title: ..., text: ..., alert: ...}   # Jinja2 (Teams markdown); see DEFAULTS

The body is `{"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
"contentUrl": null, "content": <AdaptiveCard 1.4>}]}`, the shape the "When a Teams webhook request is
received" flow posts. Teams takes about 28 KB: the serialized body stays under 28,000 bytes by
construction (texts cut with "…", alerts past `max_alerts` or the budget become one "…and N more" line).
Workflows answer 202 with an empty body; the retired O365 connectors answered 200 `1`, and put failures
inside a 200 ("Microsoft Teams endpoint returned HTTP error 429 ..."), which must not count as delivered.

This module also holds what the chat kinds (this one and slack) show alike: the severity of an alert
and of a group, the labels worth a glance, and a link that silences the group.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote

import orjson

from receiver.alerts import Alert, Notification
from receiver.classifier import SEVERITY_WORDS
from receiver.config import ReceiverConfig
from receiver.configread import Fields
from receiver.errors import PermanentDelivery, Reason, RetryableDelivery
from receiver.forwarders.http import Deps, auth_headers, post, retry_after
from receiver.forwarders.templates import Templates, message_context, template_options, truncate

PAYLOAD_MAX, RESERVE, TITLE_MAX, TEXT_MAX, ALERT_TEXT_MAX, FACT_MAX, URL_MAX = 28_000, 400, 200, 3000, 800, 300, 2000
ALERTS_MAX = 50
HTTP = ("http://", "https://")
KEY_LABELS = ("instance", "job", "service", "namespace", "pod", "container", "node", "cluster", "env")
RANK = {"critical": 0, "warning": 1, "info": 2, "unknown": 3}
EMOJI = {"critical": "🔴", "warning": "🟠", "info": "🔵", "unknown": "⚪", "resolved": "✅"}
STYLE = {"critical": "attention", "warning": "warning", "info": "accent", "unknown": "emphasis", "resolved": "good"}
COLOR = {"critical": "attention", "warning": "warning", "info": "accent", "unknown": "default", "resolved": "good"}
_EMBEDDED = re.compile(r"HTTP error (\d{3})")
_FAILURE = re.compile(r"\b(error|fail(s|ed|ure)?)\b", re.IGNORECASE)
DEFAULTS = {  # Jinja2 with trim_blocks: a line holding only {% ... %} leaves nothing behind
    "title": "{{ emoji }} [{{ status|upper }}{{ ':%d' % firing|length if status == 'firing' }}] "
             "{{ groupLabels.values()|join(' ') or commonLabels.alertname or 'alerts' }}",
    "text": """**{{ firing|length }} firing{{ ', %d resolved' % resolved|length if resolved }}** \
· severity **{{ severity }}**{{ ' · ' ~ commonAI.category if commonAI.category }}
{% if commonAI.summary or commonAnnotations.summary %}

{{ commonAI.summary or commonAnnotations.summary }}
{% endif %}
{% if commonAI.recommendations %}

**Next steps:**
{% for r in commonAI.recommendations.splitlines() if r.strip() %}
- {{ r }}
{% endfor %}
{% endif %}""",
    "alert": """{% set s = alert.ai.summary or alert.annotations.summary %}
{{ alert.emoji }} **{{ '[%s](%s)' % (alert.labels.alertname, alert.generatorURL) if alert.generatorURL \
else alert.labels.alertname }}** {{ alert.status }}\
{{ ' · [runbook](%s)' % alert.annotations.runbook_url if alert.annotations.runbook_url }}
{% if s and s != (commonAI.summary or commonAnnotations.summary) %}

{{ s }}
{% endif %}
{% if alert.annotations.description and alert.annotations.description != s %}

{{ alert.annotations.description }}
{% endif %}
{% if alert.ai.recommendations and alert.ai.recommendations != commonAI.recommendations %}

{% for r in alert.ai.recommendations.splitlines() if r.strip() %}
- {{ r }}
{% endfor %}
{% endif %}""",
}


def severity_of(alert: Alert, prefix: str) -> str:
    """critical | warning | info | unknown: the classifier's word, else the alert's own severity label."""
    word = alert.annotations.get(prefix + "severity") or alert.labels.get("severity", "")
    return SEVERITY_WORDS.get(word.strip().lower(), "unknown")


def chat_context(notification: Notification, prefix: str) -> dict[str, Any]:
    """The templates' context plus `severity` (the worst of the firing alerts), `emoji`, `commonAI` (the
    common enrichment without its prefix), and each alert's own `severity` and `emoji`."""
    ctx = message_context(notification, prefix)
    for alert, data in zip(notification.alerts, ctx["alerts"], strict=True):
        data["severity"] = severity_of(alert, prefix)
        data["emoji"] = EMOJI["resolved" if alert.status == "resolved" else data["severity"]]
    pool = ctx["firing"] or ctx["alerts"]
    ctx["severity"] = min((a["severity"] for a in pool), key=RANK.__getitem__, default="unknown")
    ctx["emoji"] = EMOJI["resolved" if notification.status == "resolved" else ctx["severity"]]
    return ctx


def by_urgency(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Firing before resolved, worst severity first; otherwise in the order Alertmanager sent them."""
    return sorted(alerts, key=lambda a: (a["status"] != "firing", RANK[a["severity"]]))


def alert_pairs(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Severity, category, start time and the labels that tell one alert of a group from another."""
    ai, labels, starts = data["ai"], data["labels"], str(data["startsAt"])
    confidence = f" ({ai['confidence']})" if ai.get("confidence") else ""
    started = starts[:19].replace("T", " ") + " UTC" if starts.endswith("Z") else ""
    pairs = [("Severity", data["severity"] + confidence), ("Category", ai.get("category", "")), ("Started", started)]
    names = [k for k in KEY_LABELS if k in labels] + sorted(set(labels) - {*KEY_LABELS, "alertname", "severity"})
    return [(k, v) for k, v in pairs + [(k, labels[k]) for k in names] if v]


def silence_url(notification: Notification) -> str:
    """Alertmanager's "new silence" page, pre-filled with the group's labels ("" without an http externalURL)."""
    pairs = sorted((notification.group_labels or notification.common_labels).items())
    url, matchers = notification.external_url.rstrip("/"), ",".join(f'{k}="{v}"' for k, v in pairs)
    return f"{url}/#/silences/new?filter={quote('{' + matchers + '}')}" if url.startswith(HTTP) else ""


def classified_by(ai: Mapping[str, str]) -> str:
    """"classified by rules (rules/disk-space)", or "" when the alerts carry no common enrichment."""
    if not ai.get("source"):
        return ""
    return f"classified by {ai['source']}" + (f" ({ai['model']})" if ai.get("model") else "")


@dataclass(frozen=True, slots=True)
class TeamsOptions:
    max_alerts: int = 20
    templates: Mapping[str, str] = field(default_factory=dict)


class TeamsForwarder:
    """Posts an Adaptive Card to a Teams workflow; see the module docstring for its config and limits."""

    integration: ClassVar[str] = "msteams"
    default_url: ClassVar[str | None] = None

    @classmethod
    def options(cls, f: Fields) -> TeamsOptions:
        max_alerts = f.integer("max_alerts", 20, minimum=1)
        if max_alerts > ALERTS_MAX:
            f.error("max_alerts", f"must be at most {ALERTS_MAX}")
        return TeamsOptions(min(max_alerts, ALERTS_MAX), template_options(f, tuple(DEFAULTS)))

    def __init__(self, config: ReceiverConfig, deps: Deps) -> None:
        self.name, self.config, self.deps = config.name, config, deps
        self.settings: TeamsOptions = config.options
        self.texts = Templates(config.name, DEFAULTS, self.settings.templates, deps.on_template_error)
        self.headers = {**config.headers, **auth_headers(config.credentials)}

    async def send(self, notification: Notification, body: bytes) -> None:
        await post(self.deps, self.config.url, self.message(notification), headers=self.headers,
                   timeout=self.config.timeout, check_body=self.check)

    def message(self, notification: Notification) -> dict[str, Any]:
        """The workflow's body: one Adaptive Card, under PAYLOAD_MAX bytes as serialized."""
        ctx = chat_context(notification, self.deps.annotation_prefix)
        key = "resolved" if notification.status == "resolved" else ctx["severity"]
        title = truncate(self.texts.render("title", ctx) or "Alertmanager notification", TITLE_MAX)
        head = [text_block(title, size="Large", weight="Bolder", color=COLOR[key])]
        if summary := self.texts.render("text", ctx):
            head.append(text_block(truncate(summary, TEXT_MAX)))
        body: list[dict[str, Any]] = [{"type": "Container", "style": STYLE[key], "bleed": True, "items": head}]
        if footer := classified_by(ctx["commonAI"]):
            body.append(text_block(footer, size="Small", isSubtle=True))
        card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                "version": "1.4", "msteams": {"width": "Full"}, "body": body, "actions": actions(notification, ctx)}
        payload = {"type": "message", "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}
        body[1:1] = self.alert_items(notification, ctx, PAYLOAD_MAX - RESERVE - len(orjson.dumps(payload)))
        return payload

    def alert_items(self, notification: Notification, ctx: dict[str, Any], budget: int) -> list[dict[str, Any]]:
        """A container per alert, most urgent first, while `max_alerts` and `budget` (bytes) allow; then a count."""
        items: list[dict[str, Any]] = []
        for data in by_urgency(ctx["alerts"])[: self.settings.max_alerts]:
            text = truncate(self.texts.render("alert", {**ctx, "alert": data}), ALERT_TEXT_MAX)
            facts = [{"title": k, "value": truncate(v, FACT_MAX)} for k, v in alert_pairs(data)]
            item = {"type": "Container", "separator": True, "spacing": "Medium", "items": [
                text_block(text or data["labels"].get("alertname") or "alert"), {"type": "FactSet", "facts": facts}]}
            budget -= len(orjson.dumps(item)) + 1  # and a comma
            if budget < 0:
                break
            items.append(item)
        hidden = len(ctx["alerts"]) - len(items) + notification.truncated_alerts
        if hidden:
            more = f"…and {hidden} more alert{'s' if hidden != 1 else ''} not shown"
            items.append(text_block(more + (" (see Alertmanager)" if ctx["externalURL"].startswith(HTTP) else ""),
                                    isSubtle=True, separator=True))
        return items

    def check(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        """A 2xx is delivered when its body is empty (Workflows) or `1` (connectors); one that reports an
        error is not: its embedded HTTP status decides, else it is a permanent bad reply."""
        text = body.decode("utf-8", "replace").strip()
        if not 200 <= status < 300 or text in ("", "1"):
            return
        if embedded := _EMBEDDED.search(text):
            code, detail = int(embedded.group(1)), f"HTTP {status}, reporting HTTP {embedded.group(1)}"
            if code == 429 or code == 408 or code >= 500:
                reason = Reason.RATE_LIMIT if code == 429 else Reason.SERVER_ERROR
                raise RetryableDelivery(reason, detail, retry_after(headers, self.deps.clock))
            raise PermanentDelivery(Reason.AUTH if code in (401, 403) else Reason.CLIENT_ERROR, detail)
        if _FAILURE.search(text):
            raise PermanentDelivery(Reason.BAD_REPLY, f"HTTP {status}: the reply reports a failure")


def text_block(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def actions(notification: Notification, ctx: Mapping[str, Any]) -> list[dict[str, str]]:
    """Buttons to Alertmanager, to a pre-filled silence, to the runbook and to the source of the first alert."""
    first = by_urgency(ctx["alerts"])[0] if ctx["alerts"] else {"generatorURL": ""}
    urls = [("Open Alertmanager", notification.external_url), ("Silence", silence_url(notification)),
            ("Runbook", ctx["commonAnnotations"].get("runbook_url", "")), ("Source", first["generatorURL"])]
    return [{"type": "Action.OpenUrl", "title": title, "url": url} for title, url in urls
            if url.startswith(HTTP) and len(url) <= URL_MAX]


KIND = TeamsForwarder
