"""The alertmanager forwarder beyond the contract: the postable shape, the loop marks, replies, options."""

from __future__ import annotations

import aiohttp
import pytest

from receiver import alerts
from receiver.alerts import ZERO_TIME, Alert, Notification
from receiver.config import loads
from receiver.errors import ConfigError, PermanentDelivery, Reason
from receiver.forwarders import build
from receiver.forwarders.alertmanager import MarkLabel, check_reply, postable
from receiver.forwarders.http import Deps
from receiver.pipeline import already_enriched
from tests.fakes import FIXTURES, ManualClock, RecordingSink, Reply
from tests.test_forwarders_contract import enriched

FIRING = Alert("firing", {"alertname": "DiskFull", "instance": "db-1"},
               {"summary": "disk full", "ai_severity": "critical", "ai_source": "rules"},
               "2026-11-21T23:25:27.989497668Z", ZERO_TIME, "http://prom:9090/graph?g0.expr=up", "f1")


def receiver_yaml(base: str, extra: str = "") -> str:
    return f"receivers:\n  - {{name: r, type: alertmanager, url: '{base}'{extra}}}\n"


async def send(sink: RecordingSink, session: aiohttp.ClientSession, notification: Notification,
               extra: str = "", prefix: str = "ai_") -> list[dict[str, object]]:
    config = loads(receiver_yaml(sink.url("").rstrip("/"), extra), {})
    forwarder = build(config.receivers, Deps(session, ManualClock(), annotation_prefix=prefix))["r"]
    await forwarder.send(notification, notification.to_json())
    posted: list[dict[str, object]] = sink.received[-1].json()
    return posted


async def test_postable_shape_of_a_mixed_notification(sink: RecordingSink,
                                                      session: aiohttp.ClientSession) -> None:
    """Firing alerts leave endsAt out, resolved ones keep their real end; labels and times unchanged."""
    notification = enriched("04-mixed-firing-resolved.json")
    posted = await send(sink, session, notification)
    assert sink.received[0].path == "/api/v2/alerts"
    assert [("endsAt" in doc) for doc in posted] == [False, True, False]
    assert posted[1]["endsAt"] == "2026-11-21T23:25:30.043Z"
    for doc, alert in zip(posted, notification.alerts, strict=True):
        assert doc["labels"] == dict(alert.labels)
        assert doc["startsAt"] == alert.starts_at
        assert doc["annotations"] == {**alert.annotations, "ai_forwarded_by": "amtriage"}
        assert "generatorURL" not in doc  # empty in this payload: left out, not sent as ""
        assert "status" not in doc
        assert "fingerprint" not in doc


async def test_generator_url_is_kept_and_labels_are_not_touched(sink: RecordingSink,
                                                                session: aiohttp.ClientSession) -> None:
    notification = enriched("10-prometheus-resolved-targetdown.json")
    [doc] = await send(sink, session, notification)
    [alert] = notification.alerts
    assert doc["generatorURL"] == alert.generator_url
    assert doc["labels"] == dict(alert.labels)
    assert doc["endsAt"] == alert.ends_at
    annotations = doc["annotations"]
    assert isinstance(annotations, dict)
    assert {k for k in annotations if k.startswith("ai_")} == {
        "ai_severity", "ai_category", "ai_confidence", "ai_summary", "ai_recommendations", "ai_source",
        "ai_model", "ai_forwarded_by"}


async def test_mark_label_is_added_to_every_alert(sink: RecordingSink, session: aiohttp.ClientSession) -> None:
    notification = enriched()
    posted = await send(sink, session, notification, ", mark_label: {name: amtriage_enriched, value: 'true'}")
    for doc, alert in zip(posted, notification.alerts, strict=True):
        assert doc["labels"] == {**alert.labels, "amtriage_enriched": "true"}


async def test_the_forwarded_by_mark_follows_the_annotation_prefix(sink: RecordingSink,
                                                                   session: aiohttp.ClientSession) -> None:
    notification = alerts.parse((FIXTURES / "01-firing-single.json").read_bytes())
    [doc] = await send(sink, session, notification, prefix="triage_")
    annotations = doc["annotations"]
    assert isinstance(annotations, dict)
    assert annotations["triage_forwarded_by"] == "amtriage"
    assert "ai_forwarded_by" not in annotations


async def test_path_prefix_and_trailing_slashes(sink: RecordingSink, session: aiohttp.ClientSession) -> None:
    config = loads(receiver_yaml(sink.url("/"), ", path_prefix: /alertmanager/"), {})
    forwarder = build(config.receivers, Deps(session, ManualClock()))["r"]
    notification = enriched()
    await forwarder.send(notification, notification.to_json())
    assert sink.received[0].path == "/alertmanager/api/v2/alerts"


