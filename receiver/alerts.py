"""The Alertmanager webhook payload (version 4): parse, validate and serialise.

Parsing is strict about the fields amtriage relies on and tolerant of everything else: a field
Alertmanager adds tomorrow (or one it already sends in newer versions, like `notification_reason`
or `routeLabels`) is kept in `extra` and written back out untouched, after the known fields, in the
order it came.

    >>> n = parse(b'{"alerts": [{"status": "firing", "labels": {"alertname": "X"}, '
    ...           b'"startsAt": "2026-01-01T00:00:00Z"}]}')
    >>> n.alerts[0].labels["alertname"]
    'X'
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson

from receiver.errors import PayloadError

ZERO_TIME = "0001-01-01T00:00:00Z"
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
STATUSES = ("firing", "resolved")

Labels = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert of a notification, as Alertmanager sends it."""

    status: str
    labels: Labels
    annotations: Labels
    starts_at: str
    ends_at: str = ZERO_TIME
    generator_url: str = ""
    fingerprint: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def identity(self) -> tuple[str, str, str]:
        """What makes two copies of this alert the same event: (fingerprint, status, startsAt)."""
        return (self.fingerprint, self.status, self.starts_at)

    def with_annotations(self, annotations: Labels) -> Alert:
        return replace(self, annotations=annotations)

    def with_labels(self, labels: Labels) -> Alert:
        return replace(self, labels=labels)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": self.starts_at,
            "endsAt": self.ends_at,
            "generatorURL": self.generator_url,
            "fingerprint": self.fingerprint,
            **self.extra,
        }


@dataclass(frozen=True, slots=True)
class Notification:
    """One webhook notification: a group of alerts and what they have in common."""

    alerts: tuple[Alert, ...]
    receiver: str = ""
    status: str = "firing"
    group_labels: Labels = field(default_factory=dict)
    common_labels: Labels = field(default_factory=dict)
    common_annotations: Labels = field(default_factory=dict)
    external_url: str = ""
    version: str = "4"
    group_key: str = ""
    truncated_alerts: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def with_alerts(self, alerts: tuple[Alert, ...]) -> Notification:
        """The same notification with other alerts; status, commonLabels and commonAnnotations
        recomputed over them as Alertmanager computes them."""
        return replace(
            self,
            alerts=alerts,
            status="firing" if any(a.status == "firing" for a in alerts) else "resolved",
            common_labels=common_pairs(a.labels for a in alerts),
            common_annotations=common_pairs(a.annotations for a in alerts),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "receiver": self.receiver,
            "status": self.status,
            "alerts": [a.to_dict() for a in self.alerts],
            "groupLabels": dict(self.group_labels),
            "commonLabels": dict(self.common_labels),
            "commonAnnotations": dict(self.common_annotations),
            "externalURL": self.external_url,
            "version": self.version,
            "groupKey": self.group_key,
            "truncatedAlerts": self.truncated_alerts,
            **self.extra,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())


def common_pairs(maps: Any) -> dict[str, str]:
    """The key/value pairs present and equal in every mapping (empty input gives {})."""
    it = iter(maps)
    first = next(it, None)
    if first is None:
        return {}
    common = dict(first)
    for m in it:
        common = {k: v for k, v in common.items() if m.get(k) == v}
    return common


