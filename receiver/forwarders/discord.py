"""The `discord` forwarder: an incoming-webhook message, one embed per alert, coloured by severity.

    receivers:
      - name: sre-discord
        type: discord
        url_file: /etc/amtriage/discord-webhook  # https://discord.com/api/webhooks/<id>/<token>[?thread_id=<id>]
        username: amtriage              # optional: overrides the webhook's own name (at most 80 characters)
        avatar_url: https://example.com/amtriage.png  # optional
        max_messages: 5                 # at most this many messages per notification (10 alerts each)
        templates:                      # Jinja2 over the message context; title and description also get
          content: "<@&123456> {{ status|upper }}: {{ groupLabels.alertname }}"  # `alert` and `severity`

The first message's content: group, worst severity, shared summary and next steps, Alertmanager link;
then an embed per alert (summary, next steps, links, description, labels; coloured by severity). Limits
hold: content 2000, 10 embeds, title 256, description 4096, 25 fields of 256/1024, footer 2048, 6000
characters over a message's embeds, shared evenly (descriptions are cut first). Alerts are spread over
up to `max_messages` messages (the default fits Discord's 5 requests per 2 s per webhook); the rest are
counted in the last one. Only user and role mentions ping. Posts use `?wait=true`, so a message Discord
did not store is an error. Discord has no deduplication: when a later message of a split fails, the
send fails and its retry posts every message again.
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from yarl import URL

from receiver.alerts import ZERO_TIME, Notification
from receiver.classifier import SEVERITY_WORDS
from receiver.config import ReceiverConfig
from receiver.configread import Fields
from receiver.errors import DeliveryError, PermanentDelivery, Reason, RetryableDelivery
from receiver.forwarders import templates
from receiver.forwarders.http import Deps, auth_headers, json_body, post, retry_after

CONTENT_MAX, EMBEDS_MAX, TITLE_MAX, DESCRIPTION_MAX = 2000, 10, 256, 4096
FIELDS_MAX, FIELD_NAME_MAX, FIELD_VALUE_MAX, FOOTER_MAX, EMBEDS_TOTAL_MAX = 25, 256, 1024, 2048, 6000
COLORS = {"critical": 0xE74C3C, "warning": 0xE67E22, "info": 0x3498DB}
RESOLVED_COLOR, OTHER_COLOR = 0x2ECC71, 0x95A5A6
_SUBSECOND = re.compile(r"(\.\d{3})\d+")
_STEPS = """{% if steps %}
**Next steps**
{% for line in steps.splitlines() if line.strip() %}
• {{ line }}
{% endfor %}
{% endif %}
"""
DEFAULTS = {
    "content": """\
{{ '🔥' if status == 'firing' else '✅' }} **{{ status|upper }}{{ ' · ' ~ severity|upper if firing and severity }}** \
{{ groupLabels.values()|join(' ') or commonLabels.alertname or 'alerts' }} — {{ (firing|length ~ ' firing') \
if firing }}{{ ', ' if firing and resolved }}{{ (resolved|length ~ ' resolved') if resolved }}
{{ commonAI.summary or commonAnnotations.summary }}
{% set steps = commonAI.recommendations if firing %}
""" + _STEPS + """{% if externalURL %}[Alertmanager]({{ externalURL }}){% endif %}""",
    "title": """\
{{ '🔥' if alert.status == 'firing' else '✅' }} [{{ alert.status|upper }}\
{{ ' · ' ~ severity|upper if alert.status == 'firing' and severity }}] {{ alert.labels.alertname or 'alert' }}\
{{ ' on ' ~ alert.labels.instance if alert.labels.instance }}""",
    "description": """\
{{ alert.summary }}
{% set steps = alert.ai.recommendations if alert.status == 'firing' %}
{% set steps = steps if steps != commonAI.recommendations %}
""" + _STEPS + """{% if alert.links %}
{% for name, url in alert.links %}[{{ name }}]({{ url }}) {% endfor %}

{% endif %}

