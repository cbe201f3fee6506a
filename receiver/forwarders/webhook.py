"""The `webhook` forwarder: the notification in Alertmanager v4 form, so any webhook receiver can sit downstream.

    receivers:
      - name: team-webhook
        type: webhook
        url: https://hooks.example.com/alertmanager
        bearer_token_file: /etc/amtriage/hook-token   # or basic: {username, password_file}
        headers: {X-Team: sre}
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import aiohttp

from receiver import __version__
from receiver.alerts import Notification
from receiver.config import Credentials, ReceiverConfig
from receiver.forwarders import check_response, transport_error


class WebhookForwarder:
    """POSTs the stored notification body as JSON; see the module docstring for its config."""

    integration = "webhook"

    def __init__(self, config: ReceiverConfig, session: aiohttp.ClientSession, clock: Callable[[], float]) -> None:
        self.name = config.name
        self.url = config.url
        self.session = session
        self.clock = clock
        self.timeout = aiohttp.ClientTimeout(total=config.timeout)
        self.headers = {
            "Content-Type": "application/json",
            "User-Agent": f"amtriage/{__version__}",
            **config.headers,
            **auth_headers(config.credentials),
        }

    async def send(self, notification: Notification, body: bytes) -> None:
        try:
            async with self.session.post(self.url, data=body, headers=self.headers, timeout=self.timeout) as resp:
                await resp.read()
                check_response(resp.status, resp.headers, self.clock)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise transport_error(exc) from None


def auth_headers(credentials: Credentials) -> dict[str, str]:
    """The Authorization header for bearer or basic credentials (none when there are none)."""
    if credentials.bearer_token:
        return {"Authorization": f"Bearer {credentials.bearer_token}"}
    if credentials.username is not None:
        pair = f"{credentials.username}:{credentials.password or ''}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    return {}
