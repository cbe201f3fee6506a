"""HTTP for providers: one function that judges an outcome, one loop that retries, and the POST itself.

`classify(answer_or_exception)` is Alertmanager's `Retrier.Check` for LLM APIs. It reads the status, the
rate-limit headers and the error body in every provider's shape (OpenAI/Azure `{"error": {type, code}}`,
Anthropic `{"type": "error", "error": {type}}`, Gemini `{"error": {status, details}}`, Ollama `{"error": ""}`):
  transient  429, 408, 409, 5xx, Anthropic 529 `overloaded_error`, timeouts, resets, refused connections
  prolonged  transient in form, but the wait is long: Retry-After above `cap`, or a spent quota (OpenAI 429
             `insufficient_quota` and its billing codes, Anthropic `enforced_spend_limit_reached`, Gemini
             per-day QuotaFailure). Not retried within a call (no wait inside an enrichment deadline helps);
             raised as ProviderError(transient=False, retry_after=<the wait, None for a quota>), reason
             rate_limit (server_error for a 5xx announcing a long outage). A spent quota heals only when
             someone pays or the month turns: fail over and let the breaker open. `outcome_of` reads it back.
  permanent  400, 401/403 (auth), 404, 422, other 4xx, Gemini 400 `API_KEY_INVALID` (auth), a redirect
             (never followed: it would carry the key elsewhere), a TLS certificate error

`call_with_retry` retries transient errors with exponential backoff and jitter, honours Retry-After up to
`cap`, stops after `max_retries` and never sleeps up to or past `deadline` (absolute, on `clock`): when
the next wait would reach it, the last error is raised at once. Not aiohttp-retry: its client sleeps with
`asyncio.sleep` itself (no injected sleep or clock), has no deadline across attempts, judges by status
sets or a callback on the raw response (not our classified errors with Retry-After from headers and
bodies) and returns the last response "as it is".

    reply = await call_with_retry(lambda: provider.complete(request), max_retries=3, delay=1.0,
                                  backoff=2.0, deadline=clock() + 10, clock=clock, sleep=asyncio.sleep)
"""

from __future__ import annotations

import random
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, TypeVar

import aiohttp
import orjson
from multidict import CIMultiDict

from receiver import __version__
from receiver.errors import BadReply, ProviderError, Reason

T = TypeVar("T")
Backoff = Callable[[int], float]
RETRY_AFTER_CAP = 30.0  # a provider asking for a longer wait is "prolonged": fail over, do not wait
MAX_BACKOFF = 30.0
USER_AGENT = f"amtriage/{__version__}"
_QUOTA = frozenset({"insufficient_quota", "credit_balance_exhausted", "organization_spend_limit_exceeded",
                    "project_spend_limit_exceeded", "organization_usage_limit_exceeded",
                    "enforced_spend_limit_reached"})
_AUTH = frozenset({"API_KEY_INVALID", "invalid_api_key", "authentication_error", "permission_error",
                   "UNAUTHENTICATED", "PERMISSION_DENIED"})
_PROTO_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


class Outcome(StrEnum):
    """What a provider's reply means for the caller; see the module docstring."""

    SUCCESS = "success"
    TRANSIENT = "transient"
    PROLONGED = "prolonged"
    PERMANENT = "permanent"


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP reply as received."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Verdict:
    """What an outcome means; `error()` is the ProviderError to raise for anything but success."""

    outcome: Outcome
    reason: Reason | None = None
    detail: str = ""
    retry_after: float | None = None

    def error(self, scrub: Callable[[str], str] = str) -> ProviderError:
        return ProviderError(self.reason or Reason.OTHER, scrub(self.detail)[:300],
                             transient=self.outcome is Outcome.TRANSIENT, retry_after=self.retry_after)


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """The parts of a provider's error body that decide: its message and every type/code/status/reason."""

    message: str = ""
    markers: frozenset[str] = frozenset()
    retry_delay: float | None = None  # Gemini's google.rpc.RetryInfo
    per_day_quota: bool = False  # Gemini's google.rpc.QuotaFailure on a per-day limit


