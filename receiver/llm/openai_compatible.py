"""The `openai_compatible` provider: servers that speak OpenAI Chat Completions (LM Studio, vLLM,
llama.cpp server, OpenRouter, LiteLLM, ...), on the `openai` module's wire functions.

The differences from `openai`: `base_url` is required (up to and including `/v1`); the key is optional
(a bearer token when `api_key` is set, nothing otherwise); `max_tokens` is the default output field (what
every such server knows); and `json_mode` can be switched off, because servers differ on
`response_format` (llama.cpp's Python server answers HTTP 500 to the `json_schema` form, some older ones
reject `json_object`). Extra headers go in `headers:` (OpenRouter's `HTTP-Referer` and `X-Title`).
A 5xx whose error says the request failed validation (`... validation error ...`, as llama-cpp-python
answers a `response_format` it does not know) is permanent: the same request fails the same way, and
retrying it would only trip the breaker.

    llm:
      providers:
        - name: openrouter
          type: openai_compatible
          model: meta-llama/llama-3.1-8b-instruct
          base_url: https://openrouter.ai/api/v1
          api_key: ${OPENROUTER_API_KEY}             # optional: Authorization: Bearer
          headers: {HTTP-Referer: https://amtriage.example.com, X-Title: amtriage}
          json_mode: true                            # send response_format json_object (default true)
          max_tokens_field: max_tokens               # the default here
        - name: local-llamacpp
          type: openai_compatible
          model: gemma-3-270m
          base_url: http://127.0.0.1:18080/v1
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from receiver.configread import Fields
from receiver.errors import ProviderError, Reason
from receiver.llm.auth import BEARER_IF_KEY
from receiver.llm.http import Answer, error_body, json_or_none
from receiver.llm.openai import ChatOptions, OpenAIProvider, read_chat_options

REJECTED = re.compile(r"\d+ validation errors?\b|Input should be")  # pydantic request validation


class OpenAICompatibleProvider(OpenAIProvider):
    """An OpenAI-compatible server; see the module docstring for its config.

        provider = OpenAICompatibleProvider(config.llm.providers[0], ProviderDeps(session))
        reply = await provider.complete(Request(system="...", user="..."))
    """

    type: ClassVar[str] = "openai_compatible"
    defaults: ClassVar[ChatOptions] = ChatOptions(BEARER_IF_KEY, max_tokens_field="max_tokens")

    @classmethod
    def options(cls, f: Fields) -> ChatOptions:
        if not (f.raw.get("base_url") or f.raw.get("base_url_file")):
            f.error("base_url", "is required for type openai_compatible (the server's URL up to /v1)")
        return read_chat_options(f, cls.defaults)

    def accept(self, answer: Answer) -> dict[str, Any]:
        message = error_body(json_or_none(answer.body)).message
        if answer.status >= 500 and REJECTED.search(message):
            detail = f"HTTP {answer.status}: the server cannot take this request: {message}"
            raise ProviderError(Reason.CLIENT_ERROR, self.auth.scrub(detail)[:300], transient=False)
        return super().accept(answer)


KIND = OpenAICompatibleProvider
