"""The `telegram` forwarder: Bot API `sendMessage` in HTML, split into several messages when long.

    receivers:
      - name: sre-telegram
        type: telegram
        bot_token_file: /etc/amtriage/telegram-token  # or bot_token: 123456789:AA…; a secret (it is in the URL)
        chat_id: -1001234567890         # a numeric chat id, or "@channelusername" for a public channel
        message_thread_id: 42           # optional: the topic of a forum supergroup
        disable_notification: false     # true: deliver silently
        max_messages: 4                 # at most this many messages per notification
        templates:                      # Jinja2 producing Telegram HTML; every value arrives HTML-escaped
          text: "<b>{{ status|upper }}</b> {{ groupLabels.alertname }}: {{ alerts[0].summary }}"

`url` (default https://api.telegram.org) may name a self-hosted Bot API server. Templates get the message
context plus per alert `severity`, `summary`, `links`, `details`, and `severity`, `commonAI`; every string
HTML-escaped. Past 4096 characters (after entity parsing, in UTF-16 units) or 32 KiB, the text is split at
line ends, else between tags and entities (never inside one), closing open tags at the cut and reopening
them after it; parts are numbered, and cut past `max_messages`. Telegram has no deduplication: when a later
part fails, the retry sends all again. Errors never hold the URL (it has the token); replies are scrubbed.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from receiver.alerts import Notification
from receiver.config import ReceiverConfig
from receiver.configread import Fields
from receiver.errors import DeliveryError, PermanentDelivery, Reason, RetryableDelivery
from receiver.forwarders import templates
from receiver.forwarders.discord import message_context
from receiver.forwarders.http import Deps, auth_headers, json_body, post

TEXT_MAX, RAW_MAX, RESERVE = 4096, 1 << 15, 64  # RESERVE: room for the "(2/3)" line and the cut note
_TOKENS = re.compile(r"<[^<>]*>|&(?:#\d+|#x[0-9a-fA-F]+|[A-Za-z]+);|[^<&]{1,100}|[<&]")
_TAG = re.compile(r"<(/?)([A-Za-z][\w-]*)[^<>]*>")
_BOT_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")
_CHANNEL = re.compile(r"@[A-Za-z][A-Za-z0-9_]{3,}")

DEFAULTS = {"text": """\
{{ '🔥' if status == 'firing' else '✅' }} <b>{{ status|upper }}{{ ' · ' ~ severity|upper if firing and severity }}\
</b> {{ groupLabels.values()|join(' ') or commonLabels.alertname or 'alerts' }} — {{ (firing|length ~ ' firing') \
if firing }}{{ ', ' if firing and resolved }}{{ (resolved|length ~ ' resolved') if resolved }}\
{{ ' · <a href="%s">Alertmanager</a>'|format(externalURL) if externalURL.startswith('http') }}
{% for k, v in commonLabels.items() if k not in ('alertname', 'severity') %}<code>{{ k }}={{ v }}</code> {% endfor %}

{% set common = commonAI.summary or commonAnnotations.summary %}
{% if common %}<b>{{ common }}</b>
{% endif %}
{% if commonAI.recommendations and firing %}<b>Next steps</b>
{% for line in commonAI.recommendations.splitlines() if line.strip() %}• {{ line }}
{% endfor %}{% endif %}
{% for alert in alerts %}

{{ '🔴' if alert.status == 'firing' else '🟢' }} <b>{{ alert.labels.alertname or 'alert' }}</b>\
{{ ' · ' ~ alert.severity if alert.status == 'firing' and alert.severity }}\
{% for k, v in alert.labels.items() if k not in commonLabels and k not in ('alertname', 'severity') %} \
<code>{{ k }}={{ v }}</code>{% endfor %}

{% if alert.summary != common %}{{ alert.summary }}
{% endif %}
{% if alert.details %}<i>{{ alert.details }}</i>
{% endif %}
{% set own = alert.ai.recommendations if alert.ai.recommendations != commonAI.recommendations %}
{% if own and alert.status == 'firing' %}{% for line in own.splitlines() if line.strip() %}• {{ line }}
{% endfor %}{% endif %}
{% if alert.links %}{% for name, url in alert.links %}<a href="{{ url }}">{{ name }}</a> {% endfor %}

