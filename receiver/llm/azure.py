"""The `azure` provider: Azure OpenAI chat completions on a deployment (the OpenAI wire, Azure's URL and key).

POST {base_url}/openai/deployments/{deployment}/chat/completions?api-version={api_version} with the
key in the `api-key` header. Body and reply are OpenAI's (`receiver.llm.openai`), without `model`: the
deployment decides it, and the reply's `model` names the model behind it. A prompt that Azure's content
filter rejects comes back as HTTP 400 `{"error": {"code": "content_filter", ...}}`: that is a safety
block of this alert (a Reply with finish "safety"), not a broken provider.

    llm:
      providers:
        - name: azure
          type: azure
          model: gpt-4o-mini                  # for ai_model and cost; the deployment decides
          base_url: https://my-resource.openai.azure.com
          api_key: ${AZURE_OPENAI_API_KEY}    # or api_key_file
          deployment: gpt-4o-mini-prod        # required
          api_version: "2024-10-21"           # the default (GA)
          json_mode: true
          max_tokens_field: max_tokens        # or max_completion_tokens (o-series deployments)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import quote

from receiver.config import ProviderConfig
from receiver.configread import Fields
from receiver.llm import ProviderDeps, Reply, Request, Usage
from receiver.llm.auth import Auth, api_key_header
from receiver.llm.http import Answer, accept, error_body, json_or_none, post
from receiver.llm.openai import ChatOptions, chat_payload, parse_chat, read_chat_options

API_VERSION = "2024-10-21"
DEFAULTS = ChatOptions(api_key_header("api-key"), max_tokens_field="max_tokens")


@dataclass(frozen=True, slots=True)
class AzureOptions:
    deployment: str = ""
    api_version: str = API_VERSION
    chat: ChatOptions = DEFAULTS


class AzureProvider:
    """Azure OpenAI; see the module docstring for its config.

        provider = AzureProvider(config.llm.providers[0], ProviderDeps(session))
        reply = await provider.complete(Request(system="...", user="..."))
    """

    type: ClassVar[str] = "azure"

    @classmethod
    def options(cls, f: Fields) -> AzureOptions:
        if not (f.raw.get("base_url") or f.raw.get("base_url_file")):
            f.error("base_url", "is required for type azure (https://<resource>.openai.azure.com)")
        return AzureOptions(
            deployment=f.string("deployment", required=True),
            api_version=f.string("api_version", API_VERSION),
            chat=read_chat_options(f, DEFAULTS),
        )

    def __init__(self, config: ProviderConfig, deps: ProviderDeps) -> None:
        self.name, self.model, self.deps, self.timeout = config.name, config.model, deps, config.timeout
        options = config.options if isinstance(config.options, AzureOptions) else AzureOptions(config.model)
        self.chat = options.chat
        self.url = (f"{config.base_url.rstrip('/')}/openai/deployments/{quote(options.deployment, safe='')}"
                    f"/chat/completions?api-version={quote(options.api_version, safe='')}")
        self.auth = Auth.build(self.chat.auth, api_key=config.api_key, static=config.headers)

    async def complete(self, request: Request) -> Reply:
        payload = chat_payload(request, model=None, options=self.chat)
        answer = await post(self.deps.session, self.url, payload, headers=self.auth.headers,
                            timeout=self.timeout, scrub=self.auth.scrub)
        if filtered(answer):
            return Reply("", Usage(), self.model, "safety")
        return parse_chat(accept(answer, scrub=self.auth.scrub), self.model)


def filtered(answer: Answer) -> bool:
    """Azure's content filter refused the prompt (HTTP 400, error code `content_filter`)."""
    return answer.status == 400 and "content_filter" in error_body(json_or_none(answer.body)).markers


KIND = AzureProvider
