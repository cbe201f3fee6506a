"""receiver.llm.http: the outcome classifier table and the retry loop, on a manual clock with recorded sleeps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import aiohttp
import orjson
import pytest

from receiver.errors import BadReply, ProviderError, Reason
from receiver.llm.http import (
    RETRY_AFTER_CAP,
    Answer,
    Outcome,
    accept,
    call_with_retry,
    classify,
    error_body,
    exponential,
    outcome_of,
    retry_after,
    wait_before_retry,
)
from tests.fakes import ManualClock

NOW = 1_800_000_000.0


def answer(status: int, body: Any = None, **headers: str) -> Answer:
    raw = body if isinstance(body, bytes) else orjson.dumps(body) if body is not None else b""
    return Answer(status, {k.replace("_", "-"): v for k, v in headers.items()}, raw)


OPENAI_QUOTA = {"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
                          "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}}
OPENAI_SPEND = {"error": {"message": "quota", "type": "insufficient_quota", "code": "project_spend_limit_exceeded"}}
OPENAI_RATE = {"error": {"message": "Rate limit reached for gpt-4o-mini", "type": "requests",
                         "param": None, "code": "rate_limit_exceeded"}}
ANTHROPIC_OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
ANTHROPIC_SPEND = {"type": "error", "error": {"type": "rate_limit_error", "message": "spend cap",
                                              "details": {"error_code": "enforced_spend_limit_reached"}}}
GEMINI_BAD_KEY = {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                            "status": "INVALID_ARGUMENT",
                            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                         "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}}
GEMINI_RETRY = {"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED",
                          "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                       "retryDelay": "7.250s"}]}}
GEMINI_PER_DAY = {"error": {"code": 429, "message": "You exceeded your current quota", "status": "RESOURCE_EXHAUSTED",
                            "details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                                {"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]}}
OLLAMA_MISSING = {"error": 'model "x" not found, try pulling it first'}

TABLE = [
    pytest.param(answer(200, {}), Outcome.SUCCESS, None, None, id="200"),
    pytest.param(answer(429, OPENAI_RATE, Retry_After="2"), Outcome.TRANSIENT, Reason.RATE_LIMIT, 2.0, id="429"),
    pytest.param(answer(429, OPENAI_RATE, retry_after_ms="1500", Retry_After="2"), Outcome.TRANSIENT,
                 Reason.RATE_LIMIT, 1.5, id="429-retry-after-ms-wins"),
    pytest.param(answer(429, OPENAI_RATE, Retry_After="600"), Outcome.PROLONGED, Reason.RATE_LIMIT, 600.0,
                 id="429-long-retry-after"),
    pytest.param(answer(429, OPENAI_QUOTA), Outcome.PROLONGED, Reason.RATE_LIMIT, None, id="openai-insufficient_quota"),
    pytest.param(answer(429, OPENAI_SPEND), Outcome.PROLONGED, Reason.RATE_LIMIT, None, id="openai-spend-limit"),
    pytest.param(answer(429, ANTHROPIC_SPEND), Outcome.PROLONGED, Reason.RATE_LIMIT, None, id="anthropic-spend"),
    pytest.param(answer(429, GEMINI_RETRY), Outcome.TRANSIENT, Reason.RATE_LIMIT, 7.25, id="gemini-retry-delay"),
    pytest.param(answer(429, GEMINI_PER_DAY), Outcome.PROLONGED, Reason.RATE_LIMIT, None, id="gemini-per-day"),
    pytest.param(answer(408), Outcome.TRANSIENT, Reason.TIMEOUT, None, id="408"),
    pytest.param(answer(409), Outcome.TRANSIENT, Reason.SERVER_ERROR, None, id="409"),
    pytest.param(answer(500, b"<html>oops</html>"), Outcome.TRANSIENT, Reason.SERVER_ERROR, None, id="500-html"),
    pytest.param(answer(502), Outcome.TRANSIENT, Reason.SERVER_ERROR, None, id="502"),
    pytest.param(answer(503, Retry_After="3"), Outcome.TRANSIENT, Reason.SERVER_ERROR, 3.0, id="503"),
    pytest.param(answer(503, Retry_After="7200"), Outcome.PROLONGED, Reason.SERVER_ERROR, 7200.0, id="503-outage"),
    pytest.param(answer(529, ANTHROPIC_OVERLOADED), Outcome.TRANSIENT, Reason.SERVER_ERROR, None, id="529"),
    pytest.param(answer(400, {"error": {"message": "bad", "type": "invalid_request_error"}}), Outcome.PERMANENT,
                 Reason.CLIENT_ERROR, None, id="400"),
    pytest.param(answer(400, GEMINI_BAD_KEY), Outcome.PERMANENT, Reason.AUTH, None, id="gemini-API_KEY_INVALID"),
    pytest.param(answer(401, Retry_After="5"), Outcome.PERMANENT, Reason.AUTH, None, id="401"),
    pytest.param(answer(403), Outcome.PERMANENT, Reason.AUTH, None, id="403"),
    pytest.param(answer(404, OLLAMA_MISSING), Outcome.PERMANENT, Reason.CLIENT_ERROR, None, id="404"),
    pytest.param(answer(413), Outcome.PERMANENT, Reason.CLIENT_ERROR, None, id="413"),
    pytest.param(answer(422), Outcome.PERMANENT, Reason.CLIENT_ERROR, None, id="422"),
    pytest.param(answer(302, Location="https://elsewhere.example"), Outcome.PERMANENT, Reason.CLIENT_ERROR, None,
                 id="redirect"),
]


@pytest.mark.parametrize(("given", "outcome", "reason", "wait"), TABLE)
def test_classify_table(given: Answer, outcome: Outcome, reason: Reason | None, wait: float | None) -> None:
    verdict = classify(given, now=lambda: NOW)
    assert (verdict.outcome, verdict.reason, verdict.retry_after) == (outcome, reason, wait)


@pytest.mark.parametrize(("exc", "outcome", "reason"), [
    pytest.param(TimeoutError(), Outcome.TRANSIENT, Reason.TIMEOUT, id="timeout"),
    pytest.param(TimeoutError(), Outcome.TRANSIENT, Reason.TIMEOUT, id="asyncio-timeout"),
    pytest.param(aiohttp.ServerTimeoutError(), Outcome.TRANSIENT, Reason.TIMEOUT, id="aiohttp-read-timeout"),
    pytest.param(aiohttp.ServerDisconnectedError(), Outcome.TRANSIENT, Reason.NETWORK_ERROR, id="disconnected"),
    pytest.param(ConnectionResetError(), Outcome.TRANSIENT, Reason.NETWORK_ERROR, id="reset"),
    pytest.param(aiohttp.ClientPayloadError(), Outcome.TRANSIENT, Reason.NETWORK_ERROR, id="payload-cut"),
    pytest.param(aiohttp.InvalidURL("nope"), Outcome.PERMANENT, Reason.CLIENT_ERROR, id="invalid-url"),
    pytest.param(ValueError("bug"), Outcome.PERMANENT, Reason.OTHER, id="not-a-transport-error"),
])
def test_classify_transport_failures(exc: BaseException, outcome: Outcome, reason: Reason) -> None:
    verdict = classify(exc)
    assert (verdict.outcome, verdict.reason) == (outcome, reason)


def test_error_detail_names_status_and_provider_code_and_is_scrubbed() -> None:
    body = {"error": {"message": "Incorrect API key provided: sk-secret-123", "type": "invalid_request_error",
                      "code": "invalid_api_key"}}
    error = classify(answer(401, body)).error(lambda text: text.replace("sk-secret-123", "[REDACTED]"))
    assert str(error) == ("auth: HTTP 401 invalid_api_key/invalid_request_error: "
                          "Incorrect API key provided: [REDACTED]")
    assert error.transient is False


@pytest.mark.parametrize(("headers", "expected"), [
    pytest.param({"Retry-After": "12"}, 12.0, id="seconds"),
    pytest.param({"retry-after": "0.5"}, 0.5, id="fraction-lowercase"),
    pytest.param({"Retry-After": format_datetime(datetime.fromtimestamp(NOW + 90, UTC), usegmt=True)}, 90.0,
                 id="http-date"),
    pytest.param({"Retry-After": format_datetime(datetime.fromtimestamp(NOW - 90, UTC), usegmt=True)}, 0.0,
                 id="http-date-past"),
    pytest.param({"retry-after-ms": "250"}, 0.25, id="ms"),
    pytest.param({"retry-after-ms": "soon", "Retry-After": "3"}, 3.0, id="bad-ms-falls-back"),
    pytest.param({"Retry-After": "-5"}, 0.0, id="negative"),
    pytest.param({"Retry-After": "whenever"}, None, id="garbage"),
    pytest.param({}, None, id="absent"),
])
def test_retry_after_forms(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(headers, lambda: NOW) == expected


def test_error_body_reads_every_provider_shape() -> None:
    assert error_body(GEMINI_BAD_KEY).markers == {"INVALID_ARGUMENT", "API_KEY_INVALID"}
    assert error_body([GEMINI_BAD_KEY]).markers == {"INVALID_ARGUMENT", "API_KEY_INVALID"}  # Gemini's list form
    assert error_body(ANTHROPIC_SPEND).markers == {"rate_limit_error", "enforced_spend_limit_reached"}
    assert error_body(OLLAMA_MISSING).message.startswith('model "x" not found')
    assert error_body({"message": "plain"}).message == "plain"
    assert error_body(None).markers == frozenset()


def test_accept_returns_json_and_rejects_a_success_that_is_not_json() -> None:
    assert accept(answer(200, {"ok": True})) == {"ok": True}
    with pytest.raises(BadReply):
        accept(answer(200, b"<html>proxy login</html>"))
    with pytest.raises(ProviderError) as caught:
        accept(answer(503, Retry_After="1"))
    assert (caught.value.transient, caught.value.retry_after) == (True, 1.0)


# --- backoff strategy ------------------------------------------------------------------------------------


def test_backoff_grows_exponentially_within_its_jitter_band() -> None:
    low, high = exponential(1.0, 2.0, lambda: 0.0), exponential(1.0, 2.0, lambda: 1.0)
    assert [low(a) for a in range(4)] == [0.5, 1.0, 2.0, 4.0]
    assert [high(a) for a in range(4)] == [1.0, 2.0, 4.0, 8.0]
    middle = exponential(1.0, 2.0, lambda: 0.5)
    assert all(low(a) < middle(a) < high(a) for a in range(4))


def test_backoff_is_capped() -> None:
    assert exponential(1.0, 10.0, lambda: 1.0, ceiling=30.0)(5) == 30.0


def transient(retry_after: float | None = None) -> ProviderError:
    return ProviderError(Reason.SERVER_ERROR, "HTTP 503", transient=True, retry_after=retry_after)


def permanent() -> ProviderError:
    return ProviderError(Reason.AUTH, "HTTP 401", transient=False)


@pytest.mark.parametrize(("error", "attempt", "expected"), [
    pytest.param(transient(), 0, 1.0, id="backoff"),
    pytest.param(transient(2.5), 0, 2.5, id="retry-after-replaces-backoff"),
    pytest.param(transient(0.0), 1, 2.0, id="zero-retry-after-ignored"),
    pytest.param(transient(RETRY_AFTER_CAP), 0, RETRY_AFTER_CAP, id="retry-after-at-cap"),
    pytest.param(transient(RETRY_AFTER_CAP + 1), 0, None, id="retry-after-over-cap"),
    pytest.param(transient(), 3, None, id="retries-spent"),
    pytest.param(permanent(), 0, None, id="permanent"),
])
def test_wait_before_retry(error: ProviderError, attempt: int, expected: float | None) -> None:
    assert wait_before_retry(error, attempt, max_retries=3, backoff=lambda a: 2.0**a) == expected


def test_outcome_of_a_raised_error() -> None:
    assert outcome_of(transient()) is Outcome.TRANSIENT
    assert outcome_of(permanent()) is Outcome.PERMANENT
    assert outcome_of(classify(answer(429, OPENAI_QUOTA)).error()) is Outcome.PROLONGED
    assert outcome_of(classify(answer(503, Retry_After="7200")).error()) is Outcome.PROLONGED


# --- the retry loop --------------------------------------------------------------------------------------


class Script:
    """`send` for call_with_retry: raises the scripted errors in turn, then returns "done"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


