"""build_app(config): the one place that turns a Config into running parts and wires them.

    app = build_app(load("config/amtriage.yaml", os.environ))
    web.run_app(app, host=..., port=...)

On start-up (cleanup_ctx) it opens the outbox, starts the delivery thread and only then reports
ready; on shutdown it stops accepting work, lets delivery finish what is in flight, and closes
the outbox. Whatever was not delivered stays in the outbox for the next start.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from receiver import forwarders
from receiver.background import DeliveryThread
from receiver.classifier import Classification, RuleClassifier
from receiver.config import Config
from receiver.delivery import DeliveryWorker
from receiver.errors import ConfigError
from receiver.forwarders.http import Deps
from receiver.ingest import STATE, Authorizer, State, add_routes
from receiver.metrics import Metrics
from receiver.outbox.sqlite import SqliteOutbox
from receiver.pipeline import Enricher
from receiver.routing import Router

log = logging.getLogger("amtriage")
DELIVERY = web.AppKey("delivery", DeliveryThread)


def load_classifier(config: Config) -> RuleClassifier:
    """The rule classifier the config names; its errors are reported under `classifier.rules_file`."""
    path = config.classifier.rules_file
    if not path:
        return RuleClassifier.builtin()
    try:
        return RuleClassifier.from_file(Path(path))
    except ConfigError as exc:
        raise ConfigError([f"classifier.rules_file: {e}" for e in exc.errors]) from None


def build_enricher(config: Config, metrics: Metrics | None = None) -> Enricher:
    def count(c: Classification) -> None:
        if metrics is not None:
            metrics.enrichment.labels(source=c.source, reason="llm_disabled" if c.source == "rules" else "").inc()

    return Enricher(load_classifier(config), config.enrichment, on_classified=count)


def build_app(
    config: Config,
    *,
    registry: CollectorRegistry | None = None,
    clock: Callable[[], float] = time.time,
    shutdown_grace: float = 10.0,
) -> web.Application:
    metrics = Metrics.create(registry or CollectorRegistry())
    outbox = SqliteOutbox(config.outbox, lease=config.delivery.lease, clock=clock)
    enricher = build_enricher(config, metrics)
    state = State(config, metrics, outbox, enricher, Authorizer(config.server.auth))
    app = web.Application(client_max_size=config.server.max_body_bytes)
    app[STATE] = state

    def on_template_error(receiver: str, error: str) -> None:
        log.warning("receiver %s: template failed, the default was used: %s", receiver, error)
        metrics.template_errors.labels(receiver=receiver).inc()

    def make_worker(session: aiohttp.ClientSession) -> DeliveryWorker:
        return DeliveryWorker(
            outbox, enricher, Router(config.routes, config.default_receiver),
            forwarders.build(config.receivers, Deps(session, clock, config.enrichment.annotation_prefix,
                                                    on_template_error)),
            config.receivers, config.delivery, metrics,
            clock=clock,
        )

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await outbox.open()
        delivery = DeliveryThread(make_worker)
        await delivery.start()
        outbox.on_stored = delivery.wake
        app[DELIVERY] = delivery
        state.ready = True
        log.info("ready", extra={"outbox": str(outbox.path), "receivers": len(config.receivers)})
        yield
        state.ready = False
        await delivery.stop(grace=shutdown_grace)
        await outbox.close()

    app.cleanup_ctx.append(lifecycle)
    add_routes(app)
    return app
