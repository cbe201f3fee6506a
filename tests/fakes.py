"""Fakes that speak the real wire protocol: a recording downstream receiver on a real aiohttp server."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

from receiver import alerts
from receiver.alerts import Notification
from receiver.forwarders import Forwarder

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "alertmanager"
PAYLOADS = sorted(p for p in FIXTURES.glob("[0-9][0-9]-*.json") if not p.name.endswith(".raw-body.json"))


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    query: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return orjson.loads(self.body)


class RecordingSink:
    """A downstream receiver: records every request and answers from a script (then 200).

        sink = RecordingSink()
        sink.script(Reply(503), Reply(429, {"Retry-After": "120"}))
        url = await sink.start()
    """

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.replies: list[Reply] = []
        self.arrived = asyncio.Event()
        self.server: TestServer | None = None

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(Received(request.path, dict(request.headers), await request.read(), dict(request.query)))
        self.arrived.set()
        reply = self.replies.pop(0) if self.replies else Reply()
        return web.Response(status=reply.status, headers=reply.headers, body=reply.body)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server(access_log=None)
        return self.url()

    def url(self, path: str = "/hook") -> str:
        assert self.server is not None, "start() the sink first"
        return str(self.server.make_url(path))

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    async def wait_for(self, count: int, within: float = 10.0) -> list[Received]:
        """Wait until `count` requests arrived (a bound against hangs, not a timing assertion)."""
        async with asyncio.timeout(within):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received


class ManualClock:
    """A clock tests move by hand: `clock()` reads it, `clock.advance(30)` moves it."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Reported:
    """Records what a forwarder reports through Deps.on_template_error."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, receiver: str, error: str) -> None:
        self.calls.append((receiver, error))


def plain(name: str = "02-firing-group-3-alerts.json") -> Notification:
    """A fixture as Alertmanager sent it, without enrichment (amtriage in transparent mode)."""
    return alerts.parse((FIXTURES / name).read_bytes())


def one(notification: Notification, **changes: Any) -> Notification:
    """The notification with only its first alert, changed by `changes` (labels=, annotations=, ...)."""
    return notification.with_alerts((replace(notification.alerts[0], **changes),))


async def sent(forwarder: Forwarder, sink: RecordingSink, notification: Notification) -> list[Any]:
    await forwarder.send(notification, notification.to_json())
    return [r.json() for r in sink.received]
