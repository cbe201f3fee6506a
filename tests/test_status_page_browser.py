"""The status page at `/` as a person sees it: rendered by a real headless Chromium (Debian's `chromium`)."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from receiver.app import build_app
from tests.conftest import ConfigFactory
from tests.fakes import FIXTURES, RecordingSink, Reply
from tests.proc import free_port

pytestmark = pytest.mark.subprocess
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


async def dump_dom(url: str, profile: Path) -> str:
    """What Chromium renders for `url` (the flags keep it off the network but for loopback)."""
    proc = await asyncio.create_subprocess_exec(
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--dump-dom", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    return out.decode()


async def test_status_page_shows_breakers_and_outbox(make_config: ConfigFactory, sink: RecordingSink,
                                                     tmp_path: Path) -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (make test installs it)")
        pytest.skip("chromium is not installed; `make test` installs it")
    extra = ("llm:\n  enabled: true\n  providers:\n    - {name: primary, type: openai, model: gpt-4o-mini, "
             "api_key: sk-page-test, base_url: 'http://127.0.0.1:9/v1'}\n")
    sink.script(Reply(400))
    server = TestServer(build_app(make_config(url=sink.url(), extra=extra), registry=CollectorRegistry()),
                        host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        async with asyncio.timeout(30), aiohttp.ClientSession() as session:
            await session.post(str(server.make_url("/webhook")), data=(FIXTURES / "01-firing-single.json").read_bytes())
            while True:  # the refusing receiver leaves a dead letter just after its reply
                async with session.get(str(server.make_url("/api/v1/status"))) as resp:
                    if (await resp.json())["outbox"]["dead_letters"] == 1:
                        break
                await asyncio.sleep(0.05)
        dom = await dump_dom(str(server.make_url("/")), tmp_path / "profile")
    finally:
        await server.close()
    breakers = dom.split('id="breakers"')[1].split("</section>")[0]
    outbox = dom.split('id="outbox"')[1].split("</section>")[0]
    receivers = dom.split('id="receivers"')[1].split("</section>")[0]
    assert "primary" in breakers
    assert "closed" in breakers
    assert "<td>1</td>" in outbox  # the dead letter the refusing receiver left
    assert "sink" in receivers
    assert "sk-page-test" not in dom
