"""The `anthropic` provider: the Anthropic Messages API.

POST {base_url}/v1/messages with `x-api-key` and `anthropic-version`; the body has `model`,
`max_tokens` (required by the API), `system`, `messages` and `temperature`. The reply's `content` is a
list of blocks: the `text` blocks joined are the text. `stop_reason` "max_tokens" (or
"model_context_window_exceeded") means truncated, "refusal" a refusal; `usage.input_tokens` and
`usage.output_tokens` are counted. HTTP 529 `overloaded_error` is transient; errors arrive as
`{"type": "error", "error": {"type": ..., "message": ...}}`.

    llm:
      providers:
        - name: claude
          type: anthropic
          model: claude-3-5-haiku-latest
          api_key: ${ANTHROPIC_API_KEY}        # or api_key_file
          base_url: https://api.anthropic.com  # the default
          version: "2023-06-01"                # the anthropic-version header (the default)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from receiver.config import ProviderConfig
from receiver.configread import Fields
from receiver.errors import BadReply
from receiver.llm import ProviderDeps, Reply, Request, Usage
from receiver.llm.auth import Auth, Piece, api_key_header, read_auth
from receiver.llm.http import accept, count, nonempty, obj, post

VERSION = "2023-06-01"
FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
          "model_context_window_exceeded": "length", "refusal": "refusal"}


@dataclass(frozen=True, slots=True)
class AnthropicOptions:
    auth: tuple[Piece, ...] = api_key_header("x-api-key")
    version: str = VERSION


def messages_payload(request: Request, model: str) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens,
        "messages": [{"role": "user", "content": request.user}],
        "temperature": request.temperature,
    }
    if request.system:  # the API refuses an empty text block
        payload["system"] = request.system
    return payload


def parse_message(body: dict[str, Any], model: str) -> Reply:
    """A Messages reply as a Reply; BadReply when `content` is not a list of blocks."""
    blocks = body.get("content")
    if not isinstance(blocks, list):
        raise BadReply("reply has no content blocks")
    text = "".join(b["text"] for b in blocks if isinstance(b, dict) and b.get("type") == "text"
                   and isinstance(b.get("text"), str))
    usage = obj(body.get("usage"))
    return Reply(
        text=text,
        usage=Usage(count(usage.get("input_tokens")), count(usage.get("output_tokens"))),
        model=nonempty(body.get("model"), model),
        finish=FINISH.get(str(body.get("stop_reason")), "other"),
    )


class AnthropicProvider:
    """Anthropic Messages; see the module docstring for its config.

        provider = AnthropicProvider(config.llm.providers[0], ProviderDeps(session))
        reply = await provider.complete(Request(system="...", user="...", max_tokens=1024))
    """

    type: ClassVar[str] = "anthropic"
    default_url: ClassVar[str] = "https://api.anthropic.com"

    @classmethod
    def options(cls, f: Fields) -> AnthropicOptions:
        return AnthropicOptions(read_auth(f, AnthropicOptions().auth), f.string("version", VERSION))

    def __init__(self, config: ProviderConfig, deps: ProviderDeps) -> None:
        self.name, self.model, self.deps, self.timeout = config.name, config.model, deps, config.timeout
        options = config.options if isinstance(config.options, AnthropicOptions) else AnthropicOptions()
        self.url = f"{(config.base_url or self.default_url).rstrip('/')}/v1/messages"
        self.auth = Auth.build(options.auth, api_key=config.api_key,
                               static={"anthropic-version": options.version, **config.headers})

    async def complete(self, request: Request) -> Reply:
        answer = await post(self.deps.session, self.url, messages_payload(request, self.model),
                            headers=self.auth.headers, timeout=self.timeout, scrub=self.auth.scrub)
        return parse_message(accept(answer, scrub=self.auth.scrub), self.model)


KIND = AnthropicProvider
