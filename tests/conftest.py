"""Shared fixtures: a recording downstream sink, a manual clock, and configs built from DESIGN's keys."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from receiver.config import Config, loads
from tests.fakes import ManualClock, RecordingSink
from tests.proc import wait_ready

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for forwarders and providers built in a test; closed at the end."""
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def sink() -> AsyncIterator[RecordingSink]:
    recording = RecordingSink()
    await recording.start()
    yield recording
    await recording.close()


SinkFactory = Callable[[], Awaitable[RecordingSink]]


@pytest.fixture
async def another_sink() -> AsyncIterator[SinkFactory]:
    """More recording receivers, for tests with several downstreams; all closed at the end."""
    started: list[RecordingSink] = []

    async def start() -> RecordingSink:
        recording = RecordingSink()
        await recording.start()
        started.append(recording)
        return recording

    yield start
    for recording in started:
        await recording.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


ConfigFactory = Callable[..., Config]


@pytest.fixture
def make_config(tmp_path: Path) -> ConfigFactory:
    """Build a Config from YAML: one webhook receiver at `url` (or `receivers`), a tmp outbox (plus `outbox`
    lines), the shipped classifier rules, and `extra` top-level YAML."""

    def make(url: str = "http://127.0.0.1:9/hook", extra: str = "", receivers: str | None = None,
             outbox: str = "") -> Config:
        receivers = receivers or f"receivers:\n  - name: sink\n    type: webhook\n    url: {url}\n"
        text = (
            f"outbox:\n  path: {tmp_path / 'outbox.db'}\n{outbox}"
            f"classifier:\n  rules_file: {ROOT / 'config' / 'classifier.yaml'}\n"
            f"{receivers}{extra}"
        )
        return loads(text, {})

    return make


ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
StartAlertmanager = Callable[[str, int], Awaitable[str]]


@pytest.fixture
async def real_alertmanager(tmp_path: Path) -> AsyncIterator[StartAlertmanager]:
    """Starts a real Alertmanager with the given alertmanager.yml on the given port; returns its base URL."""
    if ALERTMANAGER is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus-alertmanager is not installed (make test installs it)")
        pytest.skip("prometheus-alertmanager is not installed; `make test` installs it")
    procs: list[asyncio.subprocess.Process] = []

    async def start(config_text: str, port: int) -> str:
        config = tmp_path / "alertmanager.yml"
        config.write_text(config_text)
        proc = await asyncio.create_subprocess_exec(
            str(ALERTMANAGER), f"--config.file={config}", f"--storage.path={tmp_path / 'am-data'}",
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
