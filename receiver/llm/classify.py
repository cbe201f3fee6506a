"""Classify alerts with the LLM: cache first, then one request per batch of distinct rules, within
the enrichment deadline. An alert the LLM could not classify comes back as the LLMError that says
why, and the caller classifies it with the rules.

A notification of 40 pods of one crash-looping deployment is one cache key, so it costs at most
one LLM call; every pod renders its own summary from the cached result.

    llm = LLMClassifier(client, cache, config.llm.prompt, deadline=config.enrichment.deadline)
    results = await llm.classify(notification.alerts, tenant=notification.receiver)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from receiver.alerts import Alert
from receiver.cache import ClassificationCache
from receiver.classifier import Classification
from receiver.enrichment import Batch, build_batches, classification_key, render_for, results_by_key
from receiver.errors import LLMError, Reason
from receiver.llm.client import LLMClient
from receiver.prompt import PromptSettings

Result = Classification | LLMError


class LLMClassifier:
    """See the module docstring."""

    def __init__(self, client: LLMClient, cache: ClassificationCache, settings: PromptSettings, *,
                 deadline: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.cache = cache
        self.settings = settings
        self.deadline = deadline
        self.clock = clock

    async def classify(self, alerts: Sequence[Alert], tenant: str | None = None) -> list[Result]:
        keys = [classification_key(a, self.settings.instance_labels) for a in alerts]
        cached = {k: c for k in set(keys) if (c := self.cache.get(k)) is not None}
        missing = [a for a, k in zip(alerts, keys, strict=True) if k not in cached]
        fresh = await self._ask(missing, tenant) if missing else {}
        for key, result in fresh.items():
            if isinstance(result, Classification):
                self.cache.put(key, result)
        results: list[Result] = []
        for alert, key in zip(alerts, keys, strict=True):
            if key in cached:
                results.append(render_for(alert, cached[key], source="cache"))
                continue
            result = fresh.get(key, LLMError(Reason.OTHER, "not classified"))
            results.append(render_for(alert, result) if isinstance(result, Classification) else result)
        return results

    async def _ask(self, alerts: Sequence[Alert], tenant: str | None) -> dict[str, Result]:
        """One request per batch, all at once; whatever is not back by the deadline is a timeout."""
        batches = build_batches(alerts, self.settings)
        deadline = self.clock() + self.deadline
        out: dict[str, Result] = {}
        try:
            async with asyncio.timeout(self.deadline):
                answers = await asyncio.gather(*(self._one(b, deadline, tenant) for b in batches))
        except TimeoutError:
            timeout = LLMError(Reason.TIMEOUT, "the enrichment deadline passed")
            return {k: timeout for b in batches for k in b.keys}
        for answer in answers:
            out.update(answer)
        return out

    async def _one(self, batch: Batch, deadline: float, tenant: str | None) -> dict[str, Result]:
        try:
            reply, slot = await self.client.complete(batch.request, deadline=deadline, tenant=tenant)
        except LLMError as exc:
            return dict.fromkeys(batch.keys, exc)
        return dict(results_by_key(batch, reply, provider=slot.config.type, model=reply.model or slot.config.model,
                                   instance_labels=self.settings.instance_labels))
