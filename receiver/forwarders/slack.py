"""The `slack` forwarder: one Block Kit message per notification, by incoming webhook or by chat.postMessage.

    - name: ops-slack
      type: slack
      url_file: /etc/amtriage/slack-hook-url      # an incoming webhook (the URL is the secret), or:
      token_file: /etc/amtriage/slack-bot-token   # a bot token (chat:write) for chat.postMessage, with
      channel: C0123ABCDEF                        # a channel (required with token)
      max_alerts: 20                              # alerts shown in full; the rest are counted
      templates: {title: ..., text: ..., alert: ...}   # Jinja2; see DEFAULTS

Slack's limits hold by construction: header ≤ 150 characters, section text ≤ 3000, ≤ 10 fields of ≤ 2000,
≤ 50 blocks, and about 12,000 characters of block text in all (past that: `msg_blocks_too_long`); texts are
cut with "…", and alerts past `max_alerts` or that budget become one "…and N more" line. A webhook answers
`ok` or an error word (`invalid_payload`, `channel_is_archived`); the Web API answers `{"ok": false,
"error": ...}`, often with HTTP 200. Only that short word ever reaches an error text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from receiver.alerts import Notification
from receiver.config import ReceiverConfig
from receiver.configread import Fields
from receiver.errors import PermanentDelivery, Reason, RetryableDelivery
from receiver.forwarders.http import Deps, auth_headers, json_body, post, retry_after
from receiver.forwarders.msteams import HTTP, alert_pairs, by_urgency, chat_context, classified_by, silence_url
from receiver.forwarders.templates import Templates, template_options, truncate

HEADER_MAX, SECTION_MAX, FIELD_MAX, FIELDS_MAX, ALERTS_MAX = 150, 3000, 2000, 10, 40
ALERT_TEXT_MAX, BLOCKS_BUDGET, RESERVE, FALLBACK_MAX = 800, 12_000, 1_000, 3_000
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # Slack's error words; nothing else of a reply is repeated
_ERRORS: dict[str, tuple[bool, Reason]] = {  # Slack's error word -> (retryable, reason)
    **dict.fromkeys(("ratelimited", "rate_limited"), (True, Reason.RATE_LIMIT)),
    **dict.fromkeys(("internal_error", "fatal_error", "service_unavailable", "request_timeout", "rollup_error"),
                    (True, Reason.SERVER_ERROR)),
    **dict.fromkeys(("invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
                     "invalid_token", "missing_scope", "not_allowed_token_type", "no_service", "no_service_id",
                     "no_team", "team_disabled", "access_denied", "ekm_access_denied", "action_prohibited",
                     "posting_to_general_channel_denied"), (False, Reason.AUTH)),
    **dict.fromkeys(("invalid_payload", "user_not_found", "channel_not_found", "channel_is_archived", "is_archived",
                     "not_in_channel", "no_text", "msg_too_long", "msg_blocks_too_long", "invalid_blocks",
                     "invalid_blocks_format", "too_many_attachments", "invalid_arguments", "restricted_action"),
                    (False, Reason.CLIENT_ERROR)),
    "unexpected_reply": (False, Reason.BAD_REPLY),
}
DEFAULTS = {  # Jinja2 with trim_blocks: a line holding only {% ... %} leaves nothing behind
    "title": "{{ emoji }} [{{ status|upper }}{{ ':%d' % firing|length if status == 'firing' }}] "
             "{{ groupLabels.values()|join(' ') or commonLabels.alertname or 'alerts' }}",
    "text": """*{{ firing|length }} firing{{ ', %d resolved' % resolved|length if resolved }}* \