@pytest.fixture
def sleeps() -> list[float]:
    return []


def sleeper(clock: ManualClock, sleeps: list[float]) -> Callable[[float], Any]:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)

    return sleep


async def run(send: Script, clock: ManualClock, sleeps: list[float], *, max_retries: int = 3,
              deadline: float = 1000.0) -> str:
    return await call_with_retry(send, max_retries=max_retries, delay=1.0, backoff=2.0,
                                 deadline=clock() + deadline, clock=clock, sleep=sleeper(clock, sleeps),
                                 rand=lambda: 1.0)


async def test_retries_transient_errors_with_growing_backoff(clock: ManualClock, sleeps: list[float]) -> None:
    send = Script(transient(), transient(), transient())
    assert await run(send, clock, sleeps) == "done"
    assert (send.calls, sleeps) == (4, [1.0, 2.0, 4.0])


async def test_jitter_comes_from_the_injected_rand(clock: ManualClock, sleeps: list[float]) -> None:
    send = Script(transient(), transient())
    await call_with_retry(send, max_retries=3, delay=1.0, backoff=2.0, deadline=clock() + 100, clock=clock,
                          sleep=sleeper(clock, sleeps), rand=lambda: 0.0)
    assert sleeps == [0.5, 1.0]


async def test_honours_retry_after(clock: ManualClock, sleeps: list[float]) -> None:
    send = Script(transient(7.0), transient())
    assert await run(send, clock, sleeps) == "done"
    assert sleeps == [7.0, 2.0]


