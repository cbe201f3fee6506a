"""Routing: which receivers get which alerts of a notification.

Routes are tried in order and the first match wins, unless it says `continue: true`; an alert
no route takes goes to `default_receiver`. Matchers see the alert's labels and, after enrichment,
its annotations (labels win on a clash), so `ai_severity="critical"` routes on the classifier.
Each receiver gets one notification holding its alerts, in their original order.

    router = Router(config.routes, config.default_receiver)
    for receiver, part in router.split(notification).items(): ...
"""

from __future__ import annotations

from collections.abc import Sequence

from receiver.alerts import Alert, Notification
from receiver.config import RouteConfig
from receiver.matchers import matches_all


class Router:
    """Maps each alert to receivers; see the module docstring."""

    def __init__(self, routes: Sequence[RouteConfig], default_receiver: str) -> None:
        self.routes = tuple(routes)
        self.default_receiver = default_receiver

    def receivers_for(self, alert: Alert) -> list[str]:
        seen = {**alert.annotations, **alert.labels}
        chosen: list[str] = []
        for route in self.routes:
            if matches_all(route.matchers, seen):
                chosen.extend(r for r in route.receivers if r not in chosen)
                if not route.continue_:
                    return chosen
        return chosen or [self.default_receiver]

    def split(self, notification: Notification) -> dict[str, Notification]:
        """One notification per receiver; a receiver that gets every alert gets the notification as is."""
        by_receiver: dict[str, list[Alert]] = {}
        for alert in notification.alerts:
            for name in self.receivers_for(alert):
                by_receiver.setdefault(name, []).append(alert)
        return {
            name: notification if len(alerts) == len(notification.alerts) else notification.with_alerts(tuple(alerts))
            for name, alerts in by_receiver.items()
        }