{{ alert.annotations.description if alert.annotations.description != alert.summary }}""",
}


@dataclass(frozen=True, slots=True)
class DiscordOptions:
    username: str = ""
    avatar_url: str = ""
    max_messages: int = 5
    templates: Mapping[str, str] = field(default_factory=dict)


def message_context(notification: Notification, prefix: str) -> dict[str, Any]:
    """templates.message_context, plus per alert `severity` (ai_severity, else the `severity` label, as
    critical/warning/info where it is one), `summary` and `links` (http(s) only); `severity` (the worst of
    the firing alerts) and `commonAI` (the enrichment all alerts share)."""
    context = templates.message_context(notification, prefix)
    for alert in context["alerts"]:
        notes = alert["annotations"]
        word = (alert["ai"].get("severity") or alert["labels"].get("severity") or "").strip().lower()
        alert["severity"] = SEVERITY_WORDS.get(word, word)
        alert["summary"] = (alert["ai"].get("summary") or notes.get("summary") or notes.get("description")
                            or alert["labels"].get("alertname", ""))
        links = (("Source", alert["generatorURL"]), ("Runbook", notes.get("runbook_url", "")),
                 ("Dashboard", notes.get("dashboard", "")))
        alert["links"] = [(name, url) for name, url in links if url.startswith(("http://", "https://"))]
    ranks = {"critical": 0, "warning": 1, "info": 2}
    context["severity"] = min((a["severity"] for a in context["firing"]), key=lambda s: ranks.get(s, 3), default="")
    return context


def embed_size(embed: Mapping[str, Any]) -> int:
    """The characters Discord counts toward its 6000 per message."""
    fields = sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", ()))
    return (len(embed.get("title", "")) + len(embed.get("description", "")) + fields
            + len(embed.get("footer", {}).get("text", "")))


def fit(embed: dict[str, Any], budget: int) -> dict[str, Any]:
    """Within `budget`: cut the description (drop it if empty), then drop fields, then cut the title."""
    keep = len(embed.get("description", "")) - (embed_size(embed) - budget)
    if keep <= len(templates.MARKER) or not embed.get("description"):
        embed.pop("description", None)
    elif keep < len(embed.get("description", "")):
        embed["description"] = templates.truncate(embed["description"], keep)
    while embed_size(embed) > budget and embed.get("fields"):
        embed["fields"].pop()
    if (over := embed_size(embed) - budget) > 0:
        embed["title"] = templates.truncate(embed["title"], max(1, len(embed["title"]) - over))
    return embed


def check_reply(status: int, headers: Mapping[str, str], body: bytes, clock: Callable[[], float]) -> None:
    """429 waits the body's retry_after (seconds), else X-RateLimit-Reset-After, else Retry-After; any
    other 4xx is permanent, with Discord's error code and message (they never hold the token)."""
    reply = json_body(body)
    doc = reply if isinstance(reply, dict) else {}
    if status == 429:
        scope = " (global)" if doc.get("global") is True else ""
        for value in (doc.get("retry_after"), headers.get("X-RateLimit-Reset-After")):
            with contextlib.suppress(TypeError, ValueError):
                if value is not None and not isinstance(value, bool):
                    raise RetryableDelivery(Reason.RATE_LIMIT, f"HTTP 429{scope}", max(0.0, float(value)))
        raise RetryableDelivery(Reason.RATE_LIMIT, f"HTTP 429{scope}", retry_after(headers, clock))
    if 400 <= status < 500 and status != 408 and "code" in doc:
        reason = Reason.AUTH if status in (401, 403) else Reason.CLIENT_ERROR
        message = " ".join(str(doc.get("message", "")).split())[:120]
        raise PermanentDelivery(reason, f"HTTP {status}: Discord error {doc['code']}: {message}")