async def test_retry_after_over_the_cap_is_not_waited_for(clock: ManualClock, sleeps: list[float]) -> None:
    send = Script(transient(RETRY_AFTER_CAP + 60))
    with pytest.raises(ProviderError):
        await run(send, clock, sleeps)
    assert (send.calls, sleeps) == (1, [])


async def test_stops_after_max_retries_with_the_last_error(clock: ManualClock, sleeps: list[float]) -> None:
    errors = [transient() for _ in range(5)]
    send = Script(*errors)
    with pytest.raises(ProviderError) as caught:
        await run(send, clock, sleeps, max_retries=2)
    assert (send.calls, sleeps) == (3, [1.0, 2.0])
    assert caught.value is errors[2]


async def test_zero_retries_means_one_attempt(clock: ManualClock, sleeps: list[float]) -> None:
    send = Script(transient())
    with pytest.raises(ProviderError):
        await run(send, clock, sleeps, max_retries=0)
    assert (send.calls, sleeps) == (1, [])


async def test_never_sleeps_past_the_deadline(clock: ManualClock, sleeps: list[float]) -> None:
    """Waits of 1 and 2 fit in 5s; the next (4, ending at 7) would cross it: the error is raised at once."""
    start = clock()
    send = Script(*[transient() for _ in range(5)])
    with pytest.raises(ProviderError):
        await run(send, clock, sleeps, max_retries=10, deadline=5.0)
    assert (send.calls, sleeps) == (3, [1.0, 2.0])
    assert clock() - start <= 5.0