def classify(answer: Answer | BaseException, *, now: Callable[[], float] = time.time,
             cap: float = RETRY_AFTER_CAP) -> Verdict:
    """Judge one reply (or the exception raised instead of one); see the module docstring."""
    if isinstance(answer, BaseException):
        return _transport(answer)
    if 200 <= answer.status < 300:
        return Verdict(Outcome.SUCCESS)
    error = error_body(json_or_none(answer.body))
    wait = retry_after(answer.headers, now)
    wait = error.retry_delay if wait is None else wait
    marker = "/".join(sorted(error.markers))
    detail = " ".join(p for p in (f"HTTP {answer.status}", f"{marker}:" if marker else "", error.message) if p)
    outcome, reason = _status(answer.status, error)
    if outcome is Outcome.TRANSIENT and wait is not None and wait > cap:
        outcome = Outcome.PROLONGED
    return Verdict(outcome, reason, detail, wait if outcome is not Outcome.PERMANENT else None)


def _status(status: int, error: ErrorBody) -> tuple[Outcome, Reason]:
    if error.markers & _AUTH or status in (401, 403):
        return Outcome.PERMANENT, Reason.AUTH
    if status == 429 and (error.markers & _QUOTA or error.per_day_quota):
        return Outcome.PROLONGED, Reason.RATE_LIMIT
    if status == 429:
        return Outcome.TRANSIENT, Reason.RATE_LIMIT
    if status == 408:
        return Outcome.TRANSIENT, Reason.TIMEOUT
    if status >= 500 or status == 409 or "overloaded_error" in error.markers:
        return Outcome.TRANSIENT, Reason.SERVER_ERROR
    return Outcome.PERMANENT, Reason.CLIENT_ERROR


def _transport(exc: BaseException) -> Verdict:
    name = type(exc).__name__
    if isinstance(exc, TimeoutError):  # aiohttp's ServerTimeoutError and asyncio's are TimeoutErrors
        return Verdict(Outcome.TRANSIENT, Reason.TIMEOUT, f"request timed out ({name})")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | ssl.SSLCertVerificationError):
        return Verdict(Outcome.PERMANENT, Reason.NETWORK_ERROR, f"TLS certificate not accepted ({name})")
    if isinstance(exc, aiohttp.InvalidURL):
        return Verdict(Outcome.PERMANENT, Reason.CLIENT_ERROR, f"invalid URL ({name})")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return Verdict(Outcome.TRANSIENT, Reason.NETWORK_ERROR, f"connection failed ({name})")
    return Verdict(Outcome.PERMANENT, Reason.OTHER, name)


def retry_after(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> float | None:
    """`retry-after-ms` (OpenAI, Azure) or `Retry-After` (seconds or an HTTP date) in seconds; None if absent."""
    found = CIMultiDict(headers)
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return max(0.0, float(found[name]) * scale)
        except (KeyError, ValueError):
            pass
    try:
        return max(0.0, parsedate_to_datetime(found.get("retry-after", "")).timestamp() - now())
    except (TypeError, ValueError, IndexError):
        return None


def error_body(body: Any) -> ErrorBody:
    """Read any provider's error shape (see the module docstring); empty when the body is not one."""
    if isinstance(body, list) and body:  # Gemini sometimes wraps its error in a one-item list
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):  # Ollama, llama.cpp and many proxies
        return ErrorBody(message=error)
    if not isinstance(error, dict):
        return ErrorBody(message=str(body.get("message", "")) if isinstance(body, dict) else "")
    markers = {str(error[k]) for k in ("type", "code", "status") if isinstance(error.get(k), str)}
    details = error.get("details")
    delay, per_day = None, False
    for item in details if isinstance(details, list) else [details]:
        if not isinstance(item, dict):
            continue
        markers |= {str(item[k]) for k in ("reason", "error_code") if isinstance(item.get(k), str)}
        delay = _proto_duration(item.get("retryDelay")) if delay is None else delay
        per_day = per_day or any("PerDay" in str(v.get("quotaId", "")) for v in item.get("violations") or []
                                 if isinstance(v, dict))
    return ErrorBody(str(error.get("message", "")), frozenset(markers), delay, per_day)