class DiscordForwarder:
    """Posts a notification to a Discord webhook; see the module docstring for its config."""

    integration: ClassVar[str] = "discord"
    default_url: ClassVar[str | None] = None

    @classmethod
    def options(cls, f: Fields) -> DiscordOptions:
        username, avatar_url = f.string("username"), f.string("avatar_url")
        if len(username) > 80 or any(word in username.lower() for word in ("discord", "clyde")):
            f.error("username", "must be at most 80 characters and not contain 'discord' or 'clyde'")
        if avatar_url and not avatar_url.startswith(("http://", "https://")):
            f.error("avatar_url", "must be an http(s) URL")
        max_messages = f.integer("max_messages", 5, minimum=1)
        return DiscordOptions(username, avatar_url, max_messages, templates.template_options(f, tuple(DEFAULTS)))

    def __init__(self, config: ReceiverConfig, deps: Deps) -> None:
        self.name = config.name
        self.config = config
        self.settings: DiscordOptions = config.options
        self.deps = deps
        self.headers = {**config.headers, **auth_headers(config.credentials)}
        self.texts = templates.Templates(config.name, DEFAULTS, self.settings.templates, deps.on_template_error)
        self.url = str(URL(config.url).update_query(wait="true"))  # keeps a ?thread_id= of the user's URL
        self.check = functools.partial(check_reply, clock=deps.clock)

    async def send(self, notification: Notification, body: bytes) -> None:
        messages = self.messages(notification)
        for number, message in enumerate(messages, 1):
            try:
                await post(self.deps, self.url, message, headers=self.headers, timeout=self.config.timeout,
                           check_body=self.check)
            except DeliveryError as exc:
                if number > 1:  # the earlier messages went through; the retry posts them again
                    exc.detail += f" (message {number} of {len(messages)})"
                    exc.args = (f"{exc.reason}: {exc.detail}",)
                raise

    def messages(self, notification: Notification) -> list[dict[str, Any]]:
        """The webhook payloads for one notification: its alerts spread evenly over the fewest messages."""
        context = message_context(notification, self.deps.annotation_prefix)
        shown = context["alerts"][: EMBEDS_MAX * self.settings.max_messages]
        per = max(1, math.ceil(len(shown) / max(1, math.ceil(len(shown) / EMBEDS_MAX))))
        groups = [shown[i:i + per] for i in range(0, len(shown), per)] or [[]]
        hidden = len(context["alerts"]) - len(shown) + notification.truncated_alerts
        content = self.texts.render("content", context)
        return [self._message(content if n == 1 else "", n, len(groups), hidden,
                              [self.embed(context, alert, EMBEDS_TOTAL_MAX // len(group)) for alert in group])
                for n, group in enumerate(groups, 1)]

    def _message(self, content: str, number: int, count: int, hidden: int, embeds: list[dict[str, Any]]
                 ) -> dict[str, Any]:
        suffix = f" ({number}/{count})" if count > 1 else ""
        if number == count and hidden:
            suffix += f"\n…and {hidden} more alert{'s' if hidden != 1 else ''} not shown here"
        text = (templates.truncate(content, CONTENT_MAX - len(suffix)) + suffix).strip()
        message = {"content": text, "embeds": embeds, "username": self.settings.username,
                   "avatar_url": self.settings.avatar_url}
        return {k: v for k, v in message.items() if v} | {"allowed_mentions": {"parse": ["users", "roles"]}}

    def embed(self, context: Mapping[str, Any], alert: Mapping[str, Any], budget: int) -> dict[str, Any]:
        """One alert's embed within Discord's limits and `budget` characters."""
        texts_context = {**context, "alert": alert, "severity": alert["severity"]}
        firing = alert["status"] == "firing"
        embed: dict[str, Any] = {
            "title": templates.truncate(self.texts.render("title", texts_context) or "alert", TITLE_MAX),
            "description": templates.truncate(self.texts.render("description", texts_context), DESCRIPTION_MAX),
            "color": COLORS.get(alert["severity"], OTHER_COLOR) if firing else RESOLVED_COLOR,
            "fields": fields(context, alert),
            "footer": {"text": templates.truncate(_footer(alert), FOOTER_MAX)},
        }
        if alert["generatorURL"].startswith(("http://", "https://")):
            embed["url"] = alert["generatorURL"]
        if (when := alert["startsAt"] if firing else alert["endsAt"]) not in ("", ZERO_TIME):
            embed["timestamp"] = _SUBSECOND.sub(r"\1", when)
        return fit(embed, budget)


def fields(context: Mapping[str, Any], alert: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The category, then the labels that tell this alert from the others, then the shared ones."""
    common = context["commonLabels"] if len(context["alerts"]) > 1 else {}
    labels = sorted(((k, v) for k, v in alert["labels"].items() if k not in ("alertname", "severity") and v),
                    key=lambda kv: kv[0] in common)
    category = alert["ai"].get("category")
    pairs = ([("category", category)] if category else []) + labels
    return [{"name": templates.truncate(k, FIELD_NAME_MAX), "value": templates.truncate(v, FIELD_VALUE_MAX),
             "inline": True} for k, v in pairs[:FIELDS_MAX]]


def _footer(alert: Mapping[str, Any]) -> str:
    ai = alert["ai"]
    detail = ", ".join(f"{k} {ai[k]}" if k == "confidence" else ai[k] for k in ("model", "confidence") if ai.get(k))
    by = f"classified by {ai['source']}" + (f" ({detail})" if detail else "") if ai.get("source") else ""
    return " · ".join(p for p in ("amtriage", by, alert["fingerprint"]) if p)


KIND = DiscordForwarder
