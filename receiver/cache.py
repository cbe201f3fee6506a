"""The classification cache: one key function, an in-process L1 (cachetools TTL + LRU).

An entry is a classification of an alert rule in its context (see `enrichment.classification_key`),
stored with its summary as a template; every alert of that rule renders its own summary from it.
Keys carry the prompt version, so a new prompt never reuses answers given to the old one.

    cache = ClassificationCache(CacheConfig(ttl=86400, maxsize=10000), prompt_version="2026-12-1")
    cache.put(alert_key, classification)
    cached = cache.get(alert_key)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from cachetools import TTLCache

from receiver.classifier import Classification
from receiver.config import CacheConfig


class ClassificationCache:
    """L1 in memory; thread-safe (the dry-run endpoint and delivery use it from two threads)."""

    def __init__(self, config: CacheConfig, *, prompt_version: str, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.enabled = config.enabled and config.maxsize > 0
        self.version = prompt_version
        self._entries: TTLCache[str, Classification] = TTLCache(max(1, config.maxsize), config.ttl, timer=clock)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def key(self, classification_key: str) -> str:
        return f"{self.version}:{classification_key}"

    def get(self, classification_key: str) -> Classification | None:
        if not self.enabled:
            return None
        with self._lock:
            found = self._entries.get(self.key(classification_key))
            if found is None:
                self.misses += 1
            else:
                self.hits += 1
            return found

    def put(self, classification_key: str, classification: Classification) -> None:
        if self.enabled:
            with self._lock:
                self._entries[self.key(classification_key)] = classification

    def stats(self) -> dict[str, float]:
        with self._lock:
            total = self.hits + self.misses
            return {"size": len(self._entries), "hits": self.hits, "misses": self.misses,
                    "hit_rate": round(self.hits / total, 4) if total else 0.0}