async def test_a_retry_after_that_crosses_the_deadline_is_not_waited_for(clock: ManualClock,
                                                                          sleeps: list[float]) -> None:
    send = Script(transient(9.0))
    with pytest.raises(ProviderError):
        await run(send, clock, sleeps, deadline=5.0)
    assert (send.calls, sleeps) == (1, [])


async def test_time_spent_in_attempts_counts_against_the_deadline(clock: ManualClock, sleeps: list[float]) -> None:
    async def slow_failure() -> str:
        clock.advance(4.5)  # the attempt itself took 4.5s of the 5s
        raise transient()

    with pytest.raises(ProviderError):
        await call_with_retry(slow_failure, max_retries=3, delay=1.0, backoff=2.0, deadline=clock() + 5.0,
                              clock=clock, sleep=sleeper(clock, sleeps), rand=lambda: 1.0)
    assert sleeps == []


@pytest.mark.parametrize("error", [
    pytest.param(permanent(), id="auth"),
    pytest.param(classify(answer(429, OPENAI_QUOTA)).error(), id="prolonged-quota"),
    pytest.param(BadReply("not JSON"), id="bad-reply"),
])
async def test_permanent_prolonged_and_bad_replies_are_not_retried(error: Exception, clock: ManualClock,
                                                                   sleeps: list[float]) -> None:
    send = Script(error)
    with pytest.raises(type(error)):
        await run(send, clock, sleeps)
    assert (send.calls, sleeps) == (1, [])


async def test_a_backoff_function_can_be_given_instead_of_a_factor(clock: ManualClock, sleeps: list[float]) -> None:
    send = Script(transient(), transient())
    await call_with_retry(send, max_retries=3, backoff=lambda attempt: 10.0 + attempt, deadline=clock() + 100,
                          clock=clock, sleep=sleeper(clock, sleeps))
    assert sleeps == [10.0, 11.0]
