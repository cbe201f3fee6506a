"""Message text for forwarders: Jinja2 in a sandbox, a good default per field, and hard limits.

A kind declares its fields and their default templates; the user may override any of them in the
receiver's config (`templates: {title: ..., text: ...}`). A user template that does not compile is
a config error; one that fails while rendering (a missing key used as a mapping, say) is reported
through `on_error` and the default is used, so an alert is never dropped for its message text.

    texts = Templates("team-slack", {"title": "{{ status|upper }}: {{ groupLabels.alertname }}"},
                      user={}, on_error=report)
    title = texts.render("title", message_context(notification, "ai_"))

The context: `status`, `receiver`, `groupLabels`, `commonLabels`, `commonAnnotations`,
`externalURL`, `commonAI` (the enrichment every alert shares, without its prefix), `alerts` (each
with `status`, `labels`, `annotations`, `ai` — the enrichment without its prefix — `startsAt`,
`endsAt`, `generatorURL`, `fingerprint`), `firing`, `resolved`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from receiver.alerts import Alert, Notification
from receiver.configread import Fields

_ENV = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_ENV_LENIENT = SandboxedEnvironment(autoescape=False, trim_blocks=True, lstrip_blocks=True)
MARKER = "…"


def truncate(text: str, limit: int, marker: str = MARKER) -> str:
    """At most `limit` characters; a cut text ends in `marker`, so a reader sees that it was cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(marker))] + marker


def alert_context(alert: Alert, prefix: str) -> dict[str, Any]:
    ai = {k[len(prefix):]: v for k, v in alert.annotations.items() if k.startswith(prefix)}
    return {
        "status": alert.status,
        "labels": dict(alert.labels),
        "annotations": {k: v for k, v in alert.annotations.items() if not k.startswith(prefix)},
        "ai": ai,
        "startsAt": alert.starts_at,
        "endsAt": alert.ends_at,
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }


def message_context(notification: Notification, prefix: str) -> dict[str, Any]:
    alerts = [alert_context(a, prefix) for a in notification.alerts]
    return {
        "status": notification.status,
        "receiver": notification.receiver,
        "groupLabels": dict(notification.group_labels),
        "commonLabels": dict(notification.common_labels),
        "commonAnnotations": dict(notification.common_annotations),
        "externalURL": notification.external_url,
        "alerts": alerts,
        "firing": [a for a in alerts if a["status"] == "firing"],
        "resolved": [a for a in alerts if a["status"] == "resolved"],
        "truncatedAlerts": notification.truncated_alerts,
        "commonAI": {k[len(prefix):]: v for k, v in notification.common_annotations.items() if k.startswith(prefix)},
    }


def template_options(f: Fields, fields: tuple[str, ...]) -> dict[str, str]:
    """Read `templates:` of a receiver: only the kind's own fields, each compiled now (errors by path)."""
    section = f.section("templates")
    user: dict[str, str] = {}
    for name in fields:
        text = section.string(name)
        if not text:
            continue
        try:
            _ENV.from_string(text)
        except TemplateError as exc:
            section.error(name, f"template does not compile: {exc}")
            continue
        user[name] = text
    section.done()
    return user


class Templates:
    """The texts of one receiver; see the module docstring."""

    def __init__(
        self,
        receiver: str,
        defaults: Mapping[str, str],
        user: Mapping[str, str],
        on_error: Callable[[str, str], None],
    ) -> None:
        self.receiver = receiver
        self.defaults = {k: _ENV_LENIENT.from_string(v) for k, v in defaults.items()}
        self.user = {k: _ENV.from_string(v) for k, v in user.items()}
        self.on_error = on_error

    def render(self, field: str, context: Mapping[str, Any]) -> str:
        template = self.user.get(field)
        if template is not None:
            try:
                return template.render(context).strip()
            except Exception as exc:  # any failure of a user's template falls back; it is reported
                self.on_error(self.receiver, f"templates.{field}: {type(exc).__name__}: {exc}")
        return self.defaults[field].render(context).strip()
