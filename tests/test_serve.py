"""`amtriage serve` as a real process: what it acknowledged survives kill -9 and is delivered after restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp import web

from tests.fakes import FIXTURES, RecordingSink
from tests.proc import Serve, free_port, wait_ready

pytestmark = pytest.mark.subprocess

TOKEN = "kill-nine-token"


@pytest.fixture
def serve(tmp_path: Path) -> tuple[Serve, int]:
    return Serve(tmp_path / "amtriage.yaml", tmp_path / "serve.log"), free_port()


async def test_acknowledged_notification_survives_kill_9(tmp_path: Path, serve: tuple[Serve, int]) -> None:
    server, port = serve
    release = asyncio.Event()
    sink = RecordingSink()
    original = sink.handle

    async def handle(request: web.Request) -> web.Response:
        if not release.is_set():  # first life: the delivery is claimed and in flight, never answered
            sink.arrived.set()
            await asyncio.Event().wait()
        return await original(request)

    sink.handle = handle  # type: ignore[method-assign]
    await sink.start()
    server.config.write_text(
        f"server: {{listen: '127.0.0.1:{port}', auth: {{bearer_token: {TOKEN}}}}}\n"
        f"outbox: {{path: '{tmp_path / 'outbox.db'}'}}\n"
        f"receivers: [{{name: sink, type: webhook, url: '{sink.url()}', timeout: 60s}}]\n"
    )
    base = f"http://127.0.0.1:{port}"
    body = (FIXTURES / "02-firing-group-3-alerts.json").read_bytes()
    try:
        proc = server.start()
        await wait_ready(base + "/readyz", proc)
        async with aiohttp.ClientSession() as session:
            resp = await session.post(base + "/webhook", data=body, headers={"Authorization": f"Bearer {TOKEN}"})
            assert resp.status == 200
        async with asyncio.timeout(30):
            await sink.arrived.wait()  # claimed and on its way when the process dies
        assert server.kill() == -9
        assert sink.received == []
        release.set()
        proc = server.start()
        await wait_ready(base + "/readyz", proc)
        [got] = await sink.wait_for(1, within=30)
    finally:
        server.stop()
        await sink.close()
    sent = orjson.loads(body)
    assert [a["labels"] for a in got.json()["alerts"]] == [a["labels"] for a in sent["alerts"]]
    assert all(a["annotations"]["ai_source"] == "rules" for a in got.json()["alerts"])
