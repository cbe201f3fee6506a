"""The `ollama` provider: Ollama's native chat API on a local or self-hosted server.

POST {base_url}/api/chat with `stream: false` (one JSON answer, not NDJSON), `format: "json"` and
`options: {temperature, num_predict}` (plus `num_ctx` and `keep_alive` when set). The reply's
`message.content` is the text; `done_reason` "length" means truncated; `prompt_eval_count` and
`eval_count` are the tokens (a cached prompt may report no `prompt_eval_count`: 0). No key by default;
behind an authenticating reverse proxy set `api_key` (sent as a bearer token) or `auth:`. Errors are
`{"error": "..."}` (404 for a model that was not pulled: permanent).

    llm:
      providers:
        - name: local
          type: ollama
          model: llama3.1:8b
          base_url: http://127.0.0.1:11434   # the default
          timeout: 60s                       # local models are slow; enrichment.deadline still applies
          json_mode: true                    # format: json (default true)
          num_ctx: 8192                      # optional: the context window to load the model with
          keep_alive: 10m                    # optional: how long Ollama keeps the model loaded
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from receiver.config import ProviderConfig
from receiver.configread import Fields
from receiver.errors import BadReply
from receiver.llm import ProviderDeps, Reply, Request, Usage
from receiver.llm.auth import BEARER_IF_KEY, Auth, Piece, read_auth
from receiver.llm.http import accept, count, nonempty, post

FINISH = {"stop": "stop", "length": "length"}


@dataclass(frozen=True, slots=True)
class OllamaOptions:
    auth: tuple[Piece, ...] = BEARER_IF_KEY
    json_mode: bool = True
    num_ctx: int = 0  # 0: the model's default
    keep_alive: str = ""  # "": Ollama's default


def chat_payload(request: Request, model: str, options: OllamaOptions) -> dict[str, Any]:
    settings: dict[str, Any] = {"temperature": request.temperature, "num_predict": request.max_tokens}
    if options.num_ctx:
        settings["num_ctx"] = options.num_ctx
    payload: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "system", "content": request.system}, {"role": "user", "content": request.user}],
        "stream": False,
        "options": settings,
    }
    if options.json_mode:
        payload["format"] = "json"
    if options.keep_alive:
        payload["keep_alive"] = options.keep_alive
    return payload


def parse_chat(body: dict[str, Any], model: str) -> Reply:
    """An /api/chat reply as a Reply; BadReply when it has no message."""
    message = body.get("message")
    if not isinstance(message, dict) or not isinstance(message.get("content", ""), str):
        raise BadReply("reply has no message.content")
    return Reply(
        text=message.get("content", ""),
        usage=Usage(count(body.get("prompt_eval_count")), count(body.get("eval_count"))),
        model=nonempty(body.get("model"), model),
        finish=FINISH.get(str(body.get("done_reason", "stop")), "other"),
    )


class OllamaProvider:
    """Ollama /api/chat; see the module docstring for its config.

        provider = OllamaProvider(config.llm.providers[0], ProviderDeps(session))
        reply = await provider.complete(Request(system="...", user="..."))
    """

    type: ClassVar[str] = "ollama"
    default_url: ClassVar[str] = "http://127.0.0.1:11434"

    @classmethod
    def options(cls, f: Fields) -> OllamaOptions:
        return OllamaOptions(
            auth=read_auth(f, BEARER_IF_KEY),
            json_mode=f.boolean("json_mode", True),
            num_ctx=f.integer("num_ctx", 0),
            keep_alive=f.string("keep_alive"),
        )

    def __init__(self, config: ProviderConfig, deps: ProviderDeps) -> None:
        self.name, self.model, self.deps, self.timeout = config.name, config.model, deps, config.timeout
        self.settings = config.options if isinstance(config.options, OllamaOptions) else OllamaOptions()
        self.url = f"{(config.base_url or self.default_url).rstrip('/')}/api/chat"
        self.auth = Auth.build(self.settings.auth, api_key=config.api_key, static=config.headers)

    async def complete(self, request: Request) -> Reply:
        answer = await post(self.deps.session, self.url, chat_payload(request, self.model, self.settings),
                            headers=self.auth.headers, timeout=self.timeout, scrub=self.auth.scrub)
        return parse_chat(accept(answer, scrub=self.auth.scrub), self.model)


KIND = OllamaProvider
