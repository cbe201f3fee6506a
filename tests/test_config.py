"""Loading the configuration: DESIGN's shape, expansion, *_file secrets, env overrides, field-path errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from receiver.config import (
    BreakerConfig,
    BudgetConfig,
    CacheConfig,
    Config,
    Credentials,
    EnrichmentConfig,
    OutboxConfig,
    RateLimitConfig,
    ReceiverConfig,
    load,
    loads,
)
from receiver.configread import parse_duration, parse_size
from receiver.errors import ConfigError
from tests.conftest import ROOT

# DESIGN.md, "Configuration shape", copied verbatim.
DESIGN_YAML = """\
server:
  listen: 0.0.0.0:9095
  auth:                      # what Alertmanager's http_config sends; omit for no auth
    bearer_token_file: /etc/amtriage/token      # or bearer_token: ${AMTRIAGE_TOKEN}
    basic: {username: alertmanager, password_file: /etc/amtriage/password}
  max_body_bytes: 4MiB
outbox:
  backend: sqlite            # sqlite | redis
  path: ./data/outbox.db
  max_items: 100000          # 503 past this
enrichment:
  mode: enriched             # transparent | enriched | transparent_with_recommendations
  deadline: 10s
  annotation_prefix: ai_
classifier:
  rules_file: config/classifier.yaml
llm:
  enabled: false
  providers:                 # tried in priority order, then the rules
    - name: primary
      type: openai           # openai | azure | anthropic | gemini | ollama | openai_compatible | proxy
      model: gpt-4o-mini
      api_key: ${LLM_API_KEY}          # or api_key_file
      base_url: https://api.openai.com/v1   # optional override
      timeout: 30s
      max_retries: 3
      circuit_breaker: {max_failures: 5, failure_threshold: 0.5, time_window: 60s,
                        slow_call_duration: 3s, reset_timeout: 60s, half_open_max_calls: 1,
                        success_threshold: 2}
      rate_limit: {requests_per_minute: 600, burst: 20}
  budget: {daily_usd: 5, monthly_usd: 100}
cache: {enabled: true, ttl: 24h, maxsize: 10000}
redis_url: ""                # set to share outbox, cache, dedup, budget and mode
receivers:                   # Alertmanager's word; each is one integration (a forwarder)
  - name: team-webhook
    type: webhook            # webhook | alertmanager | slack | msteams | pagerduty | opsgenie | discord | telegram
    url: http://127.0.0.1:8080/hook
routes:                      # first match wins unless continue: true
  - matchers: ['ai_severity="critical"', 'namespace=~"prod-.*"']
    receivers: [team-webhook]
    continue: true
default_receiver: team-webhook
"""

RECEIVER = "receivers:\n  - {name: sink, type: webhook, url: 'http://127.0.0.1:9/hook'}\n"
SECRET_FILE = "{secret_file}"


@pytest.fixture
def at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative paths in the shipped configs (config/classifier.yaml) are relative to the repository."""
    monkeypatch.chdir(ROOT)


def _design(tmp_path: Path, *, drop: str = "") -> str:
    """DESIGN's block with its secret files made real under tmp_path (and lines containing `drop` removed)."""
    (tmp_path / "token").write_text("design-token\n")
    (tmp_path / "password").write_text("design-password\n")
    lines = DESIGN_YAML.replace("/etc/amtriage", str(tmp_path)).splitlines(keepends=True)
    return "".join(line for line in lines if not (drop and drop in line))


def _design_one_credential(tmp_path: Path) -> str:
    """DESIGN's block keeping only its basic auth (the loader takes one credential; see the verbatim test)."""
    return _design(tmp_path, drop="bearer_token_file")


def _at(config: Config, path: str) -> Any:
    """`llm.providers.0.timeout` -> config.llm.providers[0].timeout."""
    value: Any = config
    for part in path.split("."):
        value = value[int(part)] if part.isdigit() else getattr(value, part)
    return value


