"""A real Alertmanager (Debian's prometheus-alertmanager) posts to amtriage, which forwards enriched alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from receiver.app import build_app
from tests.conftest import ConfigFactory, StartAlertmanager
from tests.fakes import RecordingSink
from tests.proc import free_port

pytestmark = pytest.mark.subprocess

TOKEN = "am-e2e-token"


def am_config(amtriage_port: int) -> str:
    """The only receiver is amtriage's /webhook on `amtriage_port`, with bearer auth."""
    return f"""route:
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
"""


async def test_real_alertmanager_to_receiver_through_amtriage(
    real_alertmanager: StartAlertmanager, make_config: ConfigFactory, sink: RecordingSink
) -> None:
    """Firing then resolved: both reach the downstream webhook with ai_* annotations and the labels sent."""
    port = free_port()
    config = make_config(url=sink.url(), extra=f"server:\n  auth:\n    bearer_token: {TOKEN}\n")
    server = TestServer(build_app(config, registry=CollectorRegistry()), host="127.0.0.1", port=port)
    await server.start_server()
    try:
        am = await real_alertmanager(am_config(port), free_port())
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


