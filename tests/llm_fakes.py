"""Fake LLM servers, one per wire protocol, on real aiohttp test servers.

Each fake checks a request as strictly as the real API (path, auth header, required body fields, unknown
fields where the API rejects them) and answers 4xx in the API's own error shape when it is wrong;
otherwise it plays its script, in the API's own success and error shapes (usage in every success):

    fake = AnthropicFake()
    fake.script(fail(529, "overloaded_error"), fail(429, headers={"retry-after": "2"}), ok(finish="length"))
    base_url = await fake.start()
    ...
    fake.seen[0].headers["x-api-key"]; await fake.close()

Steps: `ok(text, finish)` (finish: stop | length | safety | refusal | blocked), `fail(status, error, ...)`
(`error` is the provider's error type/code/reason), `slow()` (answers only when the fake closes: longer
than any client timeout), `reset()` (drops the connection), `garbage()` (200 with an HTML body).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

KEY = "sk-fake-5e3c1d9a0b7f"
CLASSIFICATION = ('{"severity": "critical", "category": "storage", "confidence": 0.9, '
                  '"summary": "Disk almost full", "recommendations": ["df -h"]}')
INPUT_TOKENS, OUTPUT_TOKENS = 123, 45


@dataclass(frozen=True)
class Step:
    kind: str = "ok"
    finish: str = "stop"
    text: str = CLASSIFICATION
    status: int = 200
    error: str = ""
    message: str = "scripted failure"
    headers: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)


def ok(text: str = CLASSIFICATION, finish: str = "stop") -> Step:
    return Step("ok", finish=finish, text=text)


def fail(status: int, error: str = "", *, message: str = "scripted failure",
         headers: Mapping[str, str] | None = None, **extra: Any) -> Step:
    return Step("fail", status=status, error=error, message=message, headers=headers or {}, extra=extra)


def slow() -> Step:
    return Step("slow")


def reset() -> Step:
    return Step("reset")


def garbage() -> Step:
    return Step("garbage")


@dataclass
class Seen:
    """One request as the fake received it."""

    path: str
    query: dict[str, str]
    url: str
    headers: dict[str, str]
    body: Any


class FakeLLM:
    """The common machinery; a protocol subclass sets `path`, `check`, `success` and `error_body`."""

    path = "/"

    def __init__(self, key: str | None = KEY, model: str = "fake-model") -> None:
        self.key, self.model = key, model
        self.seen: list[Seen] = []
        self.steps: list[Step] = []
        self.released = asyncio.Event()
        self.server: TestServer | None = None

    def script(self, *steps: Step) -> None:
        self.steps.extend(steps)

    @property
    def reported_model(self) -> str:
        return f"{self.model}-2024-07-18"

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self.base_url()

    def base_url(self) -> str:
        assert self.server is not None, "start() the fake first"
        return str(self.server.make_url("")).rstrip("/")

    async def close(self) -> None:
        self.released.set()
        if self.server is not None:
            await self.server.close()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        self.seen.append(Seen(request.path, dict(request.query), str(request.rel_url), dict(request.headers), body))
        if request.method != "POST":
            return self.reject(405, "method not allowed")
        problem = self.check(request, body)
        if problem is not None:
            return problem
        return await self.play(request, body, self.steps.pop(0) if self.steps else ok())

    async def play(self, request: web.Request, body: Any, step: Step) -> web.StreamResponse:
        if step.kind == "slow":
            await self.released.wait()
        if step.kind == "reset":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if step.kind == "garbage":
            return web.Response(status=200, text="<html><body>502 Bad Gateway</body></html>", content_type="text/html")
        if step.kind == "fail":
            return web.json_response(self.error_body(step), status=step.status, headers=dict(step.headers))
        return web.json_response(self.success(body, step))

    def reject(self, status: int, message: str, error: str = "") -> web.Response:
        return web.json_response(self.error_body(fail(status, error, message=message)), status=status)

    def check(self, request: web.Request, body: Any) -> web.Response | None:
        raise NotImplementedError

    def success(self, body: Any, step: Step) -> dict[str, Any]:
        raise NotImplementedError

    def error_body(self, step: Step) -> Any:
        raise NotImplementedError


def _messages_ok(messages: Any) -> bool:
    return isinstance(messages, list) and bool(messages) and all(
        isinstance(m, dict) and m.get("role") in ("system", "user", "assistant") and isinstance(m.get("content"), str)
        for m in messages)


CHAT_FIELDS = frozenset({"model", "messages", "max_tokens", "max_completion_tokens", "temperature",
                         "response_format", "top_p", "stop", "seed", "n", "user"})


class OpenAIFake(FakeLLM):
    """OpenAI Chat Completions at /v1/chat/completions (`strict`: unknown fields are a 400, as OpenAI does;
    llama.cpp-like servers ignore them). With `key=None` no Authorization is required."""

    path = "/v1/chat/completions"
    types: ClassVar[dict[int, str]] = {
        400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
        429: "requests", 500: "server_error", 503: "server_error"}

    def __init__(self, key: str | None = KEY, model: str = "gpt-4o-mini", *, strict: bool = True) -> None:
        super().__init__(key, model)
        self.strict = strict

    def base_url(self) -> str:
        return super().base_url() + "/v1"

    def check(self, request: web.Request, body: Any) -> web.Response | None:
        if request.path != self.path:
            return self.reject(404, f"Invalid URL (POST {request.path})")
        if self.key is not None and request.headers.get("Authorization") != f"Bearer {self.key}":
            return self.reject(401, "Incorrect API key provided. You can find your API key at "
                                    "https://platform.openai.com/account/api-keys.", "invalid_api_key")
        return self.check_body(body)

    def check_body(self, body: Any) -> web.Response | None:
        if not isinstance(body, dict):
            return self.reject(400, "We could not parse the JSON body of your request.")
        unknown = sorted(set(body) - CHAT_FIELDS)
        if self.strict and unknown:
            return self.reject(400, f"Unrecognized request argument supplied: {unknown[0]}")
        if not isinstance(body.get("model"), str) or not _messages_ok(body.get("messages")):
            return self.reject(400, "you must provide a model parameter and messages")
        if "max_tokens" in body and "max_completion_tokens" in body:
            return self.reject(400, "max_tokens and max_completion_tokens cannot both be set")
        response_format = body.get("response_format", {"type": "text"})
        if not isinstance(response_format, dict) or response_format.get("type") not in ("text", "json_object",
                                                                                          "json_schema"):
            return self.reject(400, "Invalid value for 'response_format'")
        if body["model"] == "missing":
            return self.reject(404, "The model `missing` does not exist or you do not have access to it.",
                               "model_not_found")
        return None

    def success(self, body: Any, step: Step) -> dict[str, Any]:
        finish = {"stop": "stop", "length": "length", "safety": "content_filter", "refusal": "stop"}[step.finish]
        refused = step.finish == "refusal"
        text = None if refused or step.finish == "safety" else (step.text[:20] if finish == "length" else step.text)
        return {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 1_800_000_000,
            "model": self.reported_model,
            "choices": [{"index": 0, "logprobs": None, "finish_reason": finish,
                         "message": {"role": "assistant", "content": text,
                                     "refusal": "I'm sorry, I can't help with that." if refused else None}}],
            "usage": {"prompt_tokens": INPUT_TOKENS, "completion_tokens": OUTPUT_TOKENS,
                      "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS},
        }

    def error_body(self, step: Step) -> Any:
        kind = step.extra.get("type", self.types.get(step.status, "invalid_request_error"))
        return {"error": {"message": step.message, "type": kind, "param": None, "code": step.error or None}}


class AzureFake(OpenAIFake):
    """Azure OpenAI: /openai/deployments/{deployment}/chat/completions?api-version=..., key in `api-key`."""

    def __init__(self, key: str | None = KEY, model: str = "gpt-4o-mini", deployment: str = "triage") -> None:
        super().__init__(key, model)
        self.deployment = deployment

    def base_url(self) -> str:
        return FakeLLM.base_url(self)

    def check(self, request: web.Request, body: Any) -> web.Response | None:
        if not request.path.startswith("/openai/deployments/") or not request.path.endswith("/chat/completions") \
                or "api-version" not in request.query:
            return self.reject(404, "Resource not found", "404")
        if request.headers.get("api-key") != self.key:
            return self.reject(401, "Access denied due to invalid subscription key or wrong API endpoint. Make "
                                    "sure to provide a valid key for an active subscription.", "401")
        if request.path.split("/")[3] != self.deployment:
            return self.reject(404, "The API deployment for this resource does not exist.", "DeploymentNotFound")
        if not isinstance(body, dict) or not _messages_ok(body.get("messages")):
            return self.reject(400, "'messages' is a required property", "BadRequest")
        return None

    def error_body(self, step: Step) -> Any:
        return {"error": {"code": step.error or str(step.status), "message": step.message, **step.extra}}


class AnthropicFake(FakeLLM):
    """Anthropic Messages at /v1/messages: `x-api-key`, `anthropic-version`, and `max_tokens` required."""

    path = "/v1/messages"
    types: ClassVar[dict[int, str]] = {
        400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
        404: "not_found_error", 429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}
    fields = frozenset({"model", "max_tokens", "messages", "system", "temperature", "stop_sequences",
                        "top_p", "top_k", "metadata"})

    def __init__(self, key: str | None = KEY, model: str = "claude-3-5-haiku-20241022") -> None:
        super().__init__(key, model)

    @property
    def reported_model(self) -> str:
        return self.model

    def check(self, request: web.Request, body: Any) -> web.Response | None:
        if request.path != self.path:
            return self.reject(404, "Not Found")
        if request.headers.get("x-api-key") != self.key:
            return self.reject(401, "invalid x-api-key")
        if "anthropic-version" not in request.headers:
            return self.reject(400, "anthropic-version: header is required")
        if not isinstance(body, dict):
            return self.reject(400, "Request body must be JSON")
        for name in ("model", "max_tokens", "messages"):
            if name not in body:
                return self.reject(400, f"{name}: Field required")
        extra = sorted(set(body) - self.fields)
        if extra:
            return self.reject(400, f"{extra[0]}: Extra inputs are not permitted")
        if not isinstance(body["max_tokens"], int) or not _messages_ok(body["messages"]) \
                or any(m["role"] == "system" for m in body["messages"]):
            return self.reject(400, "messages: roles must be user or assistant; max_tokens: must be an integer")
        return None

    def success(self, body: Any, step: Step) -> dict[str, Any]:
        stop = {"stop": "end_turn", "length": "max_tokens", "refusal": "refusal"}[step.finish]
        text = step.text[:20] if stop == "max_tokens" else ("" if stop == "refusal" else step.text)
        return {"id": "msg_fake", "type": "message", "role": "assistant", "model": self.reported_model,
                "content": [{"type": "text", "text": text}] if text else [],
                "stop_reason": stop, "stop_sequence": None,
                "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS}}

    def error_body(self, step: Step) -> Any:
        error = {"type": step.error or self.types.get(step.status, "api_error"), "message": step.message,
                 **step.extra}
        return {"type": "error", "error": error, "request_id": "req_fake"}


class GeminiFake(FakeLLM):
    """Gemini generateContent at /v1beta/models/{model}:generateContent, key in `x-goog-api-key`."""

    statuses: ClassVar[dict[int, str]] = {
        400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
        408: "DEADLINE_EXCEEDED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
    fields = frozenset({"contents", "systemInstruction", "generationConfig", "safetySettings", "tools"})

    def __init__(self, key: str | None = KEY, model: str = "gemini-2.0-flash") -> None:
        super().__init__(key, model)

    @property
    def reported_model(self) -> str:
        return f"{self.model}-001"

    def base_url(self) -> str:
        return super().base_url() + "/v1beta"

    def check(self, request: web.Request, body: Any) -> web.Response | None:
        if request.path != f"/v1beta/models/{self.model}:generateContent":
            return self.reject(404, f"models/{request.path} is not found for API version v1beta")
        given = request.headers.get("x-goog-api-key") or request.query.get("key")
        if given is None:
            return self.reject(403, "Method doesn't allow unregistered callers. Please use API Key.")
        if given != self.key:
            return self.reject(400, "API key not valid. Please pass a valid API key.", "API_KEY_INVALID")
        unknown = sorted(set(body) - self.fields) if isinstance(body, dict) else ["(body)"]
        if unknown:
            return self.reject(400, f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.')
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents or not all(
                isinstance(c, dict) and isinstance(c.get("parts"), list) for c in contents):
            return self.reject(400, "* GenerateContentRequest.contents: contents is not specified")
        return None

    def success(self, body: Any, step: Step) -> dict[str, Any]:
        usage = {"promptTokenCount": INPUT_TOKENS, "totalTokenCount": INPUT_TOKENS}
        reply: dict[str, Any] = {"usageMetadata": usage, "modelVersion": self.reported_model}
        if step.finish == "blocked":
            return {**reply, "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []}}
        if step.finish == "safety":
            return {**reply, "candidates": [{"finishReason": "SAFETY", "index": 0, "safetyRatings": [
                {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]}]}
        text = step.text[:20] if step.finish == "length" else step.text
        usage.update(candidatesTokenCount=OUTPUT_TOKENS, totalTokenCount=INPUT_TOKENS + OUTPUT_TOKENS)
        parts = [{"text": "thinking about it", "thought": True}, {"text": text}] if step.extra.get("thought") \
            else [{"text": text}]
        return {**reply, "candidates": [{"content": {"role": "model", "parts": parts}, "index": 0,
                                         "finishReason": "MAX_TOKENS" if step.finish == "length" else "STOP"}]}

    def error_body(self, step: Step) -> Any:
        details = list(step.extra.get("details", []))
        if step.error:
            details.insert(0, {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": step.error,
                               "domain": "googleapis.com"})
        return {"error": {"code": step.status, "message": step.message,
                          "status": self.statuses.get(step.status, "UNKNOWN"), "details": details}}


class OllamaFake(FakeLLM):
    """Ollama /api/chat: no key; streams NDJSON unless `stream: false`, as the real server does."""

    path = "/api/chat"

    def __init__(self, key: str | None = None, model: str = "llama3.1:8b") -> None:
        super().__init__(key, model)

    @property
    def reported_model(self) -> str:
        return self.model

    def check(self, request: web.Request, body: Any) -> web.Response | None:
        if request.path != self.path:
            return self.reject(404, "404 page not found")
        if self.key is not None and request.headers.get("Authorization") != f"Bearer {self.key}":
            return self.reject(401, "unauthorized")
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return self.reject(400, "model is required")
        if not _messages_ok(body.get("messages")):
            return self.reject(400, "invalid message format")
        if body["model"] != self.model:
            return self.reject(404, f'model "{body["model"]}" not found, try pulling it first')
        if body.get("format") not in (None, "json") and not isinstance(body.get("format"), dict):
            return self.reject(400, "invalid format")
        return None

    async def play(self, request: web.Request, body: Any, step: Step) -> web.StreamResponse:
        if step.kind == "ok" and body.get("stream", True) is not False:
            chunk = {"model": self.model, "message": {"role": "assistant", "content": step.text}, "done": False}
            return web.Response(body=orjson.dumps(chunk) + b"\n", content_type="application/x-ndjson")
        return await super().play(request, body, step)

    def success(self, body: Any, step: Step) -> dict[str, Any]:
        length = step.finish == "length"
        return {"model": self.model, "created_at": "2027-01-15T09:30:00.000000Z",
                "message": {"role": "assistant", "content": step.text[:20] if length else step.text},
                "done": True, "done_reason": "length" if length else "stop", "total_duration": 1_500_000_000,
                "prompt_eval_count": INPUT_TOKENS, "eval_count": OUTPUT_TOKENS}

    def error_body(self, step: Step) -> Any:
        return {"error": step.message}


class ProxyFake(FakeLLM):
    """A custom classification service at /classify: bearer auth, answers a classification JSON."""

    path = "/classify"

    def __init__(self, key: str | None = KEY, model: str = "") -> None:
        super().__init__(key, model)

    @property
    def reported_model(self) -> str:
        return "inhouse-classifier-v3"

    def base_url(self) -> str:
        return super().base_url() + self.path

    def check(self, request: web.Request, body: Any) -> web.Response | None:
        if request.path != self.path:
            return self.reject(404, "no such route")
        if self.key is not None and request.headers.get("Authorization") != f"Bearer {self.key}":
            return self.reject(401, "unauthorized")
        if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
            return self.reject(400, "prompt is required")
        return None

    def success(self, body: Any, step: Step) -> dict[str, Any]:
        return {"classification": orjson.loads(step.text), "model": self.reported_model,
                "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS}}

    def error_body(self, step: Step) -> Any:
        return {"error": step.message}