def _errors(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        loads(text, environ or {})
    return caught.value.errors


def _has_error(errors: list[str], prefix: str) -> bool:
    return any(e.startswith(prefix) for e in errors)


# --- the shipped file and DESIGN's shape ---------------------------------------------------------------


@pytest.mark.usefixtures("at_root")
def test_shipped_config_loads_with_an_empty_environment() -> None:
    config = load(ROOT / "config" / "amtriage.yaml", {})
    assert (config.server.host, config.server.port) == ("0.0.0.0", 9095)
    assert config.enrichment.mode == "enriched"
    assert config.receivers[0].url == "http://127.0.0.1:8080/hook"
    assert config.default_receiver == "team-webhook"
    assert config.classifier.rules_file == "config/classifier.yaml"
    assert config.delivery.max_age == 86400.0
    assert config.delivery.max_backoff == 300.0


def test_an_unreadable_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path / "missing.yaml", {})
    assert str(tmp_path / "missing.yaml") in caught.value.errors[0]


@pytest.mark.usefixtures("at_root")
def test_design_configuration_block_loads_verbatim(tmp_path: Path) -> None:
    """DESIGN's example (bearer_token_file and basic under server.auth) is a valid configuration."""
    config = loads(_design(tmp_path), {"LLM_API_KEY": "sk-test"})
    assert config.server.auth.bearer_token == "design-token"
    assert config.server.auth.password == "design-password"


@pytest.mark.usefixtures("at_root")
def test_design_configuration_block_gives_typed_values(tmp_path: Path) -> None:
    config = loads(_design_one_credential(tmp_path), {"LLM_API_KEY": "sk-test"})
    assert (config.server.host, config.server.port) == ("0.0.0.0", 9095)
    assert config.server.max_body_bytes == 4_194_304
    assert config.server.auth == Credentials(username="alertmanager", password="design-password")
    assert config.outbox == OutboxConfig(backend="sqlite", path="./data/outbox.db", max_items=100_000)
    assert config.enrichment == EnrichmentConfig(mode="enriched", deadline=10.0, annotation_prefix="ai_")
    assert config.classifier.rules_file == "config/classifier.yaml"
    assert config.llm.enabled is False
    assert config.llm.budget == BudgetConfig(daily_usd=5.0, monthly_usd=100.0)
    (provider,) = config.llm.providers
    assert (provider.name, provider.type, provider.model) == ("primary", "openai", "gpt-4o-mini")
    assert provider.api_key == "sk-test"
    assert provider.base_url == "https://api.openai.com/v1"
    assert (provider.timeout, provider.max_retries) == (30.0, 3)
    assert provider.circuit_breaker == BreakerConfig(
        enabled=True, max_failures=5, failure_threshold=0.5, time_window=60.0, slow_call_duration=3.0,
        reset_timeout=60.0, half_open_max_calls=1, success_threshold=2,
    )
    assert provider.rate_limit == RateLimitConfig(requests_per_minute=600.0, burst=20)
    assert config.cache == CacheConfig(enabled=True, ttl=86400.0, maxsize=10_000)
    assert config.redis_url == ""
    assert config.receivers == (ReceiverConfig("team-webhook", "webhook", "http://127.0.0.1:8080/hook"),)
    (route,) = config.routes
    assert [str(m) for m in route.matchers] == ['ai_severity="critical"', 'namespace=~"prod-.*"']
    assert [(m.name, m.op, m.value) for m in route.matchers] == [
        ("ai_severity", "=", "critical"), ("namespace", "=~", "prod-.*")
    ]
    assert route.matchers[1].matches({"namespace": "prod-eu"})
    assert not route.matchers[1].matches({"namespace": "preprod-eu"})
    assert route.receivers == ("team-webhook",)
    assert route.continue_ is True
    assert config.default_receiver == "team-webhook"


@pytest.mark.parametrize(
    ("listen", "host", "port"),
    [
        ("0.0.0.0:9095", "0.0.0.0", 9095),
        ("127.0.0.1:8080", "127.0.0.1", 8080),
        ("[::1]:9096", "::1", 9096),
        (":9097", "0.0.0.0", 9097),
    ],
)
def test_listen_gives_host_and_port(listen: str, host: str, port: int) -> None:
    config = loads(f"server: {{listen: '{listen}'}}\n{RECEIVER}", {})
    assert (config.server.host, config.server.port) == (host, port)


@pytest.mark.parametrize("listen", ["localhost", "host:0", "host:70000", "host:http", "host:"])
def test_bad_listen_names_server_listen(listen: str) -> None:
    assert _has_error(_errors(f"server: {{listen: '{listen}'}}\n{RECEIVER}"), "server.listen: ")


