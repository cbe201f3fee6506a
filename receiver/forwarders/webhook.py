"""The `webhook` forwarder: the notification in Alertmanager v4 form, so any webhook receiver can sit downstream.

    receivers:
      - name: team-webhook
        type: webhook
        url: https://hooks.example.com/alertmanager    # or url_file
        bearer_token_file: /etc/amtriage/hook-token   # or basic: {username, password_file}
        headers: {X-Team: sre}
"""

from __future__ import annotations

from typing import Any, ClassVar

from receiver.alerts import Notification
from receiver.config import ReceiverConfig
from receiver.configread import Fields
from receiver.forwarders.http import Deps, auth_headers, post


class WebhookForwarder:
    """POSTs the stored notification body as it is; see the module docstring for its config."""

    integration: ClassVar[str] = "webhook"
    default_url: ClassVar[str | None] = None

    @classmethod
    def options(cls, f: Fields) -> Any:
        return None

    def __init__(self, config: ReceiverConfig, deps: Deps) -> None:
        self.name = config.name
        self.config = config
        self.deps = deps
        self.headers = {**config.headers, **auth_headers(config.credentials)}

    async def send(self, notification: Notification, body: bytes) -> None:
        await post(self.deps, self.config.url, body, headers=self.headers, timeout=self.config.timeout)


KIND = WebhookForwarder
