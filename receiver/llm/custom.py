"""The `custom` provider: your own classifier or provider class, plugged in by import path.

The class is imported when the config loads (an import error is a config error with its field path)
and built with the provider's `settings:` mapping and the usual `ProviderDeps` (the shared aiohttp
session, the clock, the sleep). It answers `Request`s with `Reply`s like any provider: its reply text
goes through the same strict checks as a model's answer, and the breaker, rate limit, retries and
failover guard it like any other provider.

    llm:
      providers:
        - name: keywords
          type: custom
          model: keywords-v1
          class: amtriage_keyword_classifier:KeywordProvider   # module:Class
          python_path: examples/custom-llm-classifier           # optional: where the module lives
          settings: {critical_words: [down, outage]}            # handed to the class as a mapping

    class KeywordProvider:
        def __init__(self, settings: Mapping[str, Any], deps: ProviderDeps) -> None: ...
        async def complete(self, request: Request) -> Reply: ...
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from receiver.config import ProviderConfig
from receiver.configread import Fields
from receiver.llm import ProviderDeps, Reply, Request


class Plugin(Protocol):
    async def complete(self, request: Request) -> Reply: ...


@dataclass(frozen=True, slots=True)
class CustomOptions:
    factory: Any = None  # the imported class: (settings, deps) -> Plugin
    settings: Mapping[str, Any] = field(default_factory=dict)


def load(path: str, python_path: str) -> Any:
    """`module:Class` imported (with `python_path` searched first); raises ValueError saying why not."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError("must be module:Class")
    if python_path and str(Path(python_path).resolve()) not in sys.path:
        sys.path.insert(0, str(Path(python_path).resolve()))
    try:
        found = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import {path}: {exc}") from None
    if not callable(getattr(found, "complete", None)):
        raise ValueError(f"{path} has no complete(request) method")
    return found


class CustomProvider:
    """Delegates to the configured class; see the module docstring."""

    type: ClassVar[str] = "custom"

    @classmethod
    def options(cls, f: Fields) -> CustomOptions:
        path = f.string("class", required=True)
        python_path = f.string("python_path")
        settings = f.get("settings") or {}
        if not isinstance(settings, dict):
            f.error("settings", "must be a mapping")
            settings = {}
        if not path:
            return CustomOptions(settings=settings)
        try:
            return CustomOptions(load(path, python_path), settings)
        except ValueError as exc:
            f.error("class", str(exc))
            return CustomOptions(settings=settings)

    def __init__(self, config: ProviderConfig, deps: ProviderDeps) -> None:
        self.name, self.model = config.name, config.model
        options = config.options if isinstance(config.options, CustomOptions) else CustomOptions()
        if options.factory is None:
            raise ValueError(f"llm provider {config.name}: no class to load")
        self.plugin: Plugin = options.factory(options.settings, deps)

    async def complete(self, request: Request) -> Reply:
        return await self.plugin.complete(request)


KIND = CustomProvider