# --- ${VAR} expansion -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        pytest.param("${R}", {"R": "redis://set"}, "redis://set", id="var-set"),
        pytest.param("${R}", {}, "", id="var-unset-is-empty"),
        pytest.param("${R:-redis://fallback}", {}, "redis://fallback", id="default-when-unset"),
        pytest.param("${R:-redis://fallback}", {"R": "redis://set"}, "redis://set", id="default-ignored-when-set"),
        pytest.param("${R:-redis://fallback}", {"R": ""}, "redis://fallback", id="default-when-empty"),
        pytest.param("redis://${HOST}:${PORT:-6379}/0", {"HOST": "h"}, "redis://h:6379/0", id="several"),
        pytest.param("$$", {}, "$", id="double-dollar"),
        pytest.param("pa$$word", {}, "pa$word", id="double-dollar-inside"),
        pytest.param("$${R}", {"R": "x"}, "${R}", id="escaped-var-is-literal"),
        pytest.param("${R}", {"R": "${S}", "S": "no"}, "${S}", id="values-not-expanded-again"),
        pytest.param("$R and $", {"R": "x"}, "$R and $", id="bare-dollar-untouched"),
    ],
)
def test_variables_are_expanded(text: str, environ: dict[str, str], expected: str) -> None:
    assert loads(f"redis_url: '{text}'\n{RECEIVER}", environ).redis_url == expected


def test_expansion_reaches_lists_and_nested_mappings() -> None:
    text = (
        "receivers:\n  - name: sink\n    type: webhook\n    url: ${HOOK:-http://127.0.0.1:9/default}\n"
        "    headers: {X-Team: '${TEAM}'}\n"
        "routes:\n  - matchers: ['team=\"${TEAM}\"']\n    receivers: [sink]\n"
    )
    config = loads(text, {"TEAM": "storage"})
    assert config.receivers[0].url == "http://127.0.0.1:9/default"
    assert config.receivers[0].headers == {"X-Team": "storage"}
    assert str(config.routes[0].matchers[0]) == 'team="storage"'


# --- *_file secrets ---------------------------------------------------------------------------------------

RECEIVER_WITH = "receivers:\n  - name: sink\n    type: webhook\n    url: http://127.0.0.1:9/hook\n"

SECRET_FILES = [
    pytest.param(
        f"server:\n  auth:\n    bearer_token_file: {SECRET_FILE}\n{RECEIVER}",
        "server.auth.bearer_token", "server.auth.bearer_token_file", id="server-bearer_token_file",
    ),
    pytest.param(
        f"server:\n  auth:\n    basic: {{username: am, password_file: '{SECRET_FILE}'}}\n{RECEIVER}",
        "server.auth.password", "server.auth.basic.password_file", id="server-basic-password_file",
    ),
    pytest.param(
        f"{RECEIVER_WITH}    bearer_token_file: {SECRET_FILE}\n",
        "receivers.0.credentials.bearer_token", "receivers[0].bearer_token_file", id="receiver-bearer_token_file",
    ),
    pytest.param(
        f"{RECEIVER_WITH}    basic: {{username: am, password_file: '{SECRET_FILE}'}}\n",
        "receivers.0.credentials.password", "receivers[0].basic.password_file", id="receiver-basic-password_file",
    ),
    pytest.param(
        f"llm:\n  providers:\n    - {{name: p, type: openai, model: m, api_key_file: '{SECRET_FILE}'}}\n{RECEIVER}",
        "llm.providers.0.api_key", "llm.providers[0].api_key_file", id="provider-api_key_file",
    ),
    pytest.param(
        f"receivers:\n  - name: sink\n    type: webhook\n    url_file: {SECRET_FILE}\n",
        "receivers.0.url", "receivers[0].url_file", id="receiver-url_file",
    ),
]


@pytest.mark.parametrize(("text", "value_path", "file_field"), SECRET_FILES)
def test_secret_file_is_read_and_stripped(tmp_path: Path, text: str, value_path: str, file_field: str) -> None:
    secret = "http://secret.example.invalid/s3cr3t" if file_field.endswith("url_file") else "s3cr3t-value"
    path = tmp_path / "secret"
    path.write_text(f"  {secret}\n\n")
    assert _at(loads(text.replace(SECRET_FILE, str(path)), {}), value_path) == secret


@pytest.mark.parametrize(("text", "value_path", "file_field"), SECRET_FILES)
def test_unreadable_secret_file_names_the_file_field(
    tmp_path: Path, text: str, value_path: str, file_field: str
) -> None:
    errors = _errors(text.replace(SECRET_FILE, str(tmp_path / "no-such-secret")))
    assert _has_error(errors, f"{file_field}: cannot read")


