"""HTTP for forwarders: one place that sends, and one that decides what a reply means.

`check_response` is Alertmanager's `Retrier.Check`: 2xx delivered; 429, 408 and 5xx worth another
attempt (with the receiver's Retry-After); any other status permanent. A kind whose API can fail
inside a 2xx (Slack's `"ok": false`, Telegram's, Teams' throttling text) passes `check_body`,
which runs first and may raise with a reason and a retry time of its own.

    body = await post(deps, url, payload, headers=..., timeout=..., check_body=slack_ok)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import aiohttp
import orjson

from receiver import __version__
from receiver.config import Credentials
from receiver.errors import DeliveryError, PermanentDelivery, Reason, RetryableDelivery

BodyCheck = Callable[[int, Mapping[str, str], bytes], None]
T = TypeVar("T")
USER_AGENT = f"amtriage/{__version__}"


@dataclass(frozen=True, slots=True)
class Deps:
    """What every forwarder is built with: the shared session, the clock, and where to report."""

    session: aiohttp.ClientSession
    clock: Callable[[], float]
    annotation_prefix: str = "ai_"
    on_template_error: Callable[[str, str], None] = lambda receiver, error: None


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


def auth_headers(credentials: Credentials) -> dict[str, str]:
    """The Authorization header for bearer or basic credentials (none when there are none)."""
    import base64

    if credentials.bearer_token:
        return {"Authorization": f"Bearer {credentials.bearer_token}"}
    if credentials.username is not None:
        pair = f"{credentials.username}:{credentials.password or ''}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    return {}


def json_body(body: bytes) -> Any:
    """The reply as JSON, or None when it is not JSON (a proxy's HTML error page, say)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


async def post(
    deps: Deps,
    url: str,
    payload: Any,
    *,
    headers: Mapping[str, str],
    timeout: float,
    check_body: BodyCheck | None = None,
) -> bytes:
    """POST `payload` (bytes as they are, anything else as JSON); returns the reply body or raises
    DeliveryError. Error texts carry the status and reason only, never the URL (it may hold a token)."""
    data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    all_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    try:
        async with deps.session.post(url, data=data, headers=all_headers,
                                     timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            body = await resp.read()
            status, reply_headers = resp.status, resp.headers
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise transport_error(exc) from None
    if check_body is not None:
        check_body(status, reply_headers, body)
    check_response(status, reply_headers, deps.clock)
    return body

STOP_REASONS = frozenset({Reason.RATE_LIMIT, Reason.TIMEOUT, Reason.NETWORK_ERROR, Reason.AUTH})


async def send_each(send_one: Callable[[T], Awaitable[None]], events: Sequence[T]) -> None:
    """Send every event in turn; then raise the first retryable failure if any, else the first permanent
    one. A rate limit, timeout, network or auth failure stops the round: the rest would fail alike."""
    failures: list[DeliveryError] = []
    for event in events:
        try:
            await send_one(event)
        except DeliveryError as exc:
            failures.append(exc)
            if exc.reason in STOP_REASONS:
                break
    if not failures:
        return
    if len(events) == 1:
        raise failures[0]
    retryable = [f for f in failures if isinstance(f, RetryableDelivery)]
    note = f" ({len(failures)} of {len(events)} events failed)"
    if retryable:
        waits = [r.retry_after for r in retryable if r.retry_after is not None]
        raise RetryableDelivery(retryable[0].reason, retryable[0].detail + note, max(waits) if waits else None)
    raise PermanentDelivery(failures[0].reason, failures[0].detail + note)
