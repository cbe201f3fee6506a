"""Environment variables that override the config file, applied to the parsed tree before validation.

The `LLM_*` names are those of the single-provider LLM clients users come from: they set the
first provider (created as `primary` when the file lists none); the `LLM_CIRCUIT_BREAKER_*` ones
set the breaker of every provider. Values stay strings here; validation converts them and names
the field at fault, so `LLM_TIMEOUT=soon` reports `llm.providers[0].timeout`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_PROVIDER = {
    "LLM_PROVIDER": "type",
    "LLM_API_KEY": "api_key",
    "LLM_MODEL": "model",
    "LLM_BASE_URL": "base_url",
    "LLM_TIMEOUT": "timeout",
    "LLM_MAX_RETRIES": "max_retries",
    "LLM_RETRY_DELAY": "retry_delay",
    "LLM_RETRY_BACKOFF": "retry_backoff",
}
_BREAKER_PREFIX = "LLM_CIRCUIT_BREAKER_"
_BREAKER = ("ENABLED", "MAX_FAILURES", "RESET_TIMEOUT", "FAILURE_THRESHOLD", "TIME_WINDOW",
            "SLOW_CALL_DURATION", "HALF_OPEN_MAX_CALLS", "SUCCESS_THRESHOLD")
_BUDGET = {"LLM_DAILY_BUDGET": "daily_usd", "LLM_MONTHLY_BUDGET": "monthly_usd"}


def apply_overrides(raw: Any, environ: Mapping[str, str]) -> Any:
    """Return the tree with the environment's overrides applied (the input is not changed)."""
    if not isinstance(raw, dict):
        return raw
    tree = dict(raw)
    if "ENRICHMENT_MODE" in environ:
        tree["enrichment"] = {**_section(tree, "enrichment"), "mode": environ["ENRICHMENT_MODE"]}
    if "REDIS_URL" in environ:
        tree["redis_url"] = environ["REDIS_URL"]
    llm = _section(tree, "llm")
    if "LLM_ENABLED" in environ:
        llm["enabled"] = environ["LLM_ENABLED"]
    budget = {**_section(llm, "budget"), **{k: environ[e] for e, k in _BUDGET.items() if e in environ}}
    if budget:
        llm["budget"] = budget
    llm = _providers(llm, environ)
    if llm:
        tree["llm"] = llm
    return tree


def _providers(llm: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    provider = {k: environ[e] for e, k in _PROVIDER.items() if e in environ}
    breaker = {name.lower(): environ[_BREAKER_PREFIX + name] for name in _BREAKER if _BREAKER_PREFIX + name in environ}
    if not provider and not breaker:
        return llm
    raw = llm.get("providers")
    providers = [dict(p) if isinstance(p, dict) else p for p in raw] if isinstance(raw, list) else []
    if provider:
        if not providers:
            providers.append({"name": "primary"})
        if isinstance(providers[0], dict):
            providers[0].update(provider)
    if breaker:
        for p in providers:
            if isinstance(p, dict):
                p["circuit_breaker"] = {**_section(p, "circuit_breaker"), **breaker}
    return {**llm, "providers": providers}


def _section(tree: dict[str, Any], key: str) -> dict[str, Any]:
    value = tree.get(key)
    return dict(value) if isinstance(value, dict) else {}