@pytest.mark.parametrize(
    ("text", "field"),
    [
        pytest.param(
            f"server:\n  auth:\n    bearer_token: inline\n    bearer_token_file: {SECRET_FILE}\n{RECEIVER}",
            "server.auth.bearer_token", id="bearer_token",
        ),
        pytest.param(
            "server:\n  auth:\n    basic: {username: am, password: inline, "
            f"password_file: '{SECRET_FILE}'}}\n{RECEIVER}",
            "server.auth.basic.password", id="basic-password",
        ),
        pytest.param(
            "llm:\n  providers:\n    - {name: p, type: openai, model: m, api_key: inline, "
            f"api_key_file: '{SECRET_FILE}'}}\n{RECEIVER}",
            "llm.providers[0].api_key", id="api_key",
        ),
        pytest.param(f"{RECEIVER_WITH}    url_file: {SECRET_FILE}\n", "receivers[0].url", id="url"),
    ],
)
def test_secret_both_inline_and_file_is_an_error(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "secret"
    path.write_text("http://127.0.0.1:9/from-file\n")
    assert _has_error(_errors(text.replace(SECRET_FILE, str(path))), f"{field}: set either")


# --- environment overrides ---------------------------------------------------------------------------------

OVERRIDES = [
    ("LLM_ENABLED", "true", "llm.enabled", True),
    ("LLM_PROVIDER", "anthropic", "llm.providers.0.type", "anthropic"),
    ("LLM_API_KEY", "sk-env", "llm.providers.0.api_key", "sk-env"),
    ("LLM_MODEL", "gpt-4o", "llm.providers.0.model", "gpt-4o"),
    ("LLM_BASE_URL", "https://llm.example.invalid/v1", "llm.providers.0.base_url", "https://llm.example.invalid/v1"),
    ("LLM_TIMEOUT", "45s", "llm.providers.0.timeout", 45.0),
    ("LLM_MAX_RETRIES", "7", "llm.providers.0.max_retries", 7),
    ("LLM_RETRY_DELAY", "2s", "llm.providers.0.retry_delay", 2.0),
    ("LLM_RETRY_BACKOFF", "3", "llm.providers.0.retry_backoff", 3.0),
    ("LLM_CIRCUIT_BREAKER_ENABLED", "false", "llm.providers.0.circuit_breaker.enabled", False),
    ("LLM_CIRCUIT_BREAKER_MAX_FAILURES", "9", "llm.providers.0.circuit_breaker.max_failures", 9),
    ("LLM_CIRCUIT_BREAKER_RESET_TIMEOUT", "2m", "llm.providers.0.circuit_breaker.reset_timeout", 120.0),
    ("LLM_CIRCUIT_BREAKER_FAILURE_THRESHOLD", "0.25", "llm.providers.0.circuit_breaker.failure_threshold", 0.25),
    ("LLM_CIRCUIT_BREAKER_TIME_WINDOW", "5m", "llm.providers.0.circuit_breaker.time_window", 300.0),
    ("LLM_CIRCUIT_BREAKER_SLOW_CALL_DURATION", "500ms", "llm.providers.0.circuit_breaker.slow_call_duration", 0.5),
    ("LLM_CIRCUIT_BREAKER_HALF_OPEN_MAX_CALLS", "4", "llm.providers.0.circuit_breaker.half_open_max_calls", 4),
    ("LLM_CIRCUIT_BREAKER_SUCCESS_THRESHOLD", "3", "llm.providers.0.circuit_breaker.success_threshold", 3),
    ("LLM_DAILY_BUDGET", "12.5", "llm.budget.daily_usd", 12.5),
    ("LLM_MONTHLY_BUDGET", "250", "llm.budget.monthly_usd", 250.0),
    ("ENRICHMENT_MODE", "transparent_with_recommendations", "enrichment.mode", "transparent_with_recommendations"),
    ("REDIS_URL", "redis://127.0.0.1:6379/0", "redis_url", "redis://127.0.0.1:6379/0"),
]


@pytest.mark.usefixtures("at_root")
@pytest.mark.parametrize(("name", "value", "path", "expected"), OVERRIDES, ids=[o[0] for o in OVERRIDES])
def test_env_override_changes_its_field(tmp_path: Path, name: str, value: str, path: str, expected: Any) -> None:
    """Each variable overrides DESIGN's file value (which differs from the one the variable sets)."""
    text = _design_one_credential(tmp_path)
    environ = {name: value}
    if name == "LLM_ENABLED":  # an enabled hosted provider needs its key (a missing one is a config error)
        environ["LLM_API_KEY"] = "sk-env"
    assert _at(loads(text, {}), path) != expected
    assert _at(loads(text, environ), path) == expected


@pytest.mark.usefixtures("at_root")
def test_enabling_a_hosted_llm_without_a_key_is_an_error(tmp_path: Path) -> None:
    errors = _errors(_design_one_credential(tmp_path), {"LLM_ENABLED": "true"})
    assert _has_error(errors, "llm.providers[0].api_key: is required when llm.enabled is true")


def test_env_beats_the_file() -> None:
    text = (
        "enrichment: {mode: transparent}\nredis_url: redis://file:6379/0\n"
        "llm:\n  providers:\n    - {name: p, type: openai, model: file-model, timeout: 10s}\n"
        f"{RECEIVER}"
    )
    environ = {"ENRICHMENT_MODE": "enriched", "REDIS_URL": "redis://env:6379/0",
               "LLM_MODEL": "env-model", "LLM_TIMEOUT": "20s"}
    config = loads(text, environ)
    assert config.enrichment.mode == "enriched"
    assert config.redis_url == "redis://env:6379/0"
    assert (config.llm.providers[0].model, config.llm.providers[0].timeout) == ("env-model", 20.0)


def test_llm_env_without_providers_creates_primary() -> None:
    config = loads(RECEIVER, {"LLM_ENABLED": "true", "LLM_PROVIDER": "ollama", "LLM_MODEL": "llama3"})
    (provider,) = config.llm.providers
    assert (provider.name, provider.type, provider.model) == ("primary", "ollama", "llama3")
    assert config.llm.enabled is True


def test_provider_env_sets_the_first_provider_and_breaker_env_sets_every_one() -> None:
    text = (
        "llm:\n  providers:\n    - {name: a, type: openai, model: m1}\n"
        "    - {name: b, type: anthropic, model: m2, circuit_breaker: {max_failures: 2}}\n"
        f"{RECEIVER}"
    )
    config = loads(text, {"LLM_MODEL": "env-model", "LLM_CIRCUIT_BREAKER_RESET_TIMEOUT": "90s"})
    first, second = config.llm.providers
    assert (first.model, second.model) == ("env-model", "m2")
    assert first.circuit_breaker.reset_timeout == second.circuit_breaker.reset_timeout == 90.0
    assert second.circuit_breaker.max_failures == 2


BAD_ENV = [
    ("LLM_ENABLED", "maybe", "llm.enabled"),
    ("LLM_PROVIDER", "skynet", "llm.providers[0].type"),
    ("LLM_BASE_URL", "ftp://llm.example.invalid", "llm.providers[0].base_url"),
    ("LLM_TIMEOUT", "soon", "llm.providers[0].timeout"),
    ("LLM_MAX_RETRIES", "many", "llm.providers[0].max_retries"),
    ("LLM_RETRY_DELAY", "later", "llm.providers[0].retry_delay"),
    ("LLM_RETRY_BACKOFF", "0.5", "llm.providers[0].retry_backoff"),
    ("LLM_CIRCUIT_BREAKER_ENABLED", "perhaps", "llm.providers[0].circuit_breaker.enabled"),
    ("LLM_CIRCUIT_BREAKER_MAX_FAILURES", "0", "llm.providers[0].circuit_breaker.max_failures"),
    ("LLM_CIRCUIT_BREAKER_FAILURE_THRESHOLD", "1.5", "llm.providers[0].circuit_breaker.failure_threshold"),
    ("LLM_CIRCUIT_BREAKER_TIME_WINDOW", "1 minute", "llm.providers[0].circuit_breaker.time_window"),
    ("LLM_CIRCUIT_BREAKER_HALF_OPEN_MAX_CALLS", "x", "llm.providers[0].circuit_breaker.half_open_max_calls"),
    ("LLM_DAILY_BUDGET", "lots", "llm.budget.daily_usd"),
    ("LLM_MONTHLY_BUDGET", "-1", "llm.budget.monthly_usd"),
    ("ENRICHMENT_MODE", "loud", "enrichment.mode"),
]


@pytest.mark.parametrize(("name", "value", "field"), BAD_ENV, ids=[b[0] for b in BAD_ENV])
def test_bad_env_value_names_the_field_path(name: str, value: str, field: str) -> None:
    text = f"llm:\n  providers:\n    - {{name: p, type: openai, model: m}}\n{RECEIVER}"
    assert _has_error(_errors(text, {name: value}), f"{field}: ")


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("LLM_TIMEOUT", "llm.providers.0.timeout"),
        ("LLM_CIRCUIT_BREAKER_RESET_TIMEOUT", "llm.providers.0.circuit_breaker.reset_timeout"),
    ],
    ids=["LLM_TIMEOUT", "LLM_CIRCUIT_BREAKER_RESET_TIMEOUT"],
)
def test_bare_number_of_seconds_from_the_environment_is_a_duration(name: str, path: str) -> None:
    """LLM_TIMEOUT=45 means 45 seconds, as in the single-provider LLM clients these variables come from."""
    text = f"llm:\n  providers:\n    - {{name: p, type: openai, model: m}}\n{RECEIVER}"
    assert _at(loads(text, {name: "45"}), path) == 45.0


