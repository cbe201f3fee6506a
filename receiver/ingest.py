"""HTTP handlers: the webhook Alertmanager posts to, health, readiness and metrics (operators' API: `api.py`).

The webhook is the hot path: check credentials, read at most `max_body_bytes`, parse, one durable
write (group-committed by the outbox), 200. Nothing else happens before the answer: no config
read, no LLM, no downstream call. The answers are Alertmanager's to act on: 5xx is retried by
Alertmanager, 4xx is not, so a full or broken outbox is 503 and never 429.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from receiver import alerts
from receiver.config import Config, Credentials
from receiver.errors import OutboxError, OutboxFull, PayloadError
from receiver.forwarders.http import auth_headers
from receiver.metrics import Metrics
from receiver.outbox import Outbox
from receiver.pipeline import Enricher


class Authorizer:
    """Checks the Authorization header Alertmanager's http_config sends: bearer and/or basic, as
    configured (none configured: open). Secrets are compared in constant time."""

    def __init__(self, credentials: Credentials) -> None:
        self.accepted: list[tuple[str, bytes]] = []
        for one in (Credentials(bearer_token=credentials.bearer_token),
                    Credentials(username=credentials.username, password=credentials.password)):
            scheme, _, secret = auth_headers(one).get("Authorization", "").partition(" ")
            if scheme:
                self.accepted.append((scheme.lower(), secret.encode()))
        self.scheme = self.accepted[0][0] if self.accepted else ""

    def allows(self, header: str | None) -> bool:
        if not self.accepted:
            return True
        scheme, _, secret = (header or "").strip().partition(" ")
        given = (scheme.lower(), secret.strip().encode())
        return any(given[0] == s and hmac.compare_digest(given[1], expected) for s, expected in self.accepted)


@dataclass
class State:
    """What the handlers share; built once by `app.build_app`."""

    config: Config
    metrics: Metrics
    outbox: Outbox
    enricher: Enricher
    authorizer: Authorizer
    ready: bool = False
    reload: Callable[[], Awaitable[list[str]]] | None = None  # set when serving from a config file
    dry_run: Callable[[alerts.Notification, str], Awaitable[alerts.Notification]] | None = None  # on delivery's loop
    llm_state: Any = None  # app.LLMState: the budget and the cache, for the status
    _by_code: dict[int, Any] = field(default_factory=dict)

    def count_request(self, status: int) -> None:
        """Hot path: label lookups are cached (one dict get instead of prometheus-client's lock and tuple)."""
        child = self._by_code.get(status)
        if child is None:
            child = self._by_code[status] = self.metrics.ingest_requests.labels(code=str(status))
        child.inc()

    def count_alerts(self, notification: alerts.Notification) -> None:
        firing = sum(1 for a in notification.alerts if a.status == "firing")
        if firing:
            self.metrics.alerts_received.labels(status="firing").inc(firing)
        if firing < len(notification.alerts):
            self.metrics.alerts_received.labels(status="resolved").inc(len(notification.alerts) - firing)


STATE = web.AppKey("state", State)


def error(status: int, message: str, **headers: str) -> web.Response:
    """A short JSON error body; never echoes request content (Alertmanager logs what we answer)."""
    body = orjson.dumps({"status": "error", "error": message})
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


def json_response(doc: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(doc), content_type="application/json")


async def webhook(request: web.Request) -> web.Response:
    state = request.app[STATE]
    response = await _accept(request, state)
    state.count_request(response.status)
    return response


async def _accept(request: web.Request, state: State) -> web.Response:
    if not state.authorizer.allows(request.headers.get("Authorization")):
        return error(401, "unauthorized", **{"WWW-Authenticate": f'{state.authorizer.scheme.title()} realm="amtriage"'})
    receiver = request.match_info.get("receiver")
    if receiver is not None and state.config.receiver(receiver) is None:
        return error(404, f"no receiver is named {receiver!r}")
    limit = state.config.server.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return error(413, f"body is larger than {limit} bytes")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return error(413, f"body is larger than {limit} bytes")
    try:
        notification = alerts.parse(body)
    except PayloadError as exc:
        return error(400, str(exc))
    try:
        await state.outbox.put(body, receiver)
    except OutboxFull:
        return error(503, "outbox is full, retry later")
    except OutboxError:
        return error(503, "cannot store the notification, retry later")
    state.count_alerts(notification)
    return json_response({"status": "accepted", "alerts": len(notification.alerts)})


async def healthz(request: web.Request) -> web.Response:
    """Alive. An open LLM breaker is reported but does not make the service unhealthy: the rules
    classifying while a provider is down is the design working, not a reason to restart."""
    llm = request.app[STATE].enricher.llm
    breakers = {s.name: str(s.breaker.stats().state) for s in llm.client.slots} if llm is not None else {}
    return json_response({"status": "ok", "llm_breakers": breakers})


async def readyz(request: web.Request) -> web.Response:
    if not request.app[STATE].ready:
        return error(503, "not ready")
    return json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[STATE].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_routes(app: web.Application) -> None:
    app.add_routes([
        web.post("/webhook", webhook),
        web.post("/webhook/{receiver}", webhook),
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
        web.get("/metrics", metrics),
    ])
