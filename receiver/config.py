"""The configuration: one YAML file into frozen dataclasses, checked in one pass.

`load(path, environ)` expands `${VAR}` / `${VAR:-default}`, applies the environment overrides
(`LLM_*`, `ENRICHMENT_MODE`, `REDIS_URL`), reads every secret inline or from `*_file`, and raises
`ConfigError` listing every problem by field path:

    >>> load("config/amtriage.yaml", {}).server.port
    9095
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from receiver.configread import Fields, expand
from receiver.errors import ConfigError
from receiver.matchers import Matcher, parse_matcher
from receiver.overrides import apply_overrides

MODES = ("transparent", "enriched", "transparent_with_recommendations")
KEYED_PROVIDERS = ("openai", "azure", "anthropic", "gemini")  # hosted APIs that always want a key
PROVIDER_TYPES = ("openai", "azure", "anthropic", "gemini", "ollama", "openai_compatible", "proxy", "custom")


@dataclass(frozen=True, slots=True)
class Credentials:
    """HTTP credentials: a bearer token, or basic auth, or neither."""

    bearer_token: str | None = field(default=None, repr=False)  # secrets stay out of reprs and logs
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def empty(self) -> bool:
        return self.bearer_token is None and self.username is None


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "0.0.0.0"
    port: int = 9095
    auth: Credentials = Credentials()
    max_body_bytes: int = 4 * 2**20


@dataclass(frozen=True, slots=True)
class OutboxConfig:
    backend: str = "sqlite"
    path: str = "./data/outbox.db"
    max_items: int = 100_000


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    concurrency: int = 8
    max_attempts: int = 10
    max_age: float = 24 * 3600.0
    initial_backoff: float = 1.0
    max_backoff: float = 300.0
    lease: float = 60.0
    poll_interval: float = 1.0
    dedup_window: float = 300.0


@dataclass(frozen=True, slots=True)
class EnrichmentConfig:
    mode: str = "enriched"
    deadline: float = 10.0
    annotation_prefix: str = "ai_"
    set_labels: bool = False


@dataclass(frozen=True, slots=True)
class ClassifierConfig:
    rules_file: str | None = None


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    enabled: bool = True
    max_failures: int = 5
    failure_threshold: float = 0.5
    time_window: float = 60.0
    slow_call_duration: float = 3.0
    reset_timeout: float = 60.0
    half_open_max_calls: int = 1
    success_threshold: int = 2
    min_calls: int = 10  # calls in the window before the failure rate can open the breaker


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    requests_per_minute: float = 600.0
    burst: int = 20
    tokens_per_minute: float = 0.0  # 0: no token limit
    max_concurrency: int = 0  # 0: no cap on calls in flight


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    name: str
    type: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    base_url: str = ""
    timeout: float = 30.0
    max_retries: int = 3
    retry_delay: float = 1.0
    retry_backoff: float = 2.0
    priority: int = 0
    weight: float = 1.0
    headers: Mapping[str, str] = field(default_factory=dict)
    circuit_breaker: BreakerConfig = BreakerConfig()
    rate_limit: RateLimitConfig = RateLimitConfig()
    pricing: tuple[float, float] | None = None  # USD per million input, output tokens (None: the built-in table)
    options: Any = None  # the provider type's own settings, parsed by its class (`Provider.options`)


@dataclass(frozen=True, slots=True)
class BudgetConfig:
    daily_usd: float = 0.0
    monthly_usd: float = 0.0


@dataclass(frozen=True, slots=True)
class LLMConfig:
    enabled: bool = False
    providers: tuple[ProviderConfig, ...] = ()
    budget: BudgetConfig = BudgetConfig()
    prompt: Any = None  # receiver.prompt.PromptSettings: template, redaction, size cap, batch size
    per_receiver: RateLimitConfig | None = None  # a rate limit per Alertmanager receiver (tenant)


@dataclass(frozen=True, slots=True)
class CacheConfig:
    enabled: bool = True
    ttl: float = 24 * 3600.0
    maxsize: int = 10_000


@dataclass(frozen=True, slots=True)
class ReceiverConfig:
    """One downstream integration (Alertmanager's word: a receiver)."""

    name: str
    type: str
    url: str = field(default="", repr=False)  # webhook URLs carry tokens (Slack, Discord, Teams)
    credentials: Credentials = Credentials()
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 10.0
    send_resolved: bool = True
    options: Any = None  # the kind's own settings, parsed by its forwarder class (`Forwarder.options`)


@dataclass(frozen=True, slots=True)
class RouteConfig:
    matchers: tuple[Matcher, ...]
    receivers: tuple[str, ...]
    continue_: bool = False


@dataclass(frozen=True, slots=True)
class Config:
    """Everything amtriage runs on; built once by `load` and passed down."""

    receivers: tuple[ReceiverConfig, ...]
    default_receiver: str
    server: ServerConfig = ServerConfig()
    outbox: OutboxConfig = OutboxConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    enrichment: EnrichmentConfig = EnrichmentConfig()
    classifier: ClassifierConfig = ClassifierConfig()
    llm: LLMConfig = LLMConfig()
    cache: CacheConfig = CacheConfig()
    redis_url: str = ""
    routes: tuple[RouteConfig, ...] = ()
    source: str = ""

    def receiver(self, name: str) -> ReceiverConfig | None:
        return next((r for r in self.receivers if r.name == name), None)


def load(path: str | Path, environ: Mapping[str, str]) -> Config:
    """Read, expand, override and validate a config file; raises ConfigError with every problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    return loads(text, environ, source=str(path))


def loads(text: str, environ: Mapping[str, str], source: str = "<config>") -> Config:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source}: not valid YAML: {exc}"]) from None
    raw = apply_overrides(expand(raw or {}, environ), environ)
    errors: list[str] = []
    config = _config(Fields(raw, "", errors), source)
    if errors:
        raise ConfigError(errors)
    return config


def _config(f: Fields, source: str) -> Config:
    receivers = tuple(_receiver(r) for r in f.items("receivers"))
    names = [r.name for r in receivers]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        f.error("receivers", f"receiver name {dup!r} is used more than once")
    if not receivers:
        f.error("receivers", "at least one receiver is required")
    default = f.string("default_receiver", names[0] if names else "")
    if receivers and default not in names:
        f.error("default_receiver", f"no receiver is named {default!r}")
    config = Config(
        receivers=receivers,
        default_receiver=default,
        server=_server(f.section("server")),
        outbox=_outbox(f.section("outbox")),
        delivery=_delivery(f.section("delivery")),
        enrichment=_enrichment(f.section("enrichment")),
        classifier=_classifier(f.section("classifier"), source),
        llm=_llm(f.section("llm")),
        cache=_cache(f.section("cache")),
        redis_url=f.string("redis_url"),
        routes=tuple(_route(r, names) for r in f.items("routes")),
        source=source,
    )
    f.done()
    return config


def _listen(f: Fields) -> tuple[str, int]:
    listen = f.string("listen", "0.0.0.0:9095")
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        f.error("listen", "must be host:port, like 0.0.0.0:9095")
        return ServerConfig().host, ServerConfig().port
    return host.strip("[]") or "0.0.0.0", int(port)


def _credentials(f: Fields, *, both_allowed: bool = False) -> Credentials:
    """A bearer token and/or basic auth; a sender (a receiver) may have only one of them."""
    token = f.secret("bearer_token")
    basic = f.section("basic")
    username = basic.string("username") or None
    password = basic.secret("password")
    if basic.raw and not username:
        basic.error("username", "is required with basic auth")
    if basic.raw and not (basic.has("password") or basic.has("password_file")):
        basic.error("password", "is required with basic auth (or password_file)")
    basic.done()
    if token and username and not both_allowed:
        f.error("bearer_token", "set either a bearer token or basic auth, not both")
    return Credentials(bearer_token=token, username=username, password=password)


def _server(f: Fields) -> ServerConfig:
    host, port = _listen(f)
    auth = f.section("auth")
    credentials = _credentials(auth, both_allowed=True)  # Alertmanagers may use either
    auth.done()
    server = ServerConfig(host, port, credentials, f.size("max_body_bytes", ServerConfig().max_body_bytes))
    f.done()
    return server


def _outbox(f: Fields) -> OutboxConfig:
    outbox = OutboxConfig(
        backend=f.choice("backend", "sqlite", ("sqlite",)),
        path=f.string("path", OutboxConfig().path),
        max_items=f.integer("max_items", OutboxConfig().max_items, minimum=1),
    )
    f.done()
    return outbox


def _delivery(f: Fields) -> DeliveryConfig:
    d = DeliveryConfig()
    delivery = DeliveryConfig(
        concurrency=f.integer("concurrency", d.concurrency, minimum=1),
        max_attempts=f.integer("max_attempts", d.max_attempts, minimum=1),
        max_age=f.duration("max_age", d.max_age),
        initial_backoff=f.duration("initial_backoff", d.initial_backoff),
        max_backoff=f.duration("max_backoff", d.max_backoff),
        lease=f.duration("lease", d.lease),
        poll_interval=f.duration("poll_interval", d.poll_interval),
        dedup_window=f.duration("dedup_window", d.dedup_window),
    )
    f.done()
    return delivery


def _enrichment(f: Fields) -> EnrichmentConfig:
    e = EnrichmentConfig(
        mode=f.choice("mode", "enriched", MODES),
        deadline=f.duration("deadline", EnrichmentConfig().deadline),
        annotation_prefix=f.string("annotation_prefix", "ai_"),
        set_labels=f.boolean("set_labels", False),
    )
    f.done()
    return e


def _classifier(f: Fields, source: str) -> ClassifierConfig:
    rules_file = f.string("rules_file") or None
    if rules_file and not Path(rules_file).is_file():
        f.error("rules_file", f"no such file: {rules_file}")
    f.done()
    return ClassifierConfig(rules_file)


def _llm(f: Fields) -> LLMConfig:
    budget = f.section("budget")
    from receiver.prompt import prompt_settings_from  # it imports receiver.llm, which imports this module

    per_receiver = _rate_limit(f.section("per_receiver_rate_limit")) if f.has("per_receiver_rate_limit") else None
    llm = LLMConfig(
        enabled=f.boolean("enabled", False),
        providers=tuple(_provider(p) for p in f.items("providers")),
        budget=BudgetConfig(budget.number("daily_usd", 0.0), budget.number("monthly_usd", 0.0)),
        prompt=prompt_settings_from(f),
        per_receiver=per_receiver,
    )
    budget.done()
    names = [p.name for p in llm.providers]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        f.error("providers", f"provider name {dup!r} is used more than once")
    if llm.enabled and not llm.providers:
        f.error("providers", "at least one provider is required when llm.enabled is true")
    for i, p in enumerate(llm.providers):
        if llm.enabled and p.type in KEYED_PROVIDERS and not p.api_key and not f.raw["providers"][i].get("auth"):
            f.error(f"providers[{i}].api_key", "is required when llm.enabled is true (or api_key_file, or auth:)")
    f.done()
    return llm


def _provider(f: Fields) -> ProviderConfig:
    kind = f.choice("type", "openai", PROVIDER_TYPES)
    base_url = f.url("base_url")
    provider = ProviderConfig(
        name=f.string("name", kind),
        type=kind,
        model=f.string("model", required=kind not in ("proxy", "custom")),
        api_key=f.secret("api_key"),
        base_url=base_url,
        timeout=f.duration("timeout", 30.0),
        max_retries=f.integer("max_retries", 3),
        retry_delay=f.duration("retry_delay", 1.0),
        retry_backoff=f.number("retry_backoff", 2.0, lo=1.0),
        priority=f.integer("priority", 0),
        weight=f.number("weight", 1.0),
        headers=f.mapping("headers"),
        circuit_breaker=_breaker(f.section("circuit_breaker")),
        rate_limit=_rate_limit(f.section("rate_limit")),
        pricing=_pricing(f.section("pricing")) if f.has("pricing") else None,
        options=_provider_options(kind, f),
    )
    f.done()
    return provider


def _provider_options(kind: str, f: Fields) -> Any:
    from receiver.llm import kinds  # the providers import this module: resolve at load time

    provider = kinds().get(kind)
    return provider.options(f) if provider is not None else None


def _pricing(f: Fields) -> tuple[float, float]:
    prices = (f.number("input_per_million", 0.0), f.number("output_per_million", 0.0))
    f.done()
    return prices


def _breaker(f: Fields) -> BreakerConfig:
    b = BreakerConfig()
    breaker = BreakerConfig(
        enabled=f.boolean("enabled", True),
        max_failures=f.integer("max_failures", b.max_failures, minimum=1),
        failure_threshold=f.number("failure_threshold", b.failure_threshold, hi=1.0),
        time_window=f.duration("time_window", b.time_window),
        slow_call_duration=f.duration("slow_call_duration", b.slow_call_duration),
        reset_timeout=f.duration("reset_timeout", b.reset_timeout),
        half_open_max_calls=f.integer("half_open_max_calls", b.half_open_max_calls, minimum=1),
        success_threshold=f.integer("success_threshold", b.success_threshold, minimum=1),
        min_calls=f.integer("min_calls", b.min_calls, minimum=1),
    )
    f.done()
    return breaker


def _rate_limit(f: Fields) -> RateLimitConfig:
    limit = RateLimitConfig(f.number("requests_per_minute", 600.0), f.integer("burst", 20, minimum=1),
                            f.number("tokens_per_minute", 0.0), f.integer("max_concurrency", 0))
    f.done()
    return limit


def _cache(f: Fields) -> CacheConfig:
    cache = CacheConfig(f.boolean("enabled", True), f.duration("ttl", 86400.0), f.integer("maxsize", 10_000))
    f.done()
    return cache


def _receiver(f: Fields) -> ReceiverConfig:
    from receiver.forwarders import KINDS  # the forwarders import this module: resolve at load time

    kind = KINDS[f.choice("type", "webhook", tuple(KINDS))]
    receiver = ReceiverConfig(
        name=f.string("name", required=True),
        type=kind.integration,
        url=f.url("url", required=kind.default_url is None) or (kind.default_url or ""),
        credentials=_credentials(f),
        headers=f.mapping("headers"),
        timeout=f.duration("timeout", 10.0),
        send_resolved=f.boolean("send_resolved", True),
        options=kind.options(f),
    )
    f.done()
    return receiver


def _route(f: Fields, receiver_names: list[str]) -> RouteConfig:
    matchers = []
    for i, text in enumerate(f.strings("matchers")):
        try:
            matchers.append(parse_matcher(text))
        except ValueError as exc:
            f.error(f"matchers[{i}]", str(exc))
    receivers = f.strings("receivers")
    if not receivers:
        f.error("receivers", "at least one receiver is required")
    for name in receivers:
        if name not in receiver_names:
            f.error("receivers", f"no receiver is named {name!r}")
    route = RouteConfig(tuple(matchers), receivers, f.boolean("continue", False))
    f.done()
    return route

