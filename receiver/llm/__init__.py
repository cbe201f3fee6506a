"""The LLM side: one `Provider` per wire protocol, all speaking in `Request` and `Reply`.

A provider module (`openai.py`, `anthropic.py`, ...) holds a class with `type` (its config
`type:`), `options(fields)` for its own config keys (errors by field path), a constructor
`(config: ProviderConfig, deps: ProviderDeps)` and `complete(request) -> Reply`, and ends with
`KIND = TheClass`; `kinds()` finds them all. Providers raise `ProviderError` (HTTP or transport
failure, with `transient` and `retry_after`) or `BadReply` (a reply that is not usable).

    provider = kinds()["openai"](config.llm.providers[0], ProviderDeps(session))
    reply = await provider.complete(Request(system="...", user="..."))
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import aiohttp

from receiver.config import ProviderConfig
from receiver.configread import Fields


@dataclass(frozen=True, slots=True)
class Request:
    """One prompt: instructions (system) and the data (user), asking for one JSON object back."""

    system: str
    user: str
    max_tokens: int = 1024
    temperature: float = 0.0
    alerts: tuple[Mapping[str, Any], ...] = ()  # the same data, redacted, as objects: {id, labels, annotations}


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Reply:
    """What a provider answered. `finish` is normalised: stop | length | safety | refusal | other."""

    text: str
    usage: Usage
    model: str
    finish: str = "stop"


@dataclass(frozen=True, slots=True)
class ProviderDeps:
    """What every provider is built with; time is injected so retries are testable without waiting."""

    session: aiohttp.ClientSession
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


class Provider(Protocol):
    """One configured LLM endpoint."""

    name: str
    type: ClassVar[str]
    model: str

    async def complete(self, request: Request) -> Reply: ...


class ProviderKind(Protocol):
    type: ClassVar[str]

    def options(self, f: Fields) -> Any: ...

    def __call__(self, config: ProviderConfig, deps: ProviderDeps) -> Provider: ...


def kinds() -> dict[str, ProviderKind]:
    """Every module of this package that ends with `KIND = SomeProvider`, by its `type`."""
    found: dict[str, ProviderKind] = {}
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        kind = getattr(importlib.import_module(f"{__name__}.{module}"), "KIND", None)
        if kind is not None:
            found[kind.type] = kind
    return found
