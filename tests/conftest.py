"""Shared fixtures: a recording downstream sink, a manual clock, and configs built from DESIGN's keys."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from receiver.config import Config, loads
from tests.fakes import ManualClock, RecordingSink

ROOT = Path(__file__).resolve().parents[1]


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
