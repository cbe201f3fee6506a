"""A real Alertmanager (Debian's prometheus-alertmanager) posts to amtriage, which forwards enriched alerts."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from receiver.app import build_app
from tests.conftest import ConfigFactory
from tests.fakes import RecordingSink
from tests.proc import free_port, wait_ready

pytestmark = pytest.mark.subprocess

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
TOKEN = "am-e2e-token"


@pytest.fixture
async def alertmanager(tmp_path: Path) -> AsyncIterator[Callable[[int], Awaitable[str]]]:
    """Starts a real Alertmanager whose only receiver is amtriage's /webhook on `port` (bearer auth)."""
    if BINARY is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus-alertmanager is not installed (make test installs it)")
        pytest.skip("prometheus-alertmanager is not installed; `make test` installs it")
    procs: list[asyncio.subprocess.Process] = []

    async def start(amtriage_port: int) -> str:
        config = tmp_path / "alertmanager.yml"
        config.write_text(f"""route:
  receiver: amtriage
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: amtriage
    webhook_configs:
      - url: http://127.0.0.1:{amtriage_port}/webhook
        send_resolved: true
        http_config:
          authorization: {{credentials: {TOKEN}}}
""")
        port = free_port()
        proc = await asyncio.create_subprocess_exec(
            str(BINARY), f"--config.file={config}", f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        procs.append(proc)
        await wait_ready(f"http://127.0.0.1:{port}/-/ready")
        return f"http://127.0.0.1:{port}"

    yield start
    for proc in procs:
        proc.terminate()
        await proc.wait()


async def test_real_alertmanager_to_receiver_through_amtriage(
    alertmanager: Callable[[int], Awaitable[str]], make_config: ConfigFactory, sink: RecordingSink
) -> None:
    """Firing then resolved: both reach the downstream webhook with ai_* annotations and the labels sent."""
    port = free_port()
    config = make_config(url=sink.url(), extra=f"server:\n  auth:\n    bearer_token: {TOKEN}\n")
    server = TestServer(build_app(config, registry=CollectorRegistry()), host="127.0.0.1", port=port)
    await server.start_server()
    try:
        am = await alertmanager(port)
        start = datetime.now(UTC)
        alert = {"labels": {"alertname": "KubePodCrashLooping", "namespace": "prod-eu", "pod": "api-7d9f",
                            "severity": "warning"},
                 "annotations": {"summary": "Pod prod-eu/api-7d9f is crash looping"},
                 "startsAt": start.isoformat()}
        async with aiohttp.ClientSession() as session:
            resp = await session.post(f"{am}/api/v2/alerts", json=[alert])
            assert resp.status == 200
            [firing] = await sink.wait_for(1, within=30)
            resolved_alert = {**alert, "endsAt": (start + timedelta(seconds=1)).isoformat()}
            resp = await session.post(f"{am}/api/v2/alerts", json=[resolved_alert])
            assert resp.status == 200
            received = await sink.wait_for(2, within=30)
    finally:
        await server.close()
    doc = firing.json()
    [got] = doc["alerts"]
    assert doc["receiver"] == "amtriage"
    assert got["labels"] == alert["labels"]
    assert got["annotations"]["summary"] == alert["annotations"]["summary"]
    assert got["annotations"]["ai_severity"] == "warning"
    assert got["annotations"]["ai_category"] == "kubernetes"
    assert received[1].json()["alerts"][0]["status"] == "resolved"