def _proto_duration(value: Any) -> float | None:
    found = _PROTO_DURATION.match(value) if isinstance(value, str) else None
    return float(found.group(1)) if found else None


def json_or_none(body: bytes) -> Any:
    """The body as JSON, or None when it is not JSON (a proxy's HTML error page, say)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


async def post(session: aiohttp.ClientSession, url: str, payload: Any, *, headers: Mapping[str, str],
               timeout: float, scrub: Callable[[str], str] = str) -> Answer:
    """POST JSON once; transport failures raise ProviderError (their texts never carry the URL)."""
    sent = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    try:
        async with session.post(url, data=orjson.dumps(payload), headers=sent, allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            return Answer(resp.status, resp.headers, await resp.read())
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise classify(exc).error(scrub) from None


def accept(answer: Answer, *, scrub: Callable[[str], str] = str, now: Callable[[], float] = time.time,
           cap: float = RETRY_AFTER_CAP) -> dict[str, Any]:
    """A success's JSON object (BadReply when it is not one); else raise its ProviderError, scrubbed."""
    verdict = classify(answer, now=now, cap=cap)
    if verdict.outcome is not Outcome.SUCCESS:
        raise verdict.error(scrub)
    body = json_or_none(answer.body)
    if not isinstance(body, dict):
        raise BadReply(f"HTTP {answer.status} reply is not a JSON object")
    return body


# Reading replies, which may lack any field: a token count, an object, a list, a non-empty string.
def count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def nonempty(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) and value else default


def exponential(delay: float, factor: float, rand: Callable[[], float], ceiling: float = MAX_BACKOFF) -> Backoff:
    """Backoff before retry `attempt` (0-based): delay * factor**attempt, at most `ceiling`, jittered
    into its upper half so that clients that failed together do not retry together."""
    return lambda attempt: min(ceiling, delay * factor**attempt) * (0.5 + rand() / 2)


def wait_before_retry(error: ProviderError, attempt: int, *, max_retries: int, backoff: Backoff,
                      cap: float = RETRY_AFTER_CAP) -> float | None:
    """Seconds to wait before retry `attempt`, or None: not transient, retries spent, or the provider
    asks for longer than `cap`. A positive Retry-After replaces the backoff; zero is ignored."""
    if not error.transient or attempt >= max_retries:
        return None
    if error.retry_after is not None and error.retry_after > cap:
        return None
    if error.retry_after:
        return error.retry_after
    return backoff(attempt)


async def call_with_retry(send: Callable[[], Awaitable[T]], *, max_retries: int, delay: float = 1.0,
                          backoff: float | Backoff = 2.0, deadline: float, clock: Callable[[], float],
                          sleep: Callable[[float], Awaitable[None]], rand: Callable[[], float] = random.random,
                          cap: float = RETRY_AFTER_CAP) -> T:
    """`await send()` until it succeeds; retry transient ProviderErrors (see `wait_before_retry`) while
    the wait ends before `deadline`. `backoff` is a factor (with `delay` and `rand`) or a Backoff."""
    strategy = backoff if callable(backoff) else exponential(delay, backoff, rand)
    attempt = 0
    while True:
        try:
            return await send()
        except ProviderError as error:
            wait = wait_before_retry(error, attempt, max_retries=max_retries, backoff=strategy, cap=cap)
            if wait is None or clock() + wait >= deadline:
                raise
        await sleep(wait)
        attempt += 1


def outcome_of(error: ProviderError) -> Outcome:
    """The outcome a raised ProviderError stands for (prolonged: not transient, but a wait would heal it)."""
    if error.transient:
        return Outcome.TRANSIENT
    if error.retry_after is not None or error.reason is Reason.RATE_LIMIT:
        return Outcome.PROLONGED
    return Outcome.PERMANENT