def parse(body: bytes) -> Notification:
    """Parse and validate a webhook body; raises PayloadError naming the field at fault."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PayloadError("", f"body is not valid JSON ({exc.msg})") from None
    return from_dict(doc)


_TOP_KNOWN = frozenset(
    ("receiver", "status", "alerts", "groupLabels", "commonLabels", "commonAnnotations",
     "externalURL", "version", "groupKey", "truncatedAlerts")
)
_ALERT_KNOWN = frozenset(
    ("status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint")
)


def from_dict(doc: Any) -> Notification:
    if not isinstance(doc, dict):
        raise PayloadError("", "body must be a JSON object")
    raw_alerts = doc.get("alerts")
    if raw_alerts is None:
        raise PayloadError("alerts", "is required")
    if not isinstance(raw_alerts, list):
        raise PayloadError("alerts", "must be a list")
    alerts = tuple(_alert(a, i) for i, a in enumerate(raw_alerts))
    truncated = doc.get("truncatedAlerts", 0)
    if isinstance(truncated, bool) or not isinstance(truncated, int) or truncated < 0:
        raise PayloadError("truncatedAlerts", "must be a non-negative integer")
    status = doc.get("status", "resolved" if alerts and all(a.status == "resolved" for a in alerts) else "firing")
    return Notification(
        alerts=alerts,
        receiver=_string(doc, "receiver", ""),
        status=_status(status, "status"),
        group_labels=_labels(doc.get("groupLabels", {}), "groupLabels"),
        common_labels=_labels(doc.get("commonLabels", {}), "commonLabels"),
        common_annotations=_labels(doc.get("commonAnnotations", {}), "commonAnnotations"),
        external_url=_string(doc, "externalURL", ""),
        version=_string(doc, "version", "4"),
        group_key=_string(doc, "groupKey", ""),
        truncated_alerts=truncated,
        extra={k: v for k, v in doc.items() if k not in _TOP_KNOWN},
    )


def _alert(raw: Any, index: int) -> Alert:
    """One alert; field paths are only spelled out when something is wrong (this runs per request)."""
    if not isinstance(raw, dict):
        raise PayloadError(f"alerts[{index}]", "must be an object")
    labels = _labels(raw.get("labels"), "labels", index)
    starts_at = raw.get("startsAt")
    if starts_at is None:
        raise PayloadError(f"alerts[{index}].startsAt", "is required")
    fingerprint = _string(raw, "fingerprint", "", index)
    return Alert(
        status=_status(raw.get("status"), "status", index),
        labels=labels,
        annotations=_labels(raw.get("annotations", {}), "annotations", index),
        starts_at=_timestamp(starts_at, "startsAt", index),
        ends_at=_timestamp(raw.get("endsAt", ZERO_TIME), "endsAt", index),
        generator_url=_string(raw, "generatorURL", "", index),
        fingerprint=fingerprint or label_fingerprint(labels),
        extra={k: v for k, v in raw.items() if k not in _ALERT_KNOWN},
    )


def _path(key: str, index: int | None) -> str:
    return key if index is None else f"alerts[{index}].{key}"


def label_fingerprint(labels: Labels) -> str:
    """A stable 16-hex-digit identity for a label set, for alerts that arrive without a fingerprint."""
    digest = hashlib.blake2b(orjson.dumps(dict(labels), option=orjson.OPT_SORT_KEYS), digest_size=8)
    return digest.hexdigest()


def _labels(raw: Any, key: str, index: int | None = None) -> dict[str, str]:
    if raw is None:
        raise PayloadError(_path(key, index), "is required")
    if not isinstance(raw, dict):
        raise PayloadError(_path(key, index), "must be an object of strings")
    for name, value in raw.items():
        if type(value) is not str:
            raise PayloadError(f"{_path(key, index)}.{name}", "must be a string")
    return raw


def _string(doc: dict[str, Any], key: str, default: str, index: int | None = None) -> str:
    value = doc.get(key, default)
    if type(value) is not str:
        raise PayloadError(_path(key, index), "must be a string")
    return value


def _status(value: Any, key: str, index: int | None = None) -> str:
    if value != "firing" and value != "resolved":
        raise PayloadError(_path(key, index), 'must be "firing" or "resolved"')
    return str(value)


def _timestamp(value: Any, key: str, index: int | None = None) -> str:
    if value == ZERO_TIME:
        return ZERO_TIME
    if type(value) is not str:
        raise PayloadError(_path(key, index), "must be an RFC 3339 timestamp string")
    if not _RFC3339.match(value):
        raise PayloadError(_path(key, index), "must be an RFC 3339 timestamp")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError(_path(key, index), "must be an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise PayloadError(_path(key, index), "must be an RFC 3339 timestamp with a time zone")
    return value
