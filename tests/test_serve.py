"""`amtriage serve` as a real process: what it acknowledged survives kill -9 and is delivered after restart."""

from __future__ import annotations

import asyncio
import signal
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


async def test_sigterm_drains_in_flight_delivery_and_keeps_the_rest(tmp_path: Path,
                                                                   serve: tuple[Serve, int]) -> None:
    """SIGTERM: no new connections, the delivery in flight finishes, what was not started stays in the
    outbox and goes out after restart; nothing is sent twice."""
    server, port = serve
    release = asyncio.Event()
    sink = RecordingSink()
    original = sink.handle

    async def handle(request: web.Request) -> web.Response:
        if not sink.received:
            sink.arrived.set()
            await release.wait()
        return await original(request)

    sink.handle = handle  # type: ignore[method-assign]
    await sink.start()
    server.config.write_text(
        f"server: {{listen: '127.0.0.1:{port}'}}\n"
        f"outbox: {{path: '{tmp_path / 'outbox.db'}'}}\n"
        "delivery: {concurrency: 1}\n"
        f"receivers: [{{name: sink, type: webhook, url: '{sink.url()}', timeout: 60s}}]\n"
    )
    base = f"http://127.0.0.1:{port}"
    first = (FIXTURES / "01-firing-single.json").read_bytes()
    second = (FIXTURES / "03-resolved-single.json").read_bytes()
    try:
        proc = server.start()
        await wait_ready(base + "/readyz", proc)
        async with aiohttp.ClientSession() as session:
            assert (await session.post(base + "/webhook", data=first)).status == 200
            async with asyncio.timeout(30):
                await sink.arrived.wait()
            assert (await session.post(base + "/webhook", data=second)).status == 200
        server.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        async with asyncio.timeout(30):
            while True:  # the listener closes first
                try:
                    async with aiohttp.ClientSession() as session, session.post(base + "/webhook", data=first):
                        pass
                except aiohttp.ClientConnectionError:
                    break
                await asyncio.sleep(0.05)
        release.set()
        assert await asyncio.to_thread(server.proc.wait, 30) == 0  # type: ignore[union-attr]
        assert len(sink.received) == 1
        proc = server.start()
        await wait_ready(base + "/readyz", proc)
        await sink.wait_for(2, within=30)
        async with aiohttp.ClientSession() as session, session.get(base + "/api/v1/status") as resp:
            assert (await resp.json())["outbox"]["depth"] == 0
    finally:
        server.stop()
        await sink.close()
    assert [orjson.loads(r.body)["alerts"][0]["status"] for r in sink.received] == ["firing", "resolved"]


async def test_sighup_reloads_the_config(tmp_path: Path, serve: tuple[Serve, int]) -> None:
    server, port = serve
    sink = RecordingSink()
    await sink.start()

    def write(path: str) -> None:
        server.config.write_text(
            f"server: {{listen: '127.0.0.1:{port}'}}\n"
            f"outbox: {{path: '{tmp_path / 'outbox.db'}'}}\n"
            f"receivers: [{{name: sink, type: webhook, url: '{sink.url(path)}'}}]\n"
        )

    write("/before")
    base = f"http://127.0.0.1:{port}"
    try:
        proc = server.start()
        await wait_ready(base + "/readyz", proc)
        write("/after")
        proc.send_signal(signal.SIGHUP)
        async with aiohttp.ClientSession() as session, asyncio.timeout(30):
            while True:
                async with session.get(base + "/metrics") as resp:
                    if 'amtriage_config_reloads_total{result="success"} 1.0' in await resp.text():
                        break
                await asyncio.sleep(0.05)
            assert (await session.post(base + "/webhook", data=(FIXTURES / "01-firing-single.json").read_bytes())
                    ).status == 200
        [got] = await sink.wait_for(1, within=30)
        assert got.path == "/after"
    finally:
        server.stop()
        await sink.close()
