"""A user-written classifier for amtriage: keyword rules written in Python, plugged in as an LLM provider.

It answers the same requests a model gets (`request.alerts` holds the redacted alert data) with the
same JSON a model must return, so amtriage checks its answers the same strict way, caches them, and
falls back to the rules when it fails. Replace the keyword logic with a call to your own model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from receiver.llm import ProviderDeps, Reply, Request, Usage

DEFAULT_CRITICAL = ("down", "outage", "unreachable", "data loss", "crashloop")
DEFAULT_WARNING = ("high", "slow", "latency", "filling", "degraded")


class KeywordProvider:
    """Severity from words in the alert's name and annotations; the category from a `team` label."""

    def __init__(self, settings: Mapping[str, Any], deps: ProviderDeps) -> None:
        self.critical: Sequence[str] = tuple(settings.get("critical_words", DEFAULT_CRITICAL))
        self.warning: Sequence[str] = tuple(settings.get("warning_words", DEFAULT_WARNING))
        self.deps = deps  # deps.session is there for a classifier that calls a service of its own

    async def complete(self, request: Request) -> Reply:
        answers = [self.classify(alert) for alert in request.alerts]
        return Reply(text=json.dumps({"alerts": answers}), usage=Usage(), model="keywords-v1")

    def classify(self, alert: Mapping[str, Any]) -> dict[str, Any]:
        labels, annotations = alert["labels"], alert["annotations"]
        text = " ".join([labels.get("alertname", ""), *annotations.values()]).lower()
        severity = ("critical" if any(w in text for w in self.critical)
                    else "warning" if any(w in text for w in self.warning) else "info")
        return {
            "id": alert["id"],
            "severity": severity,
            "category": "availability" if severity == "critical" else "other",
            "confidence": 0.6,
            "summary": f"{labels.get('alertname', 'alert')} on {{{{ $labels.instance }}}}",
            "recommendations": [f"Ask team {labels['team']}" if "team" in labels else "Check the runbook"],
        }