{% endif %}
{% endfor %}
"""}


@dataclass(frozen=True, slots=True)
class TelegramOptions:
    bot_token: str = field(repr=False)
    chat_id: int | str
    message_thread_id: int | None = None
    disable_notification: bool = False
    max_messages: int = 4
    templates: Mapping[str, str] = field(default_factory=dict)


def escaped(value: Any) -> Any:
    """Every string of a template context HTML-escaped for Telegram (`<`, `>`, `&` and `"`)."""
    if isinstance(value, dict):
        return {escaped(k): escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(escaped(v) for v in value)
    return html.escape(value, quote=False).replace('"', "&quot;") if isinstance(value, str) else value


def width(token: str) -> int:
    """Characters Telegram counts (UTF-16 units after entity parsing): 0 for a tag, 1 for an entity."""
    if _TAG.fullmatch(token) or (token[0] == "&" and token[-1] == ";" and len(token) > 2):
        return 0 if token[0] == "<" else 1
    return len(token.encode("utf-16-le")) // 2


class _Parts:
    """Telegram HTML cut into messages of at most `limit` characters and `raw_limit` bytes; see `split`."""

    def __init__(self, limit: int, raw_limit: int) -> None:
        self.limit, self.raw_limit = limit, raw_limit
        self.parts: list[str] = []
        self.out: list[str] = []
        self.open: list[tuple[str, str]] = []  # the tags open here: (name, the tag as written)
        self.used, self.raw, self.fresh = 0, 0, True  # fresh: nothing but reopened tags yet

    def fits(self, used: int, raw: int) -> bool:
        closing = sum(len(name) + 3 for name, _ in self.open)
        return self.used + used <= self.limit and self.raw + raw + closing <= self.raw_limit

    def cut(self) -> None:
        text = "".join(self.out) + "".join(f"</{name}>" for name, _ in reversed(self.open))
        if _TAG.sub("", text).strip():
            self.parts.append(text.strip())
        self.out = [tag for _, tag in self.open]
        self.used, self.raw, self.fresh = 0, sum(len(tag.encode()) for tag in self.out), True

    def add(self, token: str) -> None:
        if tag := _TAG.fullmatch(token):
            names = [name for name, _ in self.open]
            if not tag[1]:
                self.open.append((tag[2].lower(), token))
            elif tag[2].lower() in names:
                del self.open[len(names) - 1 - names[::-1].index(tag[2].lower())]
        self.out.append(token)
        self.used, self.raw, self.fresh = self.used + width(token), self.raw + len(token.encode()), False


def split(text: str, limit: int = TEXT_MAX - RESERVE, raw_limit: int = RAW_MAX - 4 * RESERVE) -> list[str]:
    """Cut at line ends where a line fits, else between tags, entities and runs of at most 100 characters;
    tags open at a cut are closed before it and opened again after it. Parts without text are dropped."""
    parts = _Parts(limit, raw_limit)
    for line in text.split("\n"):
        tokens = _TOKENS.findall(line)
        if not parts.fresh and not parts.fits(1 + sum(map(width, tokens)), 1 + len(line.encode())):
            parts.cut()
        for token in ([] if parts.fresh else ["\n"]) + tokens:
            if not parts.fits(width(token), len(token.encode())):
                parts.cut()
            parts.add(token)
    parts.cut()
    return parts.parts


def check_reply(status: int, headers: Mapping[str, str], body: bytes, token: str) -> None:
    """Judge a Bot API reply with `"ok": false` (`error_code`, `description`, `parameters`), a 200 included."""
    doc = json_body(body)
    if not isinstance(doc, dict) or doc.get("ok") is not False:
        return  # delivered, or a proxy's page whose status check_response judges
    code: int = doc["error_code"] if isinstance(doc.get("error_code"), int) else status
    words = " ".join(str(doc.get("description", "")).split())[:200]
    detail = f"Telegram {code}: {words.replace(token, '<bot_token>') if token else words}"
    params: dict[str, Any] = doc["parameters"] if isinstance(doc.get("parameters"), dict) else {}
    if new := params.get("migrate_to_chat_id"):
        raise PermanentDelivery(Reason.CLIENT_ERROR, f"{detail}: the group is now supergroup {new}; set chat_id: {new}")
    if code == 429 or "retry_after" in params:
        wait = params.get("retry_after")
        seconds = float(wait) if isinstance(wait, int | float) and not isinstance(wait, bool) else None
        raise RetryableDelivery(Reason.RATE_LIMIT, detail, seconds)
    if code >= 500:
        raise RetryableDelivery(Reason.SERVER_ERROR, detail)
    raise PermanentDelivery(Reason.AUTH if code in (401, 403) else Reason.CLIENT_ERROR, detail)


class TelegramForwarder:
    """Sends a notification to a Telegram chat as a bot; see the module docstring for its config."""

    integration: ClassVar[str] = "telegram"
    default_url: ClassVar[str | None] = "https://api.telegram.org"

    @classmethod
    def options(cls, f: Fields) -> TelegramOptions:
        token = f.required_secret("bot_token")
        if token and not _BOT_TOKEN.fullmatch(token):
            f.error("bot_token", "must be the token @BotFather gave, like 123456789:AA…")
        thread = f.integer("message_thread_id", 1, minimum=1) if f.has("message_thread_id") else None
        return TelegramOptions(token, _chat_id(f), thread, f.boolean("disable_notification", False),
                               f.integer("max_messages", 4, minimum=1), templates.template_options(f, ("text",)))

    def __init__(self, config: ReceiverConfig, deps: Deps) -> None:
        self.name, self.config = config.name, config
        self.settings: TelegramOptions = config.options
        self.deps = deps
        self.headers = {**config.headers, **auth_headers(config.credentials)}
        self.texts = templates.Templates(config.name, DEFAULTS, self.settings.templates, deps.on_template_error)
        self.fallback = templates.Templates(config.name, DEFAULTS, {}, deps.on_template_error)  # for an empty text
        self.url = f"{config.url.rstrip('/')}/bot{self.settings.bot_token}/sendMessage"  # never in a message
        self.check = functools.partial(check_reply, token=self.settings.bot_token)

    async def send(self, notification: Notification, body: bytes) -> None:
        texts = self.messages(notification)
        for number, text in enumerate(texts, 1):
            try:
                await post(self.deps, self.url, self.payload(text), headers=self.headers,
                           timeout=self.config.timeout, check_body=self.check)
            except DeliveryError as exc:
                if number > 1:  # the earlier messages went through; the retry sends them again
                    exc.detail += f" (message {number} of {len(texts)})"
                    exc.args = (f"{exc.reason}: {exc.detail}",)
                raise

    def messages(self, notification: Notification) -> list[str]:
        """The HTML texts for one notification: the rendered text split, numbered, and cut if too many."""
        context = message_context(notification, self.deps.annotation_prefix)
        budget = min(1000, max(0, 3000 // max(1, len(context["alerts"])) - 150))
        for alert in context["alerts"]:
            details = alert["annotations"].get("description", "")
            alert["details"] = templates.truncate(details, budget) if budget and details != alert["summary"] else ""
        parts = split(self.texts.render("text", safe := escaped(context))) or split(self.fallback.render("text", safe))
        kept = parts[: self.settings.max_messages]
        notes = [f"\n<i>({n}/{len(kept)})</i>" if len(parts) > 1 else "" for n in range(1, len(kept) + 1)]
        if len(parts) > len(kept):
            notes[-1] = f"\n<i>({len(kept)}/{len(kept)}; cut here: the whole text needs {len(parts)} messages)</i>"
        return [part + note for part, note in zip(kept, notes, strict=True)]

    def payload(self, text: str) -> dict[str, Any]:
        extra = {"message_thread_id": self.settings.message_thread_id,
                 "disable_notification": self.settings.disable_notification or None}
        return {"chat_id": self.settings.chat_id, "text": text, "parse_mode": "HTML",
                "link_preview_options": {"is_disabled": True}} | {k: v for k, v in extra.items() if v is not None}


def _chat_id(f: Fields) -> int | str:
    """A numeric chat id (a YAML number or a string of digits) or a public channel's @username."""
    value = f.get("chat_id")
    text = "" if value is None or isinstance(value, bool | dict | list) else str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if not _CHANNEL.fullmatch(text):
        f.error("chat_id", "is required" if value in (None, "") else
                "must be a numeric chat id (like -1001234567890) or a public channel's @username")
    return text


KIND = TelegramForwarder
