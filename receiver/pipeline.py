"""Modes and the per-alert enrichment step: classify each alert, write the result as annotations.

    enricher = Enricher(RuleClassifier.from_file("config/classifier.yaml"), config.enrichment)
    annotated = await enricher.enrich(notification)

`transparent` forwards the payload unchanged; `enriched` adds every `ai_*` annotation;
`transparent_with_recommendations` adds only the summary, the recommendations and the source.
Labels change only with `enrichment.set_labels` (then `ai_severity` and `ai_category` become
labels too, for routing in a downstream Alertmanager).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from receiver.alerts import Alert, Notification
from receiver.classifier import Classification, RuleClassifier
from receiver.config import MODES, EnrichmentConfig
from receiver.errors import LLMError, Reason

if TYPE_CHECKING:  # the LLM path imports this module's neighbours; only its type is needed here
    from receiver.llm.classify import LLMClassifier

_ALL = ("severity", "category", "confidence", "summary", "recommendations", "source", "model")
_KEYS_BY_MODE = {
    "transparent": (),
    "enriched": _ALL,
    "transparent_with_recommendations": ("summary", "recommendations", "source"),
}


FORWARDED_BY = "forwarded_by"  # annotation (after the prefix) on alerts amtriage posted to an Alertmanager


def already_enriched(alert: Alert, prefix: str) -> bool:
    """True when amtriage has seen this alert before: it posted it (`<prefix>forwarded_by`) or it
    already carries the classification (`<prefix>severity` and `<prefix>source`). Such alerts pass
    through untouched, so amtriage pointed at the Alertmanager that feeds it never re-enriches."""
    annotations = alert.annotations
    return prefix + FORWARDED_BY in annotations or (
        prefix + "severity" in annotations and prefix + "source" in annotations)


def annotations_for(c: Classification, prefix: str, keys: Sequence[str]) -> dict[str, str]:
    values = {
        "severity": c.severity,
        "category": c.category,
        "confidence": f"{c.confidence:.2f}",
        "summary": c.summary,
        "recommendations": "\n".join(c.recommendations),
        "source": c.source,
        "model": c.model,
    }
    return {prefix + k: values[k] for k in keys}


class Enricher:
    """Applies the current mode to a notification; the mode may change at run time (`PUT /api/v1/mode`).
    With `llm` set, alerts are classified by the LLM (cache first) and each one it could not classify
    by the rules; `on_classified(classification, reason)` hears of every alert (reason: why the rules)."""

    def __init__(
        self,
        classifier: RuleClassifier,
        config: EnrichmentConfig,
        on_classified: Callable[[Classification, str], None] = lambda c, reason: None,
        llm: LLMClassifier | None = None,
    ) -> None:
        self.classifier = classifier
        self.config = config
        self.mode = config.mode
        self.on_classified = on_classified
        self.llm = llm

    def reconfigure(self, classifier: RuleClassifier, config: EnrichmentConfig, *, mode_changed: bool) -> None:
        """After a reload: the new rules and settings; the mode follows the file only if the file changed it
        (a mode set at run time through the API is kept otherwise)."""
        self.classifier = classifier
        self.config = config
        if mode_changed:
            self.mode = config.mode

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        self.mode = mode

    async def classify(self, alerts: Sequence[Alert], tenant: str | None = None) -> list[Classification]:
        """One classification per alert: the LLM's (or the cache's) where it answered, else the rules'."""
        llm = self.llm
        answers: Sequence[Classification | LLMError] = (
            await llm.classify(alerts, tenant) if llm is not None
            else [LLMError(Reason.LLM_DISABLED, "llm is disabled")] * len(alerts))
        results = []
        for alert, answer in zip(alerts, answers, strict=True):
            if isinstance(answer, Classification):
                result, reason = answer, ""
            else:
                result, reason = self.classifier.classify(alert), str(answer.reason)
            self.on_classified(result, reason)
            results.append(result)
        return results

    async def enrich(self, notification: Notification, mode: str | None = None) -> Notification:
        mode = mode or self.mode
        keys = _KEYS_BY_MODE[mode]
        if not keys:
            return notification
        prefix = self.config.annotation_prefix
        fresh = [a for a in notification.alerts if not already_enriched(a, prefix)]
        if not fresh:
            return notification  # the same object: delivery forwards the stored body as it came
        results = iter(await self.classify(fresh, notification.receiver or None))
        alerts = tuple(a if already_enriched(a, prefix) else self._annotate(a, next(results), keys)
                       for a in notification.alerts)
        return notification.with_alerts(alerts)

    def _annotate(self, alert: Alert, c: Classification, keys: Sequence[str]) -> Alert:
        prefix = self.config.annotation_prefix
        annotated = alert.with_annotations({**alert.annotations, **annotations_for(c, prefix, keys)})
        if self.config.set_labels and "severity" in keys:
            labels = {**alert.labels, f"{prefix}severity": c.severity, f"{prefix}category": c.category}
            return annotated.with_labels(labels)
        return annotated
