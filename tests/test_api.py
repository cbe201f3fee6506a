"""The operators' API: status (JSON and page), dead letters, reload — against the real app."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from receiver.app import build_app
from receiver.config import Config, load
from receiver.ingest import STATE
from tests.conftest import ROOT
from tests.fakes import FIXTURES, RecordingSink, Reply

Client = TestClient[web.Request, web.Application]
TOKEN = "ops-token-31"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
BODY = (FIXTURES / "01-firing-single.json").read_bytes()


def write_config(path: Path, url: str, mode: str = "enriched", extra: str = "") -> None:
    path.write_text(
        f"server: {{auth: {{bearer_token: {TOKEN}}}}}\n"
        f"outbox: {{path: '{path.parent / 'outbox.db'}'}}\n"
        f"enrichment: {{mode: {mode}}}\n"
        f"classifier: {{rules_file: '{ROOT / 'config' / 'classifier.yaml'}'}}\n"
        f"receivers: [{{name: one, url: '{url}'}}]\n{extra}"
    )


@pytest.fixture
async def served(tmp_path: Path, sink: RecordingSink,
                 aiohttp_client: Callable[..., Awaitable[Client]]) -> tuple[Client, Path]:
    path = tmp_path / "amtriage.yaml"
    write_config(path, sink.url())

    def reload_from() -> Config:
        return load(path, {})

    app = build_app(load(path, {}), registry=CollectorRegistry(), reload_from=reload_from)
    return await aiohttp_client(app), path


async def test_status_json_shape(served: tuple[Client, Path]) -> None:
    client, _ = served
    doc = await (await client.get("/api/v1/status")).json()
    assert set(doc) == {"mode", "llm", "outbox", "receivers", "config"}
    assert set(doc["outbox"]) == {"depth", "oldest_age_seconds", "dead_letters", "dead_letters_by_receiver"}
    assert doc["receivers"]["one"] == {"type": "webhook", "delivered": 0, "failed_attempts": 0, "dead_letters": 0}
    assert doc["config"]["last_reload_successful"] is True


async def test_status_page_is_html_with_every_section(served: tuple[Client, Path]) -> None:
    client, _ = served
    resp = await client.get("/")
    assert resp.content_type == "text/html"
    page = await resp.text()
    for section in ('id="breakers"', 'id="outbox"', 'id="receivers"', "enriched"):
        assert section in page


async def test_good_reload_swaps_the_config(served: tuple[Client, Path], sink: RecordingSink) -> None:
    """After a reload the new receiver and mode are in force, and the metric says it worked."""
    client, path = served
    write_config(path, sink.url("/new"), mode="transparent")
    resp = await client.post("/-/reload", headers=BEARER)
    assert resp.status == 200
    assert (await (await client.get("/api/v1/mode")).json())["mode"] == "transparent"
    await client.post("/webhook", data=BODY, headers=BEARER)
    [got] = await sink.wait_for(1)
    assert got.path == "/new"
    assert got.body == BODY  # transparent: forwarded as received
    registry = client.app[STATE].metrics.registry
    assert registry.get_sample_value("amtriage_config_reloads_total", {"result": "success"}) == 1


async def test_bad_reload_is_refused_and_the_old_config_kept(served: tuple[Client, Path],
                                                             sink: RecordingSink) -> None:
    client, path = served
    path.write_text("enrichment: {mode: sideways}\nreceivers: [{name: one, url: 'ftp://x'}]\n")
    resp = await client.post("/-/reload", headers=BEARER)
    assert resp.status == 400
    errors = (await resp.json())["errors"]
    assert any(e.startswith("enrichment.mode") for e in errors)
    assert any(e.startswith("receivers[0].url") for e in errors)
    await client.post("/webhook", data=BODY, headers=BEARER)
    [got] = await sink.wait_for(1)
    assert got.path == "/hook"
    registry = client.app[STATE].metrics.registry
    assert registry.get_sample_value("amtriage_config_last_reload_successful") == 0
    assert registry.get_sample_value("amtriage_config_reloads_total", {"result": "failure"}) == 1


async def test_reload_needs_credentials(served: tuple[Client, Path]) -> None:
    client, _ = served
    assert (await client.post("/-/reload")).status == 401


async def test_dead_letters_listed_replayed_and_purged(served: tuple[Client, Path], sink: RecordingSink) -> None:
    """A receiver that refuses (400) leaves a dead letter; replay through the API delivers it once fixed."""
    client, _ = served
    sink.script(Reply(400), Reply(400))
    await client.post("/webhook", data=BODY, headers=BEARER)
    await client.post("/webhook", data=(FIXTURES / "02-firing-group-3-alerts.json").read_bytes(), headers=BEARER)
    await sink.wait_for(2)
    assert (await client.get("/api/v1/outbox")).status == 401
    jobs: list[dict[str, object]] = []
    async with asyncio.timeout(10):
        while len(jobs) < 2:  # settling happens just after the reply
            jobs = (await (await client.get("/api/v1/outbox", headers=BEARER)).json())["jobs"]
    assert [(j["state"], j["receiver"], j["error"]) for j in jobs] == [("dead", "one", "client_error: HTTP 400")] * 2
    resp = await client.post("/api/v1/outbox/replay", json={"ids": [jobs[0]["id"]]}, headers=BEARER)
    assert await resp.json() == {"replay": 1}
    await sink.wait_for(3)
    assert sink.received[2].body == sink.received[0].body
    resp = await client.post("/api/v1/outbox/purge", json={"receiver": "one"}, headers=BEARER)
    assert await resp.json() == {"purge": 1}
    assert (await (await client.get("/api/v1/outbox?state=all", headers=BEARER)).json())["jobs"] == []


async def test_outbox_api_validates_input(served: tuple[Client, Path]) -> None:
    client, _ = served
    assert (await client.get("/api/v1/outbox?state=weird", headers=BEARER)).status == 400
    assert (await client.post("/api/v1/outbox/replay", data=b'{"ids": ["x"]}', headers=BEARER)).status == 400
    assert (await client.post("/api/v1/outbox/purge", data=b"{bad", headers=BEARER)).status == 400
    resp = await client.post("/api/v1/outbox/purge", headers=BEARER)
    assert await resp.json() == {"purge": 0}
