"""The `openai` provider: OpenAI Chat Completions, and the wire functions azure and openai_compatible reuse.

POST {base_url}/chat/completions with `Authorization: Bearer <api_key>`; the system and user messages,
`response_format: {"type": "json_object"}`, the output cap and the temperature. The reply's
`choices[0].message.content` is the text; `finish_reason` "length" means truncated, "content_filter"
a safety block, and a `message.refusal` a refusal; `usage.prompt_tokens/completion_tokens` are counted.

    llm:
      providers:
        - name: primary
          type: openai
          model: gpt-4o-mini
          api_key: ${OPENAI_API_KEY}         # or api_key_file
          base_url: https://api.openai.com/v1 # the default
          organization: org-...              # optional: the OpenAI-Organization header
          project: proj_...                  # optional: the OpenAI-Project header
          json_mode: true                    # send response_format json_object (default true)
          max_tokens_field: max_completion_tokens   # or max_tokens (older models and servers)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from receiver.config import ProviderConfig
from receiver.configread import Fields
from receiver.errors import BadReply
from receiver.llm import ProviderDeps, Reply, Request, Usage
from receiver.llm.auth import BEARER, Auth, Piece, read_auth
from receiver.llm.http import Answer, accept, count, items, nonempty, obj, post

FINISH = {"stop": "stop", "length": "length", "content_filter": "safety"}
TOKEN_FIELDS = ("max_completion_tokens", "max_tokens")


@dataclass(frozen=True, slots=True)
class ChatOptions:
    """Settings of a Chat Completions wire (openai, azure, openai_compatible)."""

    auth: tuple[Piece, ...] = BEARER
    json_mode: bool = True
    max_tokens_field: str = "max_completion_tokens"
    headers: Mapping[str, str] = field(default_factory=dict)  # protocol headers (OpenAI-Organization, ...)


def read_chat_options(f: Fields, defaults: ChatOptions) -> ChatOptions:
    """The keys every Chat Completions provider has: auth, json_mode, max_tokens_field."""
    return ChatOptions(
        auth=read_auth(f, defaults.auth),
        json_mode=f.boolean("json_mode", defaults.json_mode),
        max_tokens_field=f.choice("max_tokens_field", defaults.max_tokens_field, TOKEN_FIELDS),
        headers=defaults.headers,
    )


def chat_payload(request: Request, *, model: str | None, options: ChatOptions) -> dict[str, Any]:
    """The Chat Completions request body (`model` None for Azure, whose deployment is in the URL)."""
    payload: dict[str, Any] = {
        "messages": [{"role": "system", "content": request.system}, {"role": "user", "content": request.user}],
        options.max_tokens_field: request.max_tokens,
        "temperature": request.temperature,
    }
    if model is not None:
        payload["model"] = model
    if options.json_mode:
        payload["response_format"] = {"type": "json_object"}
    return payload


def parse_chat(body: Mapping[str, Any], model: str) -> Reply:
    """A Chat Completions reply as a Reply; BadReply when it has no choice with a message."""
    first = obj(next(iter(items(body.get("choices"))), None))
    message = first.get("message")
    if not isinstance(message, dict):
        raise BadReply("reply has no choices[0].message")
    finish = FINISH.get(str(first.get("finish_reason")), "other")
    if message.get("refusal"):
        finish = "refusal"
    usage = obj(body.get("usage"))
    return Reply(
        text=_text(message.get("content")),
        usage=Usage(count(usage.get("prompt_tokens")), count(usage.get("completion_tokens"))),
        model=nonempty(body.get("model"), model),
        finish=finish,
    )


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts, as some compatible servers answer
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


class OpenAIProvider:
    """OpenAI Chat Completions; see the module docstring for its config.

        provider = OpenAIProvider(config.llm.providers[0], ProviderDeps(session))
        reply = await provider.complete(Request(system="...", user="..."))
    """

    type: ClassVar[str] = "openai"
    default_url: ClassVar[str] = "https://api.openai.com/v1"
    defaults: ClassVar[ChatOptions] = ChatOptions()

    @classmethod
    def options(cls, f: Fields) -> ChatOptions:
        headers = {name: value for name, value in (("OpenAI-Organization", f.string("organization")),
                                                   ("OpenAI-Project", f.string("project"))) if value}
        return read_chat_options(f, ChatOptions(BEARER, headers=headers))

    def __init__(self, config: ProviderConfig, deps: ProviderDeps) -> None:
        self.name, self.model, self.deps, self.timeout = config.name, config.model, deps, config.timeout
        self.chat: ChatOptions = config.options if isinstance(config.options, ChatOptions) else self.defaults
        self.url = f"{(config.base_url or self.default_url).rstrip('/')}/chat/completions"
        self.auth = Auth.build(self.chat.auth, api_key=config.api_key,
                               static={**self.chat.headers, **config.headers})

    async def complete(self, request: Request) -> Reply:
        payload = chat_payload(request, model=self.model, options=self.chat)
        answer = await post(self.deps.session, self.url, payload, headers=self.auth.headers,
                            timeout=self.timeout, scrub=self.auth.scrub)
        return parse_chat(self.accept(answer), self.model)

    def accept(self, answer: Answer) -> dict[str, Any]:
        """Judge the reply (openai_compatible adds a rule of its own)."""
        return accept(answer, scrub=self.auth.scrub)


KIND = OpenAIProvider
