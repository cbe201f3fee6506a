"""The alertmanager forwarder against a real Alertmanager (Debian's prometheus-alertmanager): what it posts
is accepted, reads back with the annotations, resolves, and the mark label closes the loop through amtriage."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from receiver.alerts import Alert, Notification
from receiver.app import build_app
from receiver.config import loads
from receiver.errors import PermanentDelivery
from receiver.forwarders import build
from receiver.forwarders.http import Deps
from tests.conftest import ConfigFactory, StartAlertmanager
from tests.fakes import RecordingSink
from tests.proc import free_port

pytestmark = pytest.mark.subprocess

TOKEN = "am-reinject-e2e-token"
MARK = "{name: amtriage_enriched, value: 'true'}"


async def active_alerts(session: aiohttp.ClientSession, am: str) -> list[dict[str, Any]]:
    async with session.get(f"{am}/api/v2/alerts") as resp:
        assert resp.status == 200
        found: list[dict[str, Any]] = await resp.json()
        return found


def rfc3339(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def notification_of(*alerts: Alert) -> Notification:
    return Notification(alerts=alerts, receiver="amtriage").with_alerts(alerts)


NULL_ROUTE = 'route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n'


async def test_posted_alerts_read_back_with_their_annotations_then_resolve(
        real_alertmanager: StartAlertmanager) -> None:
    am = await real_alertmanager(NULL_ROUTE, free_port())
    config = loads(f"receivers:\n  - {{name: r, type: alertmanager, url: '{am}'}}\n", {})
    start = datetime.now(UTC) - timedelta(minutes=1)
    firing = Alert("firing", {"alertname": "DiskFull", "instance": "db-1"},
                   {"summary": "disk full", "ai_severity": "critical", "ai_source": "rules"},
                   rfc3339(start), generator_url="http://prom:9090/graph?g0.expr=up", fingerprint="x")
    async with aiohttp.ClientSession() as session:
        forwarder = build(config.receivers, Deps(session, time.time))["r"]
        await forwarder.send(notification_of(firing), b"")
        [got] = await active_alerts(session, am)
        assert got["labels"] == firing.labels
        assert got["annotations"] == {**firing.annotations, "ai_forwarded_by": "amtriage"}
        assert got["generatorURL"] == firing.generator_url
        assert got["status"]["state"] == "active"
        assert datetime.fromisoformat(got["endsAt"]) > datetime.now(UTC)  # its resolve_timeout, not ours

        resolved = Alert("resolved", firing.labels, firing.annotations, firing.starts_at,
                         rfc3339(start + timedelta(seconds=30)), fingerprint="x")
        await forwarder.send(notification_of(resolved), b"")
        assert await active_alerts(session, am) == []


async def test_a_refused_alert_is_permanent_and_says_why(real_alertmanager: StartAlertmanager) -> None:
    am = await real_alertmanager(NULL_ROUTE, free_port())
    config = loads(f"receivers:\n  - {{name: r, type: alertmanager, url: '{am}'}}\n", {})
    backwards = Alert("resolved", {"alertname": "X"}, {}, "2026-01-01T00:00:10Z", "2026-01-01T00:00:00Z")
    async with aiohttp.ClientSession() as session:
        forwarder = build(config.receivers, Deps(session, time.time))["r"]
        with pytest.raises(PermanentDelivery) as caught:
            await forwarder.send(notification_of(backwards), b"")
    assert caught.value.detail == "HTTP 400: start time must be before end time"


def loop_config(amtriage_port: int, humans: str) -> str:
    """The Alertmanager that feeds amtriage and takes its alerts back, closed by the mark label."""
    return f"""route:
  receiver: amtriage
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['amtriage_enriched="true"']
      receiver: humans
receivers:
  - name: amtriage
    webhook_configs:
      - url: http://127.0.0.1:{amtriage_port}/webhook
        send_resolved: true
        http_config:
          authorization: {{credentials: {TOKEN}}}
  - name: humans
    webhook_configs:
      - url: {humans}
        send_resolved: true
"""


async def test_reinjected_alerts_reach_people_enriched_and_never_loop(
    real_alertmanager: StartAlertmanager, make_config: ConfigFactory, sink: RecordingSink
) -> None:
    """Alertmanager -> amtriage -> the same Alertmanager -> people: firing then resolved, each once."""
    am_port, amtriage_port = free_port(), free_port()
    config = make_config(
        receivers=(f"receivers:\n  - {{name: reinject, type: alertmanager, url: 'http://127.0.0.1:{am_port}', "
                   f"mark_label: {MARK}}}\n"),
        extra=f"server:\n  auth:\n    bearer_token: {TOKEN}\n")
    registry = CollectorRegistry()
    server = TestServer(build_app(config, registry=registry), host="127.0.0.1", port=amtriage_port)
    await server.start_server()
    try:
        am = await real_alertmanager(loop_config(amtriage_port, sink.url()), am_port)
        start = datetime.now(UTC)
        labels = {"alertname": "KubePodCrashLooping", "namespace": "prod-eu", "pod": "api-7d9f", "severity": "warning"}
        alert: dict[str, Any] = {"labels": labels,
                                 "annotations": {"summary": "Pod prod-eu/api-7d9f is crash looping"},
                                 "startsAt": rfc3339(start)}
        async with aiohttp.ClientSession() as session:
            resp = await session.post(f"{am}/api/v2/alerts", json=[alert])
            assert resp.status == 200
            [firing] = await sink.wait_for(1, within=30)
            in_am = {a["labels"].get("amtriage_enriched", ""): a for a in await active_alerts(session, am)}
            resp = await session.post(f"{am}/api/v2/alerts",
                                      json=[{**alert, "endsAt": rfc3339(datetime.now(UTC))}])
            assert resp.status == 200
            received = await sink.wait_for(2, within=30)
            after = await active_alerts(session, am)
    finally:
        await server.close()
    [copy] = firing.json()["alerts"]
    assert copy["labels"] == {**alert["labels"], "amtriage_enriched": "true"}
    assert copy["annotations"]["summary"] == alert["annotations"]["summary"]
    assert copy["annotations"]["ai_severity"] == "warning"
    assert copy["annotations"]["ai_forwarded_by"] == "amtriage"
    assert in_am["true"]["annotations"]["ai_category"] == "kubernetes"
    assert [r["name"] for r in in_am["true"]["receivers"]] == ["humans"]
    assert [r["name"] for r in in_am[""]["receivers"]] == ["amtriage"]
    [resolved] = received[1].json()["alerts"]
    assert resolved["status"] == "resolved"
    assert resolved["labels"] == copy["labels"]
    assert after == []
    assert registry.get_sample_value("amtriage_alerts_received_total", {"status": "firing"}) == 1
    assert registry.get_sample_value("amtriage_alerts_received_total", {"status": "resolved"}) == 1
