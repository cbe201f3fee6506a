"""Every instrument amtriage exports, built on an injected registry (no instrument at import time).

    metrics = Metrics.create(CollectorRegistry())
    metrics.alerts_received.labels(status="firing").inc()
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_LLM_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60)


@dataclass(frozen=True, slots=True)
class LLMMetrics:
    """The LLM client's and breaker's instruments, under the names LLM-client dashboards already chart."""

    requests: Counter
    request_duration: Histogram
    errors: Counter
    tokens: Counter
    cost: Counter
    budget_remaining: Gauge
    breaker_state: Gauge
    breaker_failures: Counter
    breaker_successes: Counter
    breaker_blocked: Counter
    breaker_half_open: Counter
    breaker_slow_calls: Counter
    breaker_state_changes: Counter
    breaker_call_duration: Histogram

    @classmethod
    def create(cls, r: CollectorRegistry) -> LLMMetrics:
        p = ["provider"]
        return cls(
            requests=Counter("llm_client_requests", "LLM calls by outcome: success, error, circuit_open, "
                             "rate_limited, fallback.", ["provider", "status"], registry=r),
            request_duration=Histogram("llm_client_request_duration_seconds", "LLM call latency.", p,
                                       buckets=_LLM_BUCKETS, registry=r),
            errors=Counter("llm_client_errors", "LLM call errors by type.", ["provider", "error_type"], registry=r),
            tokens=Counter("llm_tokens", "Tokens used, by kind (input, output).", ["provider", "model", "kind"],
                           registry=r),
            cost=Counter("llm_cost_usd", "Estimated spend in US dollars.", ["provider", "model"], registry=r),
            budget_remaining=Gauge("llm_budget_remaining_usd", "Budget left in the period.", ["period"], registry=r),
            breaker_state=Gauge("llm_circuit_breaker_state", "Breaker state: 0 closed, 1 open, 2 half-open.", p,
                                registry=r),
            breaker_failures=Counter("llm_circuit_breaker_failures", "Calls the breaker counted as failures.", p,
                                     registry=r),
            breaker_successes=Counter("llm_circuit_breaker_successes", "Calls the breaker counted as successes.", p,
                                      registry=r),
            breaker_blocked=Counter("llm_circuit_breaker_requests_blocked", "Calls refused by an open breaker.", p,
                                    registry=r),
            breaker_half_open=Counter("llm_circuit_breaker_half_open_requests", "Probe calls let through.", p,
                                      registry=r),
            breaker_slow_calls=Counter("llm_circuit_breaker_slow_calls", "Calls slower than slow_call_duration.", p,
                                       registry=r),
            breaker_state_changes=Counter("llm_circuit_breaker_state_changes", "Breaker state transitions.",
                                          ["provider", "from", "to"], registry=r),
            breaker_call_duration=Histogram("llm_circuit_breaker_call_duration_seconds", "Calls through the breaker.",
                                            ["provider", "result"], buckets=_LLM_BUCKETS, registry=r),
        )


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
    llm: LLMMetrics

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
            llm=LLMMetrics.create(r),
            config_reloads=Counter(
                "amtriage_config_reloads", "Configuration reloads, by result.", ["result"], registry=r),
            config_last_reload_successful=Gauge(
                "amtriage_config_last_reload_successful", "Whether the last configuration reload succeeded.",
                registry=r),
        )
