"""The HTTP contract Alertmanager and users see, against the real app (outbox file, delivery thread)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from receiver.app import build_app
from receiver.config import Config
from receiver.ingest import STATE
from tests.conftest import ConfigFactory
from tests.fakes import FIXTURES, PAYLOADS, RecordingSink

TOKEN = "s3cr3t-bearer-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
Client = TestClient[web.Request, web.Application]
BODY = (FIXTURES / "01-firing-single.json").read_bytes()
AUTH = f"server:\n  auth:\n    bearer_token: {TOKEN}\n  max_body_bytes: 4KiB\n"

Serve = Callable[[Config], Awaitable[Client]]


@pytest.fixture
def serve(aiohttp_client: Callable[..., Awaitable[Client]]) -> Serve:
    async def start(config: Config) -> Client:
        return await aiohttp_client(build_app(config, registry=CollectorRegistry()))

    return start


@pytest.fixture
async def client(serve: Serve, make_config: ConfigFactory, sink: RecordingSink) -> Client:
    return await serve(make_config(url=sink.url(), extra=AUTH))


@pytest.mark.parametrize("body", [p.read_bytes() for p in PAYLOADS], ids=[p.name for p in PAYLOADS])
async def test_every_recorded_payload_is_accepted(client: Client, body: bytes) -> None:
    resp = await client.post("/webhook", data=body, headers=BEARER)
    assert resp.status == 200
    assert await resp.json() == {"status": "accepted", "alerts": len(orjson.loads(body)["alerts"])}


async def test_byte_exact_alertmanager_body_is_accepted(client: Client) -> None:
    raw = (FIXTURES / "06-firing-rich-labels-unicode.raw-body.json").read_bytes()
    resp = await client.post("/webhook", data=raw, headers={**BEARER, "User-Agent": "Alertmanager/0.25.0"})
    assert resp.status == 200


async def test_accepted_notification_is_forwarded_enriched(client: Client, sink: RecordingSink) -> None:
    await client.post("/webhook", data=BODY, headers=BEARER)
    [got] = await sink.wait_for(1)
    alert = got.json()["alerts"][0]
    assert alert["labels"] == orjson.loads(BODY)["alerts"][0]["labels"]
    assert {"ai_severity", "ai_category", "ai_confidence", "ai_summary", "ai_source", "ai_model"} <= set(
        alert["annotations"])


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": f"Basic {base64.b64encode(TOKEN.encode()).decode()}"},
    {"Authorization": TOKEN},
], ids=["none", "wrong-token", "basic-instead-of-bearer", "no-scheme"])
async def test_bad_credentials_get_401(client: Client, headers: dict[str, str]) -> None:
    resp = await client.post("/webhook", data=BODY, headers=headers)
    assert resp.status == 401
    assert TOKEN not in await resp.text()


async def test_bearer_scheme_is_case_insensitive(client: Client) -> None:
    resp = await client.post("/webhook", data=BODY, headers={"Authorization": f"bearer {TOKEN}"})
    assert resp.status == 200


async def test_basic_auth_as_alertmanager_sends_it(serve: Serve, make_config: ConfigFactory) -> None:
    """The exact header of ../shared/fixtures/alertmanager/headers-basic.json is accepted."""
    recorded = orjson.loads((FIXTURES / "headers-basic.json").read_bytes())
    header = next(v for k, v in recorded.items() if k.lower() == "authorization")
    header = header[0] if isinstance(header, list) else header
    extra = "server:\n  auth:\n    basic: {username: alertmanager, password: example-password}\n"
    client = await serve(make_config(extra=extra))
    assert (await client.post("/webhook", data=BODY, headers={"Authorization": header})).status == 200
    wrong = base64.b64encode(b"alertmanager:nope").decode()
    assert (await client.post("/webhook", data=BODY, headers={"Authorization": f"Basic {wrong}"})).status == 401


async def test_no_auth_configured_is_open(serve: Serve, make_config: ConfigFactory) -> None:
    client = await serve(make_config())
    assert (await client.post("/webhook", data=BODY)).status == 200


async def test_body_over_the_cap_gets_413(client: Client) -> None:
    big = orjson.loads(BODY)
    big["alerts"] = big["alerts"] * 20
    resp = await client.post("/webhook", data=orjson.dumps(big), headers=BEARER)
    assert resp.status == 413


async def test_chunked_body_over_the_cap_gets_413(client: Client) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1024

    resp = await client.post("/webhook", data=chunks(), headers=BEARER)
    assert resp.status == 413


@pytest.mark.parametrize(("body", "field"), [
    (b"{not json", "JSON"),
    (b"[]", "JSON object"),
    (b"{}", "alerts"),
    (b'{"alerts": {}}', "alerts"),
    (b'{"alerts": [1]}', "alerts[0]"),
    (b'{"alerts": [{"status": "firing", "labels": [], "startsAt": "2026-01-01T00:00:00Z"}]}', "alerts[0].labels"),
    (b'{"alerts": [{"status": "firing", "labels": {"a": 1}, "startsAt": "2026-01-01T00:00:00Z"}]}',
     "alerts[0].labels.a"),
    (b'{"alerts": [{"status": "firing", "labels": {}, "startsAt": "yesterday"}]}', "alerts[0].startsAt"),
    (b'{"alerts": [{"status": "on fire", "labels": {}, "startsAt": "2026-01-01T00:00:00Z"}]}', "alerts[0].status"),
    (b'{"alerts": [], "truncatedAlerts": "3"}', "truncatedAlerts"),
])
async def test_malformed_payload_gets_400_naming_the_field(client: Client, body: bytes, field: str) -> None:
    resp = await client.post("/webhook", data=body, headers=BEARER)
    assert resp.status == 400
    assert field in (await resp.json())["error"]


async def test_400_does_not_echo_the_payload(client: Client) -> None:
    body = b'{"alerts": [{"status": "firing", "labels": {"k": "sk-live-abc"}, "startsAt": "sk-live-abc"}]}'
    resp = await client.post("/webhook", data=body, headers=BEARER)
    assert resp.status == 400
    assert "sk-live" not in await resp.text()


async def test_unknown_receiver_gets_404(client: Client) -> None:
    assert (await client.post("/webhook/nobody", data=BODY, headers=BEARER)).status == 404


async def test_named_receiver_is_accepted(client: Client, sink: RecordingSink) -> None:
    assert (await client.post("/webhook/sink", data=BODY, headers=BEARER)).status == 200
    await sink.wait_for(1)


async def test_full_outbox_gets_503_not_429(serve: Serve, make_config: ConfigFactory) -> None:
    """With the receiver down and room for one notification, the second POST is told to retry (503)."""
    client = await serve(make_config(outbox="  max_items: 1\n"))
    assert (await client.post("/webhook", data=BODY)).status == 200
    resp = await client.post("/webhook", data=BODY)
    assert resp.status == 503
    assert "full" in (await resp.json())["error"]


async def test_broken_store_gets_503(client: Client) -> None:
    await client.app[STATE].outbox.close()
    resp = await client.post("/webhook", data=BODY, headers=BEARER)
    assert resp.status == 503


async def test_health_readiness_and_metrics(client: Client) -> None:
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200
    await client.post("/webhook", data=BODY, headers=BEARER)
    await client.post("/webhook", data=b"{}", headers=BEARER)
    text = await (await client.get("/metrics")).text()
    assert 'amtriage_ingest_requests_total{code="200"} 1.0' in text
    assert 'amtriage_ingest_requests_total{code="400"} 1.0' in text
    assert 'amtriage_alerts_received_total{status="firing"} 1.0' in text


async def test_not_ready_before_the_outbox_is_open(make_config: ConfigFactory) -> None:
    app = build_app(make_config(), registry=CollectorRegistry())
    assert app[STATE].ready is False


async def test_status_reports_mode_outbox_and_receivers(client: Client) -> None:
    doc = await (await client.get("/api/v1/status")).json()
    assert doc["mode"] == "enriched"
    assert set(doc["outbox"]) >= {"depth", "oldest_age_seconds", "dead_letters"}
    assert doc["receivers"]["sink"]["type"] == "webhook"


async def test_mode_can_be_read_and_changed(client: Client) -> None:
    assert await (await client.get("/api/v1/mode")).json() == {"mode": "enriched"}
    assert (await client.put("/api/v1/mode", data=b'{"mode": "transparent"}')).status == 401
    resp = await client.put("/api/v1/mode", data=b'{"mode": "bogus"}', headers=BEARER)
    assert resp.status == 400
    resp = await client.put("/api/v1/mode", data=b'{"mode": "transparent"}', headers=BEARER)
    assert await resp.json() == {"mode": "transparent"}
    assert await (await client.get("/api/v1/mode")).json() == {"mode": "transparent"}


async def test_classify_dry_run_forwards_nothing(client: Client, sink: RecordingSink) -> None:
    resp = await client.post("/api/v1/classify", data=BODY, headers=BEARER)
    assert resp.status == 200
    doc = await resp.json()
    assert doc["alerts"][0]["annotations"]["ai_source"] == "rules"
    assert sink.received == []


async def test_bearer_and_basic_both_configured_accept_either(serve: Serve, make_config: ConfigFactory) -> None:
    """DESIGN's server.auth may hold both: an Alertmanager may send either one."""
    extra = f"server:\n  auth:\n    bearer_token: {TOKEN}\n    basic: {{username: am, password: pw}}\n"
    client = await serve(make_config(extra=extra))
    basic = "Basic " + base64.b64encode(b"am:pw").decode()
    assert (await client.post("/webhook", data=BODY, headers=BEARER)).status == 200
    assert (await client.post("/webhook", data=BODY, headers={"Authorization": basic})).status == 200
    assert (await client.post("/webhook", data=BODY, headers={"Authorization": "Basic bm86bm8="})).status == 401