# --- every mistake at once ----------------------------------------------------------------------------------

MISTAKES = """\
server:
  listen: nowhere
  max_body_bytes: huge
outbox:
  max_items: 0
enrichment:
  mode: loud
  modee: enriched
  deadline: soon
llm:
  providers:
    - name: p
      type: openai
      model: m
      circuit_breaker: {failure_threshold: 1.5}
cache: {ttl: forever}
receivers:
  - name: a
    type: webhook
    url: ftp://example.invalid/hook
routes:
  - matchers: ['severity=="critical"']
    receivers: [nobody]
default_receiver: ghost
"""


def test_every_mistake_is_reported_at_once() -> None:
    errors = _errors(MISTAKES)
    expected = [
        "server.listen: ",
        "server.max_body_bytes: ",
        "outbox.max_items: ",
        "enrichment.mode: ",
        "enrichment.modee: unknown field",
        "enrichment.deadline: ",
        "llm.providers[0].circuit_breaker.failure_threshold: ",
        "cache.ttl: ",
        "receivers[0].url: must be an http(s) URL",
        "routes[0].matchers[0]: ",
        "routes[0].receivers: no receiver is named 'nobody'",
        "default_receiver: ",
    ]
    missing = [prefix for prefix in expected if not _has_error(errors, prefix)]
    assert missing == [], errors