def test_a_resolved_alert_without_an_end_gets_the_current_time() -> None:
    """Alertmanager always sends a resolved alert's end; should one lack it, it must not look firing."""
    resolved = Alert("resolved", {"alertname": "X"}, {}, "2027-01-15T07:00:00Z", ZERO_TIME)
    assert postable(resolved, "ai_", None, ManualClock()())["endsAt"] == "2027-01-15T08:00:00.000Z"


def test_mark_label_overrides_a_label_of_the_same_name_so_reposting_is_idempotent() -> None:
    mark = MarkLabel("amtriage_enriched", "true")
    once = postable(FIRING, "ai_", mark, 0.0)
    again = postable(FIRING.with_labels(once["labels"]).with_annotations(once["annotations"]), "ai_", mark, 0.0)
    assert again == once


@pytest.mark.parametrize(("annotations", "expected"), [
    ({}, False),
    ({"summary": "disk full"}, False),
    ({"ai_severity": "critical"}, False),
    ({"ai_source": "rules"}, False),
    ({"ai_severity": "critical", "ai_source": "rules"}, True),
    ({"ai_forwarded_by": "amtriage"}, True),
    ({"triage_forwarded_by": "amtriage"}, False),  # another prefix is another amtriage's business
])
def test_already_enriched(annotations: dict[str, str], expected: bool) -> None:
    assert already_enriched(FIRING.with_annotations(annotations), "ai_") is expected


def test_an_alert_posted_back_is_recognised_as_already_enriched() -> None:
    """What Alertmanager sends amtriage after the copy came back: it must not be classified again."""
    bare = FIRING.with_annotations({"summary": "disk full"})
    doc = postable(bare, "ai_", None, 0.0)
    assert not already_enriched(bare, "ai_")
    assert already_enriched(bare.with_annotations(doc["annotations"]), "ai_")


@pytest.mark.parametrize(("reply", "detail"), [
    (Reply(400, {}, b'"start time must be before end time"'), "HTTP 400: start time must be before end time"),
    (Reply(400, {}, b'{"code":400,"message":"parsing alerts body failed"}'), "HTTP 400: parsing alerts body failed"),
    (Reply(422, {}, b'{"code":602,"message":"0.labels in body is required"}'),
     "HTTP 422: 0.labels in body is required"),
    (Reply(400, {}, b"<html>bad request</html>"), "HTTP 400"),
])
def test_refusals_name_alertmanagers_reason(reply: Reply, detail: str) -> None:
    with pytest.raises(PermanentDelivery) as caught:
        check_reply(reply.status, reply.headers, reply.body)
    assert caught.value.reason is Reason.CLIENT_ERROR
    assert caught.value.detail == detail


def test_a_long_refusal_message_is_cut() -> None:
    with pytest.raises(PermanentDelivery) as caught:
        check_reply(400, {}, b'"' + b"x" * 5000 + b'"')
    assert len(caught.value.detail) <= len("HTTP 400: ") + 200
    assert caught.value.detail.endswith("…")


@pytest.mark.parametrize("status", [200, 401, 404, 429, 500, 503])
def test_other_statuses_are_left_to_check_response(status: int) -> None:
    check_reply(status, {}, b'"whatever"')


@pytest.mark.parametrize(("extra", "error"), [
    ("", "receivers[0].url: is required"),
    (", url: 'http://am:9093', path_prefix: alertmanager", "receivers[0].path_prefix: must start with /"),
    (", url: 'http://am:9093', mark_label: {value: 'true'}", "receivers[0].mark_label.name: is required"),
    (", url: 'http://am:9093', mark_label: {name: x}", "receivers[0].mark_label.value: is required"),
    (", url: 'http://am:9093', mark_label: {name: amtriage-enriched, value: 'true'}",
     "receivers[0].mark_label.name: must be a label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"),
    (", url: 'http://am:9093', mark_label: {name: __x, value: 'true'}",
     "receivers[0].mark_label.name: must be a label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"),
    (", url: 'http://am:9093', mark_label: {name: x, value: y, colour: z}",
     "receivers[0].mark_label.colour: unknown field"),
    (", url: 'http://am:9093', mark_label: amtriage_enriched", "receivers[0].mark_label: must be a mapping"),
    (", url: 'http://am:9093', mark_label: {name: x, value: true}", "receivers[0].mark_label.value: must be a string"),
    (", url: 'http://am:9093', templates: {text: x}", "receivers[0].templates: unknown field"),
])
def test_options_errors_name_the_field(extra: str, error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        loads(f"receivers:\n  - {{name: r, type: alertmanager{extra}}}\n", {})
    assert error in caught.value.errors


def test_options_defaults() -> None:
    config = loads(receiver_yaml("http://am:9093"), {})
    assert config.receivers[0].options.path_prefix == ""
    assert config.receivers[0].options.mark_label is None
