"""The Alertmanager v4 model against payloads a real Alertmanager 0.25 sent, and against broken ones."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from receiver.alerts import Notification, common_pairs, parse
from receiver.errors import PayloadError
from tests.fakes import FIXTURES, PAYLOADS

RAW_06 = FIXTURES / "06-firing-rich-labels-unicode.raw-body.json"
SECRET = "hunter2-s3cr3t-token"
DROP = object()


def _load(path: Path) -> Notification:
    return parse(path.read_bytes())


def _payload(alert: dict[str, Any] | None = None, **top: Any) -> bytes:
    """A valid one-alert body with some fields changed (a value of DROP removes the field)."""
    one: dict[str, Any] = {
        "status": "firing",
        "labels": {"alertname": "DiskFull", "instance": "db-1"},
        "annotations": {"summary": "disk almost full"},
        "startsAt": "2026-11-21T23:25:27.989497668Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": "0123456789abcdef",
    }
    doc: dict[str, Any] = {"receiver": "webhook", "status": "firing", "alerts": [one], "groupLabels": {}}
    for target, changes in ((one, alert or {}), (doc, top)):
        for key, value in changes.items():
            if value is DROP:
                target.pop(key, None)
            else:
                target[key] = value
    return orjson.dumps(doc)


@pytest.mark.parametrize("path", PAYLOADS, ids=lambda p: p.name)
def test_every_fixture_parses(path: Path) -> None:
    notification = _load(path)
    assert notification.alerts
    assert all(a.status in ("firing", "resolved") for a in notification.alerts)


@pytest.mark.parametrize("path", [*PAYLOADS, RAW_06], ids=lambda p: p.name)
def test_round_trip_is_lossless_with_key_order(path: Path) -> None:
    """parse(body).to_dict() equals the body, key for key and in the same order, and so does to_json()."""
    body = path.read_bytes()
    original = orjson.loads(body)
    out = parse(body).to_dict()
    assert out == original
    assert list(out.keys()) == list(original.keys())
    for got, want in zip(out["alerts"], original["alerts"], strict=True):
        assert list(got.keys()) == list(want.keys())
        assert list(got["labels"].keys()) == list(want["labels"].keys())
    assert orjson.loads(parse(body).to_json()) == original


def test_raw_body_keeps_its_unicode() -> None:
    """The byte-exact body of fixture 06 parses and its UTF-8, escapes and control characters survive."""
    notification = parse(RAW_06.read_bytes())
    labels, annotations = notification.alerts[0].labels, notification.alerts[0].annotations
    assert labels["owner"] == "Zoë Ångström"
    assert labels["site"] == "東京-1"
    assert labels["quoted"] == 'say "hi" & <bye>'
    assert annotations["summary"].endswith("顧客に影響あり 🚨")
    assert "Привет, مرحبا" in annotations["description"]
    assert "\n\tTabbed <b>html</b> & ampersand" in annotations["description"]
    assert orjson.loads(notification.to_json()) == orjson.loads(RAW_06.read_bytes())


def test_unknown_fields_survive_untouched() -> None:
    """notification_reason, routeLabels and an unknown per-alert key come back out as they came in."""
    doc = orjson.loads((FIXTURES / "01-firing-single.json").read_bytes())
    doc["notification_reason"] = "repeat"
    doc["routeLabels"] = {"team": "storage", "nested": {"list": [1, 2.5, None, True]}}
    doc["alerts"][0]["silencedBy"] = ["a-silence-id"]
    out = parse(orjson.dumps(doc)).to_dict()
    assert out == doc
    assert list(out.keys()) == list(doc.keys())
    assert list(out["alerts"][0].keys()) == list(doc["alerts"][0].keys())


MALFORMED = [
    pytest.param(b'{"alerts": [' + SECRET.encode() + b"]", "", id="not-json"),
    pytest.param(orjson.dumps([{"alerts": [], "token": SECRET}]), "", id="top-level-list"),
    pytest.param(_payload(alerts=DROP, receiver=SECRET), "alerts", id="missing-alerts"),
    pytest.param(_payload(alerts=SECRET), "alerts", id="alerts-not-a-list"),
    pytest.param(_payload(alerts=[SECRET]), "alerts[0]", id="alert-not-an-object"),
    pytest.param(_payload({"labels": SECRET}), "alerts[0].labels", id="labels-not-an-object"),
    pytest.param(_payload({"labels": DROP}), "alerts[0].labels", id="labels-missing"),
    pytest.param(
        _payload({"labels": {"alertname": "X", "token": [SECRET]}}), "alerts[0].labels.token",
        id="label-value-not-a-string",
    ),
    pytest.param(
        _payload({"annotations": {"summary": {"secret": SECRET}}}), "alerts[0].annotations.summary",
        id="annotation-value-not-a-string",
    ),
    pytest.param(_payload({"startsAt": SECRET}), "alerts[0].startsAt", id="bad-startsAt"),
    pytest.param(_payload({"startsAt": 1700000000}), "alerts[0].startsAt", id="numeric-startsAt"),
    pytest.param(_payload({"startsAt": DROP}), "alerts[0].startsAt", id="missing-startsAt"),
    pytest.param(_payload({"startsAt": "2026-11-21T23:25:27"}), "alerts[0].startsAt", id="startsAt-no-zone"),
    pytest.param(_payload({"endsAt": SECRET}), "alerts[0].endsAt", id="bad-endsAt"),
    pytest.param(_payload({"status": SECRET}), "alerts[0].status", id="bad-alert-status"),
    pytest.param(_payload(status=SECRET), "status", id="bad-group-status"),
    pytest.param(_payload(truncatedAlerts=-1), "truncatedAlerts", id="truncatedAlerts-negative"),
    pytest.param(_payload(truncatedAlerts=SECRET), "truncatedAlerts", id="truncatedAlerts-string"),
    pytest.param(_payload(truncatedAlerts="3"), "truncatedAlerts", id="truncatedAlerts-numeric-string"),
    pytest.param(_payload(groupLabels=SECRET), "groupLabels", id="groupLabels-not-an-object"),
    pytest.param(_payload(commonLabels=[SECRET]), "commonLabels", id="commonLabels-not-an-object"),
    pytest.param(_payload({"fingerprint": 42}), "alerts[0].fingerprint", id="fingerprint-not-a-string"),
]


@pytest.mark.parametrize(("body", "field"), MALFORMED)
def test_malformed_payload_names_the_field_at_fault(body: bytes, field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(body)
    assert caught.value.field == field


@pytest.mark.parametrize(("body", "field"), MALFORMED)
def test_payload_error_never_echoes_the_offending_value(body: bytes, field: str) -> None:
    """The message names the field but never repeats a value that may be a secret."""
    with pytest.raises(PayloadError) as caught:
        parse(body)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value.args)


def test_secret_label_value_stays_out_of_an_error_about_another_field() -> None:
    """A secret-looking label value is not echoed when the same alert is rejected for its status."""
    body = _payload({"labels": {"alertname": "X", "password": SECRET}, "status": "burning"})
    with pytest.raises(PayloadError) as caught:
        parse(body)
    assert caught.value.field == "alerts[0].status"
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("missing", [DROP, ""], ids=["absent", "empty"])
def test_missing_fingerprint_is_filled_deterministically_from_labels(missing: object) -> None:
    first = parse(_payload({"fingerprint": missing, "labels": {"alertname": "X", "instance": "a"}}))
    again = parse(_payload({"fingerprint": missing, "labels": {"instance": "a", "alertname": "X"}}))
    other = parse(_payload({"fingerprint": missing, "labels": {"alertname": "X", "instance": "b"}}))
    fingerprint = first.alerts[0].fingerprint
    assert re.fullmatch(r"[0-9a-f]{16}", fingerprint)
    assert again.alerts[0].fingerprint == fingerprint
    assert other.alerts[0].fingerprint != fingerprint


def test_a_given_fingerprint_is_kept() -> None:
    assert parse(_payload()).alerts[0].fingerprint == "0123456789abcdef"


@pytest.mark.parametrize("path", PAYLOADS, ids=lambda p: p.name)
def test_with_alerts_recomputes_what_alertmanager_computed(path: Path) -> None:
    """Recomputing over a fixture's own alerts gives back Alertmanager's status and common pairs."""
    notification = _load(path)
    again = notification.with_alerts(notification.alerts)
    assert again.status == notification.status
    assert again.common_labels == notification.common_labels
    assert again.common_annotations == notification.common_annotations


MIXED = _load(FIXTURES / "04-mixed-firing-resolved.json")


@pytest.mark.parametrize(
    ("indexes", "status", "common_labels", "common_annotations"),
    [
        pytest.param(
            (0, 1, 2), "firing",
            {"alertname": "HighLatency", "service": "checkout", "severity": "warning"},
            {"summary": "p99 latency above 1s"},
            id="all-two-firing-one-resolved",
        ),
        pytest.param(
            (1,), "resolved",
            {"alertname": "HighLatency", "instance": "checkout-b:8080", "service": "checkout",
             "severity": "warning"},
            {"description": "checkout-b p99 = 1.9s", "summary": "p99 latency above 1s"},
            id="only-the-resolved-one",
        ),
        pytest.param(
            (0, 2), "firing",
            {"alertname": "HighLatency", "service": "checkout", "severity": "warning"},
            {"summary": "p99 latency above 1s"},
            id="only-the-firing-ones",
        ),
        pytest.param((), "resolved", {}, {}, id="none"),
    ],
)
def test_with_alerts_on_the_mixed_fixture(
    indexes: tuple[int, ...], status: str, common_labels: dict[str, str], common_annotations: dict[str, str]
) -> None:
    """Group status is firing if any alert fires; common pairs are those equal in every alert."""
    part = MIXED.with_alerts(tuple(MIXED.alerts[i] for i in indexes))
    assert part.alerts == tuple(MIXED.alerts[i] for i in indexes)
    assert part.status == status
    assert part.common_labels == common_labels
    assert part.common_annotations == common_annotations
    assert (part.receiver, part.group_key, part.group_labels) == (
        MIXED.receiver, MIXED.group_key, MIXED.group_labels
    )


def test_common_pairs_keeps_only_equal_pairs() -> None:
    assert common_pairs([{"a": "1", "b": "2"}, {"a": "1", "b": "3"}, {"a": "1", "c": "2"}]) == {"a": "1"}
    assert common_pairs([]) == {}