def test_duplicate_receiver_names_are_an_error() -> None:
    text = (
        "receivers:\n  - {name: a, type: webhook, url: 'http://127.0.0.1:9/1'}\n"
        "  - {name: a, type: webhook, url: 'http://127.0.0.1:9/2'}\n"
    )
    assert _has_error(_errors(text), "receivers: receiver name 'a' is used more than once")


def test_no_receivers_is_an_error() -> None:
    assert _has_error(_errors("enrichment: {mode: enriched}\n"), "receivers: ")


# --- durations and sizes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("10s", 10.0), ("5m", 300.0), ("24h", 86400.0), ("1h30m", 5400.0), ("500ms", 0.5), ("1.5h", 5400.0),
        ("2d", 172800.0), ("1w", 604800.0), (" 10s ", 10.0), ("0s", 0.0), (10, 10.0), (2.5, 2.5), (0, 0.0),
    ],
)
def test_parse_duration(value: Any, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "soon", "10x", "-5s", "10 s", "s", "1h 30m", "5mss", -1, -0.5, True])
def test_parse_duration_rejects(value: Any) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is the value; the type is the contract
        parse_duration(value)


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("4MiB", 4_194_304), ("512KiB", 524_288), ("2GiB", 2 * 2**30), ("1MB", 1_000_000), ("1KB", 1000),
        ("1GB", 10**9), ("10B", 10), ("100", 100), (100, 100), ("1.5KiB", 1536), ("4 MiB", 4_194_304),
    ],
)
def test_parse_size(value: Any, size: int) -> None:
    assert parse_size(value) == size


@pytest.mark.parametrize("value", ["", "4mib", "4TiB", "-1", "lots", "4MiBs", "MiB", "1e3", True])
def test_parse_size_rejects(value: Any) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is the value; the type is the contract
        parse_size(value)
