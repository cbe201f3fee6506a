"""build_app(config): the one place that turns a Config into running parts and wires them.

    app = build_app(load("config/amtriage.yaml", os.environ))
    web.run_app(app, host=..., port=...)

On start-up (cleanup_ctx) it opens the outbox, starts the delivery thread and only then reports
ready; on shutdown it stops accepting work, lets delivery finish what is in flight, and closes
the outbox. Whatever was not delivered stays in the outbox for the next start.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from receiver import api, forwarders, ingest
from receiver.background import DeliveryThread
from receiver.cache import ClassificationCache
from receiver.classifier import Classification, RuleClassifier
from receiver.config import Config
from receiver.delivery import DeliveryWorker
from receiver.errors import ConfigError
from receiver.forwarders import Forwarder
from receiver.forwarders.http import Deps
from receiver.ingest import STATE, Authorizer, State
from receiver.llm import ProviderDeps
from receiver.llm.classify import LLMClassifier
from receiver.llm.client import LLMClient
from receiver.llm.cost import Budget
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
    def count(c: Classification, reason: str) -> None:
        if metrics is not None:
            metrics.enrichment.labels(source=c.source, reason=reason).inc()

    return Enricher(load_classifier(config), config.enrichment, on_classified=count)


@dataclass(frozen=True)
class LLMState:
    """What outlives a reload on the LLM side: money spent and answers cached."""

    budget: Budget
    cache: ClassificationCache

    @classmethod
    def create(cls, config: Config) -> LLMState:
        return cls(Budget(config.llm.budget), ClassificationCache(config.cache, prompt_version=_version(config)))


def _version(config: Config) -> str:
    return str(config.llm.prompt.template.version) if config.llm.prompt is not None else "none"


def build_llm(config: Config, session: aiohttp.ClientSession, metrics: Metrics, kept: LLMState, *,
              clock: Callable[[], float] = time.monotonic,
              sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> LLMClassifier | None:
    """The LLM path for `config`, or None when it is off (then the rules classify every alert)."""
    if not config.llm.enabled or not config.llm.providers:
        return None
    kept.budget.set_caps(config.llm.budget)
    client = LLMClient.build(config.llm, ProviderDeps(session, clock, sleep), metrics.llm, kept.budget)
    return LLMClassifier(client, kept.cache, config.llm.prompt, deadline=config.enrichment.deadline, clock=clock)


def build_app(
    config: Config,
    *,
    registry: CollectorRegistry | None = None,
    clock: Callable[[], float] = time.time,
    shutdown_grace: float = 10.0,
    reload_from: Callable[[], Config] | None = None,
    handle_sighup: bool = False,
    llm_clock: Callable[[], float] = time.monotonic,
    llm_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> web.Application:
    """The application for `config`. With `reload_from` (a function that loads the config anew, raising
    ConfigError), `POST /-/reload` (and SIGHUP with `handle_sighup`) swap in a new config."""
    metrics = Metrics.create(registry or CollectorRegistry())
    metrics.config_last_reload_successful.set(1)
    outbox = SqliteOutbox(config.outbox, lease=config.delivery.lease, clock=clock)
    state = State(config, metrics, outbox, build_enricher(config, metrics), Authorizer(config.server.auth))
    app = web.Application(client_max_size=config.server.max_body_bytes)
    app[STATE] = state

    def on_template_error(receiver: str, error: str) -> None:
        log.warning("receiver %s: template failed, the default was used: %s", receiver, error)
        metrics.template_errors.labels(receiver=receiver).inc()

    def deliver_with(current: Config, session: aiohttp.ClientSession) -> tuple[Router, dict[str, Forwarder]]:
        deps = Deps(session, clock, current.enrichment.annotation_prefix, on_template_error)
        return Router(current.routes, current.default_receiver), forwarders.build(current.receivers, deps)

    kept = LLMState.create(config)
    state.llm_state = kept

    def llm_with(current: Config, session: aiohttp.ClientSession) -> LLMClassifier | None:
        return build_llm(current, session, metrics, kept, clock=llm_clock, sleep=llm_sleep)

    def make_worker(session: aiohttp.ClientSession) -> DeliveryWorker:
        state.enricher.llm = llm_with(state.config, session)
        router, built = deliver_with(state.config, session)
        return DeliveryWorker(outbox, state.enricher, router, built, state.config.receivers, state.config.delivery,
                              metrics, clock=clock)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await outbox.open()
        delivery = DeliveryThread(make_worker)
        await delivery.start()
        outbox.on_stored = delivery.wake
        app[DELIVERY] = delivery
        state.dry_run = lambda n, mode: delivery.run(lambda: state.enricher.enrich(n, mode))
        if reload_from is not None:
            _wire_reload(state, delivery, reload_from, _rebuild(deliver_with, llm_with), sighup=handle_sighup)
        state.ready = True
        log.info("ready", extra={"outbox": str(outbox.path), "receivers": len(config.receivers)})
        yield
        state.ready = False
        await delivery.stop(grace=shutdown_grace)
        await outbox.close()

    app.cleanup_ctx.append(lifecycle)
    ingest.add_routes(app)
    api.add_routes(app)
    return app


Rebuild = Callable[[Config, aiohttp.ClientSession, State, DeliveryWorker], None]


def _wire_reload(state: State, delivery: DeliveryThread, load: Callable[[], Config], rebuild: Rebuild, *,
                 sighup: bool) -> None:
    """`POST /-/reload` (through `state.reload`) and, when serving for real, SIGHUP."""
    state.reload = lambda: reload(state, delivery, load, rebuild)
    if sighup:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(reload(
            state, delivery, load, rebuild)))


def _rebuild(deliver_with: Callable[[Config, aiohttp.ClientSession], tuple[Router, dict[str, Forwarder]]],
             llm_with: Callable[[Config, aiohttp.ClientSession], LLMClassifier | None]) -> Rebuild:
    """How a reload rebuilds, on the delivery loop, what lives there: routes, forwarders, the LLM path."""

    def rebuild(new: Config, session: aiohttp.ClientSession, state: State, worker: DeliveryWorker) -> None:
        router, built = deliver_with(new, session)
        worker.reconfigure(router, built, new.receivers, new.delivery)
        state.enricher.llm = llm_with(new, session)

    return rebuild


async def reload(state: State, delivery: DeliveryThread, load: Callable[[], Config], rebuild: Rebuild) -> list[str]:
    """Load the config again and swap it in; a bad one is refused with its errors and the old one kept.
    The listen address and the outbox stay as they started (they need a restart)."""
    try:
        new = await asyncio.to_thread(lambda: _checked(load()))
    except ConfigError as exc:
        state.metrics.config_reloads.labels(result="failure").inc()
        state.metrics.config_last_reload_successful.set(0)
        log.error("config reload refused, the running config is kept", extra={"errors": exc.errors})
        return exc.errors
    old = state.config
    kept = [name for name, a, b in (("server.listen", (old.server.host, old.server.port),
                                     (new.server.host, new.server.port)), ("outbox", old.outbox, new.outbox)) if a != b]
    mode_changed = new.enrichment.mode != old.enrichment.mode
    state.enricher.reconfigure(load_classifier(new), new.enrichment, mode_changed=mode_changed)
    state.authorizer = Authorizer(new.server.auth)
    state.config = new

    async def swap() -> None:
        worker, session = delivery.worker, delivery.session
        if worker is None or session is None:
            raise RuntimeError("delivery is not running")
        rebuild(new, session, state, worker)

    await delivery.run(swap)
    state.metrics.config_reloads.labels(result="success").inc()
    state.metrics.config_last_reload_successful.set(1)
    log.info("config reloaded", extra={"receivers": len(new.receivers), "needs_restart": kept})
    return []


def _checked(config: Config) -> Config:
    load_classifier(config)  # its errors are the config's errors
    return config
