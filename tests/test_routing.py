"""Routing: which receivers get which alerts, and the per-receiver notifications split from one."""

from __future__ import annotations

import pytest

from receiver.alerts import Alert, Notification, common_pairs, parse
from receiver.config import RouteConfig
from receiver.matchers import parse_matcher
from receiver.routing import Router
from tests.fakes import FIXTURES


def _route(*matchers: str, to: tuple[str, ...], cont: bool = False) -> RouteConfig:
    return RouteConfig(tuple(parse_matcher(m) for m in matchers), to, cont)


def _alert(labels: dict[str, str], annotations: dict[str, str] | None = None) -> Alert:
    return Alert("firing", labels, annotations or {}, "2026-01-01T00:00:00Z")


def _load(name: str) -> Notification:
    return parse((FIXTURES / name).read_bytes())


ROUTES = [
    _route('team="storage"', to=("storage",), cont=True),
    _route('ai_severity="critical"', to=("pager",)),
    _route('team="storage"', to=("storage-archive",)),
    _route('severity=~"warn.*"', to=("chat",)),
]


@pytest.mark.parametrize(
    ("labels", "annotations", "expected"),
    [
        pytest.param({"team": "web", "severity": "warning"}, {}, ["chat"], id="first-match-wins"),
        pytest.param({"team": "storage"}, {}, ["storage", "storage-archive"], id="continue-adds-later-matches"),
        pytest.param(
            {"team": "storage", "severity": "warning"}, {"ai_severity": "critical"}, ["storage", "pager"],
            id="continue-then-first-non-continue-match-stops",
        ),
        pytest.param({"team": "web"}, {"ai_severity": "critical"}, ["pager"], id="routes-on-ai-annotation"),
        pytest.param({"team": "web"}, {}, ["fallback"], id="nothing-matches-goes-to-default"),
        pytest.param(
            {"team": "web", "ai_severity": "info"}, {"ai_severity": "critical"}, ["fallback"],
            id="label-wins-over-annotation",
        ),
        pytest.param(
            {"alertname": "X"}, {"team": "storage"}, ["storage", "storage-archive"],
            id="annotation-seen-when-no-label",
        ),
    ],
)
def test_receivers_for(labels: dict[str, str], annotations: dict[str, str], expected: list[str]) -> None:
    assert Router(ROUTES, "fallback").receivers_for(_alert(labels, annotations)) == expected


def test_a_matching_continue_route_alone_does_not_add_the_default() -> None:
    router = Router([_route('team="storage"', to=("storage",), cont=True)], "fallback")
    assert router.receivers_for(_alert({"team": "storage"})) == ["storage"]


def test_a_receiver_named_by_two_matching_routes_is_listed_once() -> None:
    router = Router(
        [_route('team="storage"', to=("a", "b"), cont=True), _route('team=~"stor.*"', to=("b", "c"))], "fallback"
    )
    assert router.receivers_for(_alert({"team": "storage"})) == ["a", "b", "c"]


def test_no_routes_sends_everything_to_the_default() -> None:
    notification = _load("02-firing-group-3-alerts.json")
    assert Router([], "fallback").split(notification) == {"fallback": notification}


def test_split_gives_each_receiver_only_its_alerts_in_order() -> None:
    """Alerts a and c go to one receiver, b to the default; each part has its commonLabels recomputed."""
    notification = _load("02-firing-group-3-alerts.json")
    router = Router([_route('instance=~"checkout-(a|c):8080"', to=("ac",))], "fallback")
    parts = router.split(notification)
    a, b, c = notification.alerts
    assert set(parts) == {"ac", "fallback"}
    assert parts["ac"].alerts == (a, c)
    assert parts["fallback"].alerts == (b,)
    assert parts["ac"].common_labels == common_pairs([a.labels, c.labels])
    assert "instance" not in parts["ac"].common_labels
    assert parts["fallback"].common_labels == b.labels
    assert parts["fallback"].common_annotations == b.annotations
    for part in parts.values():
        assert (part.group_key, part.receiver, part.group_labels) == (
            notification.group_key, notification.receiver, notification.group_labels
        )


def test_split_recomputes_status_for_a_part_holding_only_resolved_alerts() -> None:
    notification = _load("04-mixed-firing-resolved.json")
    parts = Router([_route('instance="checkout-b:8080"', to=("b",))], "rest").split(notification)
    assert (parts["b"].status, parts["rest"].status) == ("resolved", "firing")
    assert [a.status for a in parts["rest"].alerts] == ["firing", "firing"]


def test_split_returns_the_same_object_to_a_receiver_that_gets_every_alert() -> None:
    notification = _load("04-mixed-firing-resolved.json")
    router = Router(
        [_route('service="checkout"', to=("all",), cont=True), _route('instance="checkout-b:8080"', to=("b",))],
        "fallback",
    )
    parts = router.split(notification)
    assert parts["all"] is notification
    assert parts["b"] is not notification
    assert parts["b"].alerts == (notification.alerts[1],)
    assert "fallback" not in parts
