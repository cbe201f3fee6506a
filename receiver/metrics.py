"""Every instrument amtriage exports, built on an injected registry (no instrument at import time).

    metrics = Metrics.create(CollectorRegistry())
    metrics.alerts_received.labels(status="firing").inc()
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@dataclass(frozen=True, slots=True)
class Metrics:
    registry: CollectorRegistry
    ingest_requests: Counter
    alerts_received: Counter
    outbox_depth: Gauge
    outbox_oldest_age: Gauge
    dead_letters: Gauge
    notifications: Counter
    notifications_failed: Counter
    notification_requests: Counter
    notification_requests_failed: Counter
    notification_latency: Histogram
    enrichment: Counter
    deduplicated: Counter
    config_reloads: Counter
    config_last_reload_successful: Gauge
    template_errors: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> Metrics:
        r = registry
        return cls(
            registry=r,
            ingest_requests=Counter(
                "amtriage_ingest_requests", "Webhook requests by HTTP status code.", ["code"], registry=r),
            alerts_received=Counter(
                "amtriage_alerts_received", "Alerts accepted from Alertmanager, by status.", ["status"], registry=r),
            outbox_depth=Gauge(
                "amtriage_outbox_depth", "Notifications waiting in the outbox.", registry=r),
            outbox_oldest_age=Gauge(
                "amtriage_outbox_oldest_age_seconds", "Age of the oldest waiting notification.", registry=r),
            dead_letters=Gauge(
                "amtriage_dead_letters", "Notifications in the dead-letter queue, by receiver.", ["receiver"],
                registry=r),
            notifications=Counter(
                "amtriage_notifications", "Notifications delivered, by receiver.", ["receiver", "integration"],
                registry=r),
            notifications_failed=Counter(
                "amtriage_notifications_failed", "Delivery attempts that failed, by receiver and reason.",
                ["receiver", "integration", "reason"], registry=r),
            notification_requests=Counter(
                "amtriage_notification_requests", "Requests sent to receivers.", ["receiver", "integration"],
                registry=r),
            notification_requests_failed=Counter(
                "amtriage_notification_requests_failed", "Requests to receivers that failed.",
                ["receiver", "integration"], registry=r),
            notification_latency=Histogram(
                "amtriage_notification_latency_seconds", "Latency of delivery requests to receivers.",
                ["receiver", "integration"], buckets=_LATENCY_BUCKETS, registry=r),
            deduplicated=Counter(
                "amtriage_deduplicated", "Alerts not sent again to a receiver: duplicate (HA pair, retry) or stale "
                "(a firing after its resolve).", ["receiver", "reason"], registry=r),
            enrichment=Counter(
                "amtriage_enrichment", "Alerts classified, by source and (for fallbacks) reason.",
                ["source", "reason"], registry=r),
            template_errors=Counter(
                "amtriage_template_errors", "User templates that failed to render (the default was sent).",
                ["receiver"], registry=r),
            config_reloads=Counter(
                "amtriage_config_reloads", "Configuration reloads, by result.", ["result"], registry=r),
            config_last_reload_successful=Gauge(
                "amtriage_config_last_reload_successful", "Whether the last configuration reload succeeded.",
                registry=r),
        )
