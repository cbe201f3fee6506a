"""Every provider against a fake server speaking its real wire protocol: one contract, parametrized.

Providers do one HTTP exchange per `complete`; the retry loop (`receiver.llm.http.call_with_retry`) runs
around it, here on a manual clock with recorded sleeps.
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml

from receiver.config import load, loads
from receiver.errors import BadReply, ConfigError, ProviderError, Reason
from receiver.llm import Provider, ProviderDeps, Request, kinds
from receiver.llm.http import Outcome, call_with_retry, outcome_of
from tests.fakes import ManualClock
from tests.llm_fakes import (
    CLASSIFICATION,
    INPUT_TOKENS,
    KEY,
    OUTPUT_TOKENS,
    AnthropicFake,
    AzureFake,
    FakeLLM,
    GeminiFake,
    OllamaFake,
    OpenAIFake,
    ProxyFake,
    Step,
    fail,
    garbage,
    ok,
    reset,
    slow,
)

ROOT = Path(__file__).resolve().parents[1]
REQUEST = Request(system="You classify alerts. Answer one JSON object.", user="<alerts>...</alerts>",
                  max_tokens=256)
RECEIVER = [{"name": "sink", "type": "webhook", "url": "http://127.0.0.1:9/hook"}]


@dataclass(frozen=True)
class Fault:
    name: str
    step: Step
    outcome: Outcome
    reason: Reason
    retry_after: float | None = None


COMMON_FAULTS = (
    Fault("429-retry-after", fail(429, headers={"Retry-After": "2"}), Outcome.TRANSIENT, Reason.RATE_LIMIT, 2.0),
    Fault("429-retry-after-ms", fail(429, headers={"retry-after-ms": "1500"}), Outcome.TRANSIENT, Reason.RATE_LIMIT,
          1.5),
    Fault("429-wait-too-long", fail(429, headers={"Retry-After": "3600"}), Outcome.PROLONGED, Reason.RATE_LIMIT,
          3600.0),
    Fault("408", fail(408), Outcome.TRANSIENT, Reason.TIMEOUT),
    Fault("500", fail(500), Outcome.TRANSIENT, Reason.SERVER_ERROR),
    Fault("503", fail(503, headers={"Retry-After": "1"}), Outcome.TRANSIENT, Reason.SERVER_ERROR, 1.0),
    Fault("400", fail(400), Outcome.PERMANENT, Reason.CLIENT_ERROR),
    Fault("401", fail(401), Outcome.PERMANENT, Reason.AUTH),
    Fault("403", fail(403), Outcome.PERMANENT, Reason.AUTH),
    Fault("404", fail(404, message='model "x" not found'), Outcome.PERMANENT, Reason.CLIENT_ERROR),
    Fault("422", fail(422), Outcome.PERMANENT, Reason.CLIENT_ERROR),
)
RETRY_INFO = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
PER_DAY = {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
           "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}
# llama-cpp-python 0.3.36's answer to a response_format it does not know:
LLAMA_CPP_REJECT = ("1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
                    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}")


@dataclass(frozen=True)
class Case:
    type: str
    fake: Callable[[], FakeLLM]
    options: dict[str, Any] = field(default_factory=dict)
    key_header: str = "Authorization"  # where the key travels ("Authorization" as a bearer token)
    finishes: tuple[str, ...] = ("stop", "length")
    faults: tuple[Fault, ...] = ()

    def key_value(self) -> str:
        return f"Bearer {KEY}" if self.key_header == "Authorization" else KEY


CASES = (
    Case("openai", OpenAIFake, finishes=("stop", "length", "safety", "refusal"), faults=(
        Fault("insufficient_quota", fail(429, "insufficient_quota", type="insufficient_quota"), Outcome.PROLONGED,
              Reason.RATE_LIMIT),
    )),
    Case("azure", AzureFake, {"deployment": "triage"}, "api-key", ("stop", "length", "safety"), faults=(
        Fault("azure-429", fail(429, "429", headers={"retry-after-ms": "6000", "Retry-After": "6"},
                                message="Requests to the ChatCompletions_Create Operation have exceeded token rate "
                                        "limit. Please retry after 6 seconds."),
              Outcome.TRANSIENT, Reason.RATE_LIMIT, 6.0),
    )),
    Case("anthropic", AnthropicFake, key_header="x-api-key", finishes=("stop", "length", "refusal"), faults=(
        Fault("529-overloaded", fail(529, "overloaded_error", message="Overloaded"), Outcome.TRANSIENT,
              Reason.SERVER_ERROR),
        Fault("spend-limit", fail(429, "rate_limit_error", details={"error_code": "enforced_spend_limit_reached"}),
              Outcome.PROLONGED, Reason.RATE_LIMIT),
    )),
    Case("gemini", GeminiFake, key_header="x-goog-api-key", finishes=("stop", "length", "safety", "blocked"), faults=(
        Fault("API_KEY_INVALID", fail(400, "API_KEY_INVALID", message="API key not valid. Please pass a valid key."),
              Outcome.PERMANENT, Reason.AUTH),
        Fault("retry-info", fail(429, details=[RETRY_INFO]), Outcome.TRANSIENT, Reason.RATE_LIMIT, 7.0),
        Fault("per-day-quota", fail(429, details=[PER_DAY]), Outcome.PROLONGED, Reason.RATE_LIMIT),
    )),
    Case("ollama", lambda: OllamaFake(key=KEY)),  # a key, as behind an authenticating reverse proxy
    Case("openai_compatible", lambda: OpenAIFake(strict=False), finishes=("stop", "length"), faults=(
        Fault("llama.cpp-500-validation", fail(500, message=LLAMA_CPP_REJECT, type="internal_server_error"),
              Outcome.PERMANENT, Reason.CLIENT_ERROR),
    )),
    Case("proxy", ProxyFake, {"result_key": "classification"}, finishes=("stop",)),
)
FAULTS = [pytest.param(c, f, id=f"{c.type}-{f.name}") for c in CASES for f in COMMON_FAULTS + c.faults]
FINISHES = [pytest.param(c, f, id=f"{c.type}-{f}") for c in CASES for f in c.finishes]


def config_text(case: Case, fake: FakeLLM, *, key: str | None = KEY, timeout: str = "5s", **options: Any) -> str:
    provider = {"name": "p", "type": case.type, "model": fake.model or None, "base_url": fake.base_url(),
                "timeout": timeout, **case.options, **options}
    if key is not None:
        provider["api_key"] = key
    return yaml.safe_dump({"llm": {"enabled": True, "providers": [{k: v for k, v in provider.items()
                                                                     if v is not None}]},
                           "receivers": RECEIVER})


def build(case: Case, fake: FakeLLM, session: aiohttp.ClientSession, **settings: Any) -> Provider:
    config = loads(config_text(case, fake, **settings), {})
    return kinds()[case.type](config.llm.providers[0], ProviderDeps(session))


async def started(fake: FakeLLM) -> FakeLLM:
    await fake.start()
    return fake


@pytest.fixture(params=CASES, ids=[c.type for c in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def fake(case: Case) -> AsyncIterator[FakeLLM]:
    server = await started(case.fake())
    yield server
    await server.close()


async def failing(provider: Provider) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await provider.complete(REQUEST)
    return caught.value


PLUGIN_KINDS = {"custom"}  # a user's own class, no wire protocol of its own: tested with its module


def wire_kinds() -> list[str]:
    return sorted(set(kinds()) - PLUGIN_KINDS)


def test_every_provider_type_has_a_contract_case() -> None:
    assert wire_kinds() == sorted(c.type for c in CASES)


async def test_success_gives_text_usage_and_the_reported_model(case: Case, fake: FakeLLM,
                                                               session: aiohttp.ClientSession) -> None:
    reply = await build(case, fake, session).complete(REQUEST)
    assert orjson.loads(reply.text) == orjson.loads(CLASSIFICATION)
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (INPUT_TOKENS, OUTPUT_TOKENS)
    assert (reply.model, reply.finish) == (fake.reported_model, "stop")
    assert len(fake.seen) == 1


@pytest.mark.parametrize(("case", "finish"), FINISHES)
async def test_finish_is_normalised(case: Case, finish: str, session: aiohttp.ClientSession) -> None:
    fake = await started(case.fake())
    try:
        fake.script(ok(finish=finish))
        reply = await build(case, fake, session).complete(REQUEST)
    finally:
        await fake.close()
    assert reply.finish == ("safety" if finish == "blocked" else finish)
    if finish in ("safety", "blocked", "refusal"):
        assert reply.text == ""


@pytest.mark.parametrize(("case", "fault"), FAULTS)
async def test_each_error_form_is_classified(case: Case, fault: Fault, session: aiohttp.ClientSession) -> None:
    fake = await started(case.fake())
    try:
        fake.script(fault.step)
        error = await failing(build(case, fake, session))
    finally:
        await fake.close()
    assert (outcome_of(error), error.reason, error.retry_after) == (fault.outcome, fault.reason, fault.retry_after)
    assert error.transient is (fault.outcome is Outcome.TRANSIENT)
    assert f"HTTP {fault.step.status}" in str(error)


async def test_slow_reply_past_the_timeout_is_a_transient_timeout(case: Case, fake: FakeLLM,
                                                                  session: aiohttp.ClientSession) -> None:
    fake.script(slow())
    error = await failing(build(case, fake, session, timeout="200ms"))
    assert (error.reason, error.transient) == (Reason.TIMEOUT, True)


async def test_connection_reset_is_a_transient_network_error(case: Case, fake: FakeLLM,
                                                             session: aiohttp.ClientSession) -> None:
    fake.script(reset())
    error = await failing(build(case, fake, session))
    assert (error.reason, error.transient) == (Reason.NETWORK_ERROR, True)


async def test_refused_connection_is_a_transient_network_error(case: Case, session: aiohttp.ClientSession) -> None:
    fake = await started(case.fake())
    provider = build(case, fake, session)
    await fake.close()
    error = await failing(provider)
    assert (error.reason, error.transient) == (Reason.NETWORK_ERROR, True)


async def test_success_status_with_a_body_that_is_not_json_is_a_bad_reply(case: Case, fake: FakeLLM,
                                                                         session: aiohttp.ClientSession) -> None:
    fake.script(garbage())
    with pytest.raises(BadReply):
        await build(case, fake, session).complete(REQUEST)


async def test_the_key_travels_in_its_header_and_never_in_the_url(case: Case, fake: FakeLLM,
                                                                  session: aiohttp.ClientSession) -> None:
    await build(case, fake, session).complete(REQUEST)
    (seen,) = fake.seen
    assert seen.headers[case.key_header] == case.key_value()
    assert KEY not in seen.url
    assert [name for name, value in seen.headers.items() if KEY in value] == [case.key_header]


async def test_a_wrong_key_is_a_permanent_auth_error(case: Case, fake: FakeLLM,
                                                     session: aiohttp.ClientSession) -> None:
    error = await failing(build(case, fake, session, key="sk-wrong-0000"))
    assert (error.reason, error.transient) == (Reason.AUTH, False)
    assert "sk-wrong-0000" not in str(error)


async def test_the_key_never_reaches_errors_or_logs_even_when_echoed(
        case: Case, fake: FakeLLM, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    provider = build(case, fake, session)
    texts = []
    for status in (400, 401, 429, 500):
        fake.script(fail(status, message=f"the key {KEY} is not welcome here", headers={"X-Echo": KEY}))
        error = await failing(provider)
        texts += [str(error), error.detail, repr(error.args)]
    assert all("[REDACTED]" in t for t in texts[::3])
    assert not [t for t in texts if KEY in t]
    assert KEY not in caplog.text
    assert not [s.url for s in fake.seen if KEY in s.url]


async def test_transient_faults_are_retried_until_success_on_the_injected_clock(
        case: Case, fake: FakeLLM, session: aiohttp.ClientSession, clock: ManualClock) -> None:
    fake.script(fail(429, headers={"Retry-After": "2"}), fail(503), ok())
    provider, sleeps = build(case, fake, session), []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)

    reply = await call_with_retry(lambda: provider.complete(REQUEST), max_retries=3, delay=1.0, backoff=2.0,
                                  deadline=clock() + 10, clock=clock, sleep=sleep, rand=lambda: 1.0)
    assert reply.finish == "stop"
    assert (len(fake.seen), sleeps) == (3, [2.0, 2.0])


async def test_retries_stop_at_the_deadline(case: Case, fake: FakeLLM, session: aiohttp.ClientSession,
                                            clock: ManualClock) -> None:
    fake.script(*[fail(503) for _ in range(6)])
    provider, sleeps = build(case, fake, session), []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)

    with pytest.raises(ProviderError):
        await call_with_retry(lambda: provider.complete(REQUEST), max_retries=5, delay=1.0, backoff=2.0,
                              deadline=clock() + 2.5, clock=clock, sleep=sleep, rand=lambda: 1.0)
    assert (len(fake.seen), sleeps) == (2, [1.0])


async def test_a_permanent_fault_is_tried_once(case: Case, fake: FakeLLM, session: aiohttp.ClientSession,
                                               clock: ManualClock) -> None:
    fake.script(fail(401))
    provider = build(case, fake, session)
    with pytest.raises(ProviderError):
        await call_with_retry(lambda: provider.complete(REQUEST), max_retries=5, deadline=clock() + 60,
                              clock=clock, sleep=lambda s: pytest.fail("slept"))
    assert len(fake.seen) == 1


# --- what each wire puts on the request ----------------------------------------------------------------


async def one_request(case: Case, fake: FakeLLM, session: aiohttp.ClientSession, **settings: Any) -> Any:
    try:
        await build(case, fake, session, **settings).complete(REQUEST)
    finally:
        await fake.close()
    (seen,) = fake.seen
    return seen


CASE = {c.type: c for c in CASES}


async def test_openai_sends_json_mode_its_token_field_and_org_headers(session: aiohttp.ClientSession) -> None:
    seen = await one_request(CASE["openai"], await started(OpenAIFake()), session, organization="org-1",
                             project="proj_2")
    assert seen.path == "/v1/chat/completions"
    assert seen.body["response_format"] == {"type": "json_object"}
    assert (seen.body["max_completion_tokens"], seen.body["temperature"]) == (256, 0.0)
    assert [m["role"] for m in seen.body["messages"]] == ["system", "user"]
    assert (seen.headers["OpenAI-Organization"], seen.headers["OpenAI-Project"]) == ("org-1", "proj_2")


async def test_openai_max_tokens_field_and_json_mode_are_options(session: aiohttp.ClientSession) -> None:
    seen = await one_request(CASE["openai"], await started(OpenAIFake()), session, max_tokens_field="max_tokens",
                             json_mode=False)
    assert seen.body["max_tokens"] == 256
    assert "response_format" not in seen.body
    assert "max_completion_tokens" not in seen.body


async def test_azure_uses_the_deployment_url_api_version_and_no_model(session: aiohttp.ClientSession) -> None:
    seen = await one_request(CASE["azure"], await started(AzureFake()), session, api_version="2024-06-01")
    assert seen.path == "/openai/deployments/triage/chat/completions"
    assert seen.query == {"api-version": "2024-06-01"}
    assert "model" not in seen.body
    assert seen.body["max_tokens"] == 256
    assert "Authorization" not in seen.headers


async def test_azure_content_filter_on_the_prompt_is_a_safety_finish(session: aiohttp.ClientSession) -> None:
    fake = await started(AzureFake())
    fake.script(fail(400, "content_filter", message="The response was filtered due to the prompt triggering "
                     "Azure OpenAI's content management policy.", param="prompt",
                     innererror={"code": "ResponsibleAIPolicyViolation"}))
    try:
        reply = await build(CASE["azure"], fake, session).complete(REQUEST)
    finally:
        await fake.close()
    assert (reply.text, reply.finish) == ("", "safety")


async def test_anthropic_sends_version_max_tokens_and_a_top_level_system(session: aiohttp.ClientSession) -> None:
    seen = await one_request(CASE["anthropic"], await started(AnthropicFake()), session)
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert (seen.body["max_tokens"], seen.body["system"]) == (256, REQUEST.system)
    assert seen.body["messages"] == [{"role": "user", "content": REQUEST.user}]


async def test_anthropic_version_is_an_option(session: aiohttp.ClientSession) -> None:
    seen = await one_request(CASE["anthropic"], await started(AnthropicFake()), session, version="2024-01-01")
    assert seen.headers["anthropic-version"] == "2024-01-01"


async def test_gemini_sends_system_instruction_and_json_generation_config(session: aiohttp.ClientSession) -> None:
    fake = GeminiFake(model="gemini-2.0-flash")
    seen = await one_request(CASE["gemini"], await started(fake), session)
    assert seen.path == "/v1beta/models/gemini-2.0-flash:generateContent"
    assert seen.query == {}
    assert seen.body["systemInstruction"] == {"parts": [{"text": REQUEST.system}]}
    assert seen.body["generationConfig"] == {"responseMimeType": "application/json", "maxOutputTokens": 256,
                                             "temperature": 0.0}


async def test_gemini_skips_thought_parts(session: aiohttp.ClientSession) -> None:
    fake = await started(GeminiFake())
    fake.script(Step("ok", extra={"thought": True}))
    try:
        reply = await build(CASE["gemini"], fake, session).complete(REQUEST)
    finally:
        await fake.close()
    assert orjson.loads(reply.text) == orjson.loads(CLASSIFICATION)


async def test_ollama_sends_no_auth_by_default_and_asks_for_one_json_answer(session: aiohttp.ClientSession) -> None:
    seen = await one_request(CASE["ollama"], await started(OllamaFake(key=None)), session, key=None, num_ctx=8192,
                             keep_alive="10m")
    assert "Authorization" not in seen.headers
    assert (seen.body["stream"], seen.body["format"], seen.body["keep_alive"]) == (False, "json", "10m")
    assert seen.body["options"] == {"temperature": 0.0, "num_predict": 256, "num_ctx": 8192}


async def test_openai_compatible_without_key_sends_no_auth_and_passes_extra_headers(
        session: aiohttp.ClientSession) -> None:
    fake = await started(OpenAIFake(key=None, strict=False))
    seen = await one_request(CASE["openai_compatible"], fake, session, key=None, json_mode=False,
                             headers={"HTTP-Referer": "https://amtriage.example", "X-Title": "amtriage"})
    assert "Authorization" not in seen.headers
    assert (seen.headers["HTTP-Referer"], seen.headers["X-Title"]) == ("https://amtriage.example", "amtriage")
    assert "response_format" not in seen.body
    assert seen.body["max_tokens"] == 256


async def test_proxy_posts_the_prompt_with_chained_auth(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    (tmp_path / "tenant").write_text("tenant-secret-42\n")
    auth = [{"type": "bearer"}, {"type": "api_key", "header": "X-Tenant-Key", "key_file": str(tmp_path / "tenant")}]
    seen = await one_request(CASE["proxy"], await started(ProxyFake()), session, auth=auth,
                             headers={"X-Team": "sre"})
    assert seen.headers["Authorization"] == f"Bearer {KEY}"
    assert (seen.headers["X-Tenant-Key"], seen.headers["X-Team"]) == ("tenant-secret-42", "sre")
    assert (seen.body["system"], seen.body["prompt"], seen.body["model"]) == (REQUEST.system, REQUEST.user, None)


async def test_proxy_basic_auth(session: aiohttp.ClientSession) -> None:
    fake = await started(ProxyFake(key=None))
    seen = await one_request(CASE["proxy"], fake, session, key=None,
                             auth={"type": "basic", "username": "amtriage", "password": "pw-77"})
    assert seen.headers["Authorization"] == "Basic " + base64.b64encode(b"amtriage:pw-77").decode()


async def test_proxy_without_the_result_key_is_a_bad_reply(session: aiohttp.ClientSession) -> None:
    fake = await started(ProxyFake())
    try:
        with pytest.raises(BadReply):
            await build(CASE["proxy"], fake, session, result_key="verdict").complete(REQUEST)
    finally:
        await fake.close()


# --- options: errors by field path ---------------------------------------------------------------------


def config_errors(provider: dict[str, Any]) -> list[str]:
    text = yaml.safe_dump({"llm": {"providers": [{"name": "p", "model": "m", **provider}]}, "receivers": RECEIVER})
    with pytest.raises(ConfigError) as caught:
        loads(text, {})
    return caught.value.errors


@pytest.mark.parametrize(("provider", "error"), [
    pytest.param({"type": "azure", "base_url": "https://r.openai.azure.com"},
                 "llm.providers[0].deployment: is required", id="azure-deployment"),
    pytest.param({"type": "azure", "deployment": "d"}, "llm.providers[0].base_url: is required", id="azure-base_url"),
    pytest.param({"type": "openai_compatible"}, "llm.providers[0].base_url: is required", id="compatible-base_url"),
    pytest.param({"type": "proxy"}, "llm.providers[0].base_url: is required", id="proxy-base_url"),
    pytest.param({"type": "openai", "max_tokens_field": "max_output"}, "llm.providers[0].max_tokens_field: must be "
                 "one of", id="openai-max_tokens_field"),
    pytest.param({"type": "gemini", "json_mode": "sometimes"}, "llm.providers[0].json_mode: must be true or false",
                 id="gemini-json_mode"),
    pytest.param({"type": "ollama", "num_ctx": -1}, "llm.providers[0].num_ctx: must be at least 0",
                 id="ollama-num_ctx"),
    pytest.param({"type": "anthropic", "versoin": "x"}, "llm.providers[0].versoin: unknown field", id="typo"),
    pytest.param({"type": "openai", "auth": {"type": "oauth"}}, "llm.providers[0].auth.type: must be one of",
                 id="auth-type"),
    pytest.param({"type": "openai", "auth": {"header": "x"}}, "llm.providers[0].auth.type: is required",
                 id="auth-type-missing"),
    pytest.param({"type": "proxy", "base_url": "http://h/c", "api_key": "k", "auth": [{"type": "api_key"}]},
                 "llm.providers[0].auth[0].header: is required", id="auth-api_key-header"),
    pytest.param({"type": "proxy", "base_url": "http://h/c", "api_key": "k",
                  "auth": [{"type": "api_key", "header": "Bad Header"}]},
                 "llm.providers[0].auth[0].header: must be an HTTP header name", id="auth-header-name"),
    pytest.param({"type": "proxy", "base_url": "http://h/c", "auth": {"type": "bearer"}},
                 "llm.providers[0].auth.type: auth type bearer needs the provider's api_key", id="auth-bearer-no-key"),
    pytest.param({"type": "proxy", "base_url": "http://h/c", "auth": {"type": "basic", "username": "u"}},
                 "llm.providers[0].auth.password: is required", id="auth-basic-password"),
    pytest.param({"type": "proxy", "base_url": "http://h/c", "auth": {"type": "basic", "username": "u",
                                                                      "password": "p", "realm": "x"}},
                 "llm.providers[0].auth.realm: unknown field", id="auth-unknown-field"),
])
def test_options_errors_name_the_field(provider: dict[str, Any], error: str) -> None:
    errors = config_errors(provider)
    assert any(e.startswith(error) for e in errors), errors


def test_auth_secrets_may_come_from_files(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("file-token\n")
    text = yaml.safe_dump({"llm": {"providers": [{"name": "p", "type": "proxy", "base_url": "http://h/c",
                                                  "auth": {"type": "bearer", "token_file": str(tmp_path / "token")}}]},
                           "receivers": RECEIVER})
    assert loads(text, {}).llm.providers[0].options.auth[0].token == "file-token"


# --- the shipped examples ------------------------------------------------------------------------------

EXAMPLES = sorted((ROOT / "config" / "examples").glob("*.yaml"))
ENV = {name: f"test-{name.lower()}" for name in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "ANTHROPIC_API_KEY",
                                                  "GEMINI_API_KEY", "OPENROUTER_API_KEY", "PROXY_TOKEN")}


def test_there_is_one_example_per_provider_type() -> None:
    assert sorted(p.stem for p in EXAMPLES) == wire_kinds()


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_config_loads_with_the_llm_enabled(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the examples name config/classifier.yaml relative to the repository
    config = load(path, ENV)
    assert config.llm.enabled is True
    assert config.llm.providers[0].type == path.stem
    assert config.llm.providers[0].api_key == (None if path.stem == "ollama" else ENV[next(
        name for name in ENV if f"${{{name}}}" in path.read_text())])


# --- optional: a real OpenAI-compatible server (../shared/notes/local-llm.md) ---------------------------

REAL_LLM = os.environ.get("AMTRIAGE_REAL_LLM_URL", "")  # e.g. http://127.0.0.1:18080/v1 (llama-cpp-python)


@pytest.mark.skipif(not REAL_LLM, reason="set AMTRIAGE_REAL_LLM_URL to a running OpenAI-compatible server")
async def test_openai_compatible_against_a_real_server(session: aiohttp.ClientSession) -> None:
    """Shape and provenance only (a tiny local model's answers are often wrong): usage, model, finish."""
    text = yaml.safe_dump({"llm": {"enabled": True, "providers": [{
        "name": "real", "type": "openai_compatible", "model": os.environ.get("AMTRIAGE_REAL_LLM_MODEL", "local"),
        "base_url": REAL_LLM, "timeout": "120s"}]}, "receivers": RECEIVER})
    config = loads(text, {})
    provider = kinds()["openai_compatible"](config.llm.providers[0], ProviderDeps(session))
    reply = await provider.complete(Request(system="Answer with one JSON object with a key severity.",
                                            user='Alert: disk 97% full on db-1. {"severity": ?}', max_tokens=48))
    assert reply.usage.input_tokens > 0
    assert reply.usage.output_tokens > 0
    assert reply.finish in ("stop", "length")
    assert reply.model
    truncated = await provider.complete(Request(system="Write a long story.", user="Once upon a time",
                                                max_tokens=4, temperature=0.7))
    assert truncated.finish == "length"
