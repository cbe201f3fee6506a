"""The `gemini` provider: the Gemini API's `generateContent`.

POST {base_url}/models/{model}:generateContent with the key in the `x-goog-api-key` header (never in
the URL's `?key=`, where proxies and access logs would keep it); the body has `systemInstruction`,
`contents` and `generationConfig` (`responseMimeType: application/json`, `maxOutputTokens`,
`temperature`). The text is `candidates[0].content.parts[].text` (thought parts skipped); `finishReason`
MAX_TOKENS means truncated and SAFETY, BLOCKLIST, PROHIBITED_CONTENT, SPII or IMAGE_SAFETY a safety block
(such a candidate has no `content`); a blocked prompt has no candidates at all, only
`promptFeedback.blockReason`. Tokens: `usageMetadata.promptTokenCount`, and as output
`candidatesTokenCount` plus `thoughtsTokenCount` (thinking is billed as output). A bad key is HTTP 400
with `details[].reason` API_KEY_INVALID: permanent, reason auth.

    llm:
      providers:
        - name: gemini
          type: gemini
          model: gemini-2.0-flash
          api_key: ${GEMINI_API_KEY}           # or api_key_file
          base_url: https://generativelanguage.googleapis.com/v1beta   # the default
          json_mode: true                      # responseMimeType application/json (default true)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

from receiver.config import ProviderConfig
from receiver.configread import Fields
from receiver.llm import ProviderDeps, Reply, Request, Usage
from receiver.llm.auth import Auth, Piece, api_key_header, read_auth
from receiver.llm.http import accept, count, items, nonempty, obj, post

FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "safety", "BLOCKLIST": "safety",
          "PROHIBITED_CONTENT": "safety", "SPII": "safety", "IMAGE_SAFETY": "safety"}


@dataclass(frozen=True, slots=True)
class GeminiOptions:
    auth: tuple[Piece, ...] = api_key_header("x-goog-api-key")
    json_mode: bool = True


def generate_payload(request: Request, *, json_mode: bool) -> dict[str, Any]:
    config: dict[str, Any] = {"maxOutputTokens": request.max_tokens, "temperature": request.temperature}
    if json_mode:
        config["responseMimeType"] = "application/json"
    payload: dict[str, Any] = {
        "contents": [{"role": "user", "parts": [{"text": request.user}]}],
        "generationConfig": config,
    }
    if request.system:  # the API refuses an empty part
        payload["systemInstruction"] = {"parts": [{"text": request.system}]}
    return payload


def parse_generate(body: dict[str, Any], model: str) -> Reply:
    """A generateContent reply as a Reply; a blocked prompt or candidate is a Reply with finish "safety"."""
    meta = obj(body.get("usageMetadata"))
    usage = Usage(count(meta.get("promptTokenCount")),
                  count(meta.get("candidatesTokenCount")) + count(meta.get("thoughtsTokenCount")))
    reported = nonempty(body.get("modelVersion"), model)
    candidates = items(body.get("candidates"))
    if not candidates:
        blocked = obj(body.get("promptFeedback")).get("blockReason")
        return Reply("", usage, reported, "safety" if blocked else "other")
    first = obj(candidates[0])
    parts = items(obj(first.get("content")).get("parts"))
    text = "".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)
                   and not p.get("thought"))
    return Reply(text, usage, reported, FINISH.get(str(first.get("finishReason")), "other"))


class GeminiProvider:
    """Gemini generateContent; see the module docstring for its config.

        provider = GeminiProvider(config.llm.providers[0], ProviderDeps(session))
        reply = await provider.complete(Request(system="...", user="..."))
    """

    type: ClassVar[str] = "gemini"
    default_url: ClassVar[str] = "https://generativelanguage.googleapis.com/v1beta"

    @classmethod
    def options(cls, f: Fields) -> GeminiOptions:
        return GeminiOptions(read_auth(f, GeminiOptions().auth), f.boolean("json_mode", True))

    def __init__(self, config: ProviderConfig, deps: ProviderDeps) -> None:
        self.name, self.model, self.deps, self.timeout = config.name, config.model, deps, config.timeout
        self.settings = config.options if isinstance(config.options, GeminiOptions) else GeminiOptions()
        model = config.model.removeprefix("models/")
        self.url = f"{(config.base_url or self.default_url).rstrip('/')}/models/{quote(model, safe='')}:generateContent"
        self.auth = Auth.build(self.settings.auth, api_key=config.api_key, static=config.headers)

    async def complete(self, request: Request) -> Reply:
        payload = generate_payload(request, json_mode=self.settings.json_mode)
        answer = await post(self.deps.session, self.url, payload, headers=self.auth.headers,
                            timeout=self.timeout, scrub=self.auth.scrub)
        return parse_generate(accept(answer, scrub=self.auth.scrub), self.model)


KIND = GeminiProvider
