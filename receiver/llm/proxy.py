"""The `proxy` provider: a custom classification service (an in-house "LLM proxy") at `base_url`.

amtriage POSTs one JSON object with the configured auth (a bearer token when `api_key` is set, or any
`auth:` chain):

    {"model": "<model or null>", "system": "<instructions>", "prompt": "<the fenced alert data>",
     "alerts": [...],            # the alert batch, when the request carries one
     "max_tokens": 1024, "temperature": 0.0}

and reads a JSON object back. The classification (the whole object, or the value under `result_key`)
becomes the reply text, which the enrichment module validates like any model's answer. Optional
top-level `model` (a string), `usage` (`{"input_tokens", "output_tokens"}`, or OpenAI's
`prompt_tokens`/`completion_tokens`) and `finish` (stop | length | safety | refusal | other) are read
when present; usage is zero otherwise. Errors are judged like every provider's (`receiver.llm.http`).

    llm:
      providers:
        - name: inhouse
          type: proxy
          base_url: https://classifier.internal.example.com/v1/classify   # required
          api_key_file: /etc/amtriage/proxy-token    # sent as Authorization: Bearer (the default)
          result_key: classification                 # optional: where the classification is
          timeout: 5s
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from receiver.config import ProviderConfig
from receiver.configread import Fields
from receiver.errors import BadReply
from receiver.llm import ProviderDeps, Reply, Request, Usage
from receiver.llm.auth import BEARER_IF_KEY, Auth, Piece, read_auth
from receiver.llm.http import accept, count, nonempty, obj, post

FINISHES = frozenset({"stop", "length", "safety", "refusal", "other"})


@dataclass(frozen=True, slots=True)
class ProxyOptions:
    auth: tuple[Piece, ...] = BEARER_IF_KEY
    result_key: str = ""


def proxy_payload(request: Request, model: str) -> dict[str, Any]:
    payload: dict[str, Any] = {"model": model or None, "system": request.system, "prompt": request.user,
                               "max_tokens": request.max_tokens, "temperature": request.temperature}
    if request.alerts:  # the batch itself (redacted), for services that do not read prompts
        payload["alerts"] = [dict(a) for a in request.alerts]
    return payload


def parse_answer(body: dict[str, Any], *, result_key: str, model: str) -> Reply:
    """The service's answer as a Reply; BadReply when `result_key` is missing from it."""
    if result_key and result_key not in body:
        raise BadReply(f"reply has no {result_key!r}")
    result = body[result_key] if result_key else body
    usage = obj(body.get("usage"))
    finish = body.get("finish")
    return Reply(
        text=result if isinstance(result, str) else orjson.dumps(result).decode(),
        usage=Usage(count(usage.get("input_tokens", usage.get("prompt_tokens"))),
                    count(usage.get("output_tokens", usage.get("completion_tokens")))),
        model=nonempty(body.get("model"), model),
        finish=finish if isinstance(finish, str) and finish in FINISHES else "stop",
    )


class ProxyProvider:
    """A custom classification service; see the module docstring for its wire and config.

        provider = ProxyProvider(config.llm.providers[0], ProviderDeps(session))
        reply = await provider.complete(Request(system="...", user="..."))
    """

    type: ClassVar[str] = "proxy"

    @classmethod
    def options(cls, f: Fields) -> ProxyOptions:
        if not (f.raw.get("base_url") or f.raw.get("base_url_file")):
            f.error("base_url", "is required for type proxy (the classification service's URL)")
        return ProxyOptions(read_auth(f, BEARER_IF_KEY), f.string("result_key"))

    def __init__(self, config: ProviderConfig, deps: ProviderDeps) -> None:
        self.name, self.deps, self.timeout, self.url = config.name, deps, config.timeout, config.base_url
        self.model = config.model or "proxy"
        self.configured_model = config.model
        self.settings = config.options if isinstance(config.options, ProxyOptions) else ProxyOptions()
        self.auth = Auth.build(self.settings.auth, api_key=config.api_key, static=config.headers)

    async def complete(self, request: Request) -> Reply:
        answer = await post(self.deps.session, self.url, proxy_payload(request, self.configured_model),
                            headers=self.auth.headers, timeout=self.timeout, scrub=self.auth.scrub)
        return parse_answer(accept(answer, scrub=self.auth.scrub), result_key=self.settings.result_key,
                            model=self.model)


KIND = ProxyProvider
