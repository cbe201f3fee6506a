"""Forwarders: one module per downstream kind behind the `Forwarder` Protocol, built by `build`.

Every HTTP reply goes through `check_response`, the one place that decides success, retry or
give up (Alertmanager's `Retrier.Check`): 2xx is delivered; 429, 5xx and 408 are worth another
attempt (with the receiver's `Retry-After`); any other status is permanent.

    forwarders = build(config.receivers, session)
    await forwarders["team-webhook"].send(notification, body)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import Protocol

import aiohttp

from receiver.alerts import Notification
from receiver.config import ReceiverConfig
from receiver.errors import PermanentDelivery, Reason, RetryableDelivery


class Forwarder(Protocol):
    """Sends one notification to one downstream; raises DeliveryError when it was not taken."""

    name: str
    integration: str

    async def send(self, notification: Notification, body: bytes) -> None:
        """`body` is the notification as stored (Alertmanager v4 JSON), for kinds that pass it through."""
        ...


def check_response(status: int, headers: Mapping[str, str], now: Callable[[], float]) -> None:
    """Raise unless `status` means delivered; the retryable reasons carry Retry-After in seconds."""
    if 200 <= status < 300:
        return
    if status == 429:
        raise RetryableDelivery(Reason.RATE_LIMIT, f"HTTP {status}", retry_after(headers, now))
    if status >= 500 or status == 408:
        raise RetryableDelivery(Reason.SERVER_ERROR, f"HTTP {status}", retry_after(headers, now))
    if status in (401, 403):
        raise PermanentDelivery(Reason.AUTH, f"HTTP {status}")
    raise PermanentDelivery(Reason.CLIENT_ERROR, f"HTTP {status}")


def retry_after(headers: Mapping[str, str], now: Callable[[], float]) -> float | None:
    """Retry-After as seconds (it may be a number or an HTTP date); None when absent or unreadable."""
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now())
    except (TypeError, ValueError):
        return None


def transport_error(exc: BaseException) -> RetryableDelivery:
    """What a failed request (no HTTP reply at all) means for delivery."""
    if isinstance(exc, asyncio.TimeoutError):
        return RetryableDelivery(Reason.TIMEOUT, "request timed out")
    return RetryableDelivery(Reason.NETWORK_ERROR, type(exc).__name__)


ForwarderFactory = Callable[[ReceiverConfig, aiohttp.ClientSession, Callable[[], float]], Forwarder]


def build(
    receivers: Sequence[ReceiverConfig], session: aiohttp.ClientSession, clock: Callable[[], float]
) -> dict[str, Forwarder]:
    """One forwarder per configured receiver, by name."""
    from receiver.forwarders.webhook import WebhookForwarder

    kinds: dict[str, ForwarderFactory] = {"webhook": WebhookForwarder}
    return {r.name: kinds[r.type](r, session, clock) for r in receivers}