· severity *{{ severity }}*{{ ' · ' ~ commonAI.category if commonAI.category }}
{{ commonAI.summary or commonAnnotations.summary or '' }}
{% if commonAI.recommendations %}
*Next steps:*
{% for r in commonAI.recommendations.splitlines() if r.strip() %}
• {{ r }}
{% endfor %}
{% endif %}""",
    "alert": """{% set s = alert.ai.summary or alert.annotations.summary %}
{{ alert.emoji }} *{{ '<%s|%s>' % (alert.generatorURL, alert.labels.alertname) if alert.generatorURL \
else alert.labels.alertname }}* {{ alert.status }}\
{{ ' · <%s|runbook>' % alert.annotations.runbook_url if alert.annotations.runbook_url }}
{% if s and s != (commonAI.summary or commonAnnotations.summary) %}
{{ s }}
{% endif %}
{% if alert.annotations.description and alert.annotations.description != s %}
{{ alert.annotations.description }}
{% endif %}
{% if alert.ai.recommendations and alert.ai.recommendations != commonAI.recommendations %}
{% for r in alert.ai.recommendations.splitlines() if r.strip() %}
• {{ r }}
{% endfor %}
{% endif %}""",
}


def escape(value: Any) -> Any:
    """Slack mrkdwn's three control characters escaped in every string of a context tree."""
    if isinstance(value, str):
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if isinstance(value, dict | list):
        return {k: escape(v) for k, v in value.items()} if isinstance(value, dict) else [escape(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class SlackOptions:
    token: str | None = field(default=None, repr=False)
    channel: str = ""
    max_alerts: int = 20
    templates: Mapping[str, str] = field(default_factory=dict)


class SlackForwarder:
    """Posts a Block Kit message to Slack; see the module docstring for its config and limits."""

    integration: ClassVar[str] = "slack"
    default_url: ClassVar[str | None] = "https://slack.com/api/chat.postMessage"

    @classmethod
    def options(cls, f: Fields) -> SlackOptions:
        token, channel = f.secret("token"), f.string("channel")
        if token and not token.startswith("xox"):
            f.error("token", "must be a Slack bot or user token (xoxb-… or xoxp-…)")
        if token and not channel:
            f.error("channel", "is required with token (a channel ID like C0123ABCDEF, or #name)")
        if not token and not (f.has("url") or f.has("url_file")):
            f.error("url", "is required: the incoming webhook URL (or set token and channel for chat.postMessage)")
        max_alerts = f.integer("max_alerts", 20, minimum=1)
        if max_alerts > ALERTS_MAX:
            f.error("max_alerts", f"must be at most {ALERTS_MAX} (Slack takes 50 blocks per message)")
        return SlackOptions(token, channel, min(max_alerts, ALERTS_MAX), template_options(f, tuple(DEFAULTS)))

    def __init__(self, config: ReceiverConfig, deps: Deps) -> None:
        self.name, self.config, self.deps = config.name, config, deps
        self.settings: SlackOptions = config.options
        self.texts = Templates(config.name, DEFAULTS, self.settings.templates, deps.on_template_error)
        self.headers = {**config.headers, **auth_headers(config.credentials)}
        if self.settings.token:  # with the charset, or Slack warns `missing_charset`
            self.headers |= {"Content-Type": "application/json; charset=utf-8",
                             "Authorization": f"Bearer {self.settings.token}"}

    async def send(self, notification: Notification, body: bytes) -> None:
        await post(self.deps, self.config.url, self.message(notification), headers=self.headers,
                   timeout=self.config.timeout, check_body=self.check)

    def message(self, notification: Notification) -> dict[str, Any]:
        """The chat.postMessage / webhook body; every limit of the module docstring holds."""
        raw = chat_context(notification, self.deps.annotation_prefix)
        ctx = escape(raw)
        title = truncate(self.texts.render("title", raw) or "Alertmanager notification", HEADER_MAX)
        summary = self.texts.render("text", ctx)
        blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": title}}]
        blocks += [section(summary)] if summary else []
        blocks += self.alert_blocks(notification, ctx, BLOCKS_BUDGET - RESERVE - sum(map(chars, blocks)))
        blocks.append(context_block(notification, raw["commonAI"]))
        fallback = escape(title) + ("\n" + summary.splitlines()[0] if summary else "")
        payload: dict[str, Any] = {"text": truncate(fallback, FALLBACK_MAX), "blocks": blocks}
        return payload | ({"channel": self.settings.channel} if self.settings.channel else {})

    def alert_blocks(self, notification: Notification, ctx: dict[str, Any], budget: int) -> list[dict[str, Any]]:
        """A section per alert, firing and worst first, while `max_alerts` and `budget` allow; then the rest counted."""
        blocks: list[dict[str, Any]] = []
        for data in by_urgency(ctx["alerts"])[: self.settings.max_alerts]:
            text = truncate(self.texts.render("alert", {**ctx, "alert": data}), ALERT_TEXT_MAX)
            fields = [f"*{k}*\n{v}" for k, v in alert_pairs(data)]
            block = section(text or data["labels"].get("alertname") or "alert", fields)
            budget -= chars(block)
            if budget < 0:
                break
            blocks.append(block)
        hidden = len(ctx["alerts"]) - len(blocks) + notification.truncated_alerts
        if hidden:
            url = ctx["externalURL"]  # a link only when it cannot eat into RESERVE
            link = f" · <{url}|see them in Alertmanager>" if url.startswith(HTTP) and len(url) <= 300 else ""
            blocks.append(section(f"…and {hidden} more alert{'s' if hidden != 1 else ''} not shown{link}"))
        return blocks

    def check(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        """Failures inside a reply: the Web API's `"ok": false`, a webhook's error word (see the module docstring)."""
        code = error_word(status, headers.get("Content-Type", ""), body)
        if code is None or (code not in _ERRORS and not 200 <= status < 300):
            return  # no word, or one we do not know outside a 2xx (a proxy's?): the status decides
        retryable, reason = _ERRORS.get(code, (False, Reason.CLIENT_ERROR))
        if retryable:
            raise RetryableDelivery(reason, f"HTTP {status}: {code}", retry_after(headers, self.deps.clock))
        raise PermanentDelivery(reason, f"HTTP {status}: {code}")


def error_word(status: int, content_type: str, body: bytes) -> str | None:
    """Slack's error word in a reply, None when it says ok (or says nothing: then the status decides). As in
    Alertmanager, the Content-Type tells the two APIs apart: JSON `{"ok": ...}`, or the text `ok`."""
    if content_type.startswith("application/json"):
        doc = json_body(body)
        if not isinstance(doc, dict) or "ok" not in doc:
            return "unexpected_reply" if 200 <= status < 300 else None
        error = doc.get("error")
        return None if doc["ok"] is True else error if isinstance(error, str) and _CODE.match(error) else "unknown"
    text = body.strip().decode("utf-8", "replace")
    if text == "ok" or (not _CODE.match(text) and not 200 <= status < 300):
        return None
    return text if _CODE.match(text) else "unexpected_reply"


def section(text: str, fields: list[str] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SECTION_MAX)}}
    if fields:
        block["fields"] = [{"type": "mrkdwn", "text": truncate(f, FIELD_MAX)} for f in fields[:FIELDS_MAX]]
    return block


def chars(block: Mapping[str, Any]) -> int:
    """The characters of text a block carries (what Slack's message size limit counts)."""
    return sum(len(t.get("text", "")) for t in [block.get("text") or {}, *block.get("fields", ()),
                                                *block.get("elements", ())])


def context_block(notification: Notification, ai: Mapping[str, str]) -> dict[str, Any]:
    """Links to Alertmanager and a pre-filled silence, and who classified the alerts."""
    url, silence = escape(notification.external_url), escape(silence_url(notification))
    links = [f"<{url}|Alertmanager>", f"<{silence}|Silence>"] if silence else []
    links += [escape(classified_by(ai))] if ai.get("source") else []
    text = truncate(" · ".join(links) or "amtriage", RESERVE // 2)
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


KIND = SlackForwarder
