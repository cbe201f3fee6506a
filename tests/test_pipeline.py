"""The enrichment modes over every real payload, with a small inline rule set (not the shipped one)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from receiver.alerts import Notification, parse
from receiver.classifier import RuleClassifier
from receiver.config import MODES, EnrichmentConfig
from receiver.pipeline import Enricher
from tests.fakes import FIXTURES, PAYLOADS

RULES = """\
rules:
  - name: disk
    match: ['alertname="DiskFull"']
    severity: critical
    category: storage
    confidence: 0.9
    summary: '{{ $labels.instance }} disk is full'
    recommendations: ['Free space on {{ $labels.instance }}', 'Check what grew']
default:
  severity: warning
  category: other
  confidence: 0.333
  summary: '{{ $labels.alertname }}: {{ $annotations.summary }}'
  recommendations: ['Read the description: {{ $annotations.description }}']
"""

ALL_KEYS = {"severity", "category", "confidence", "summary", "recommendations", "source", "model"}
RECOMMENDATION_KEYS = {"summary", "recommendations", "source"}
ENRICHING = {"enriched": ALL_KEYS, "transparent_with_recommendations": RECOMMENDATION_KEYS}


def _enricher(
    mode: str = "enriched", rules: str = RULES, annotation_prefix: str = "ai_", set_labels: bool = False
) -> Enricher:
    config = EnrichmentConfig(mode=mode, annotation_prefix=annotation_prefix, set_labels=set_labels)
    return Enricher(RuleClassifier.from_yaml(rules), config)


def _load(path: Path) -> Notification:
    return parse(path.read_bytes())


def _added(before: Notification, after: Notification) -> list[dict[str, str]]:
    """Per alert, the annotations enrichment added (asserting it changed no original one)."""
    added = []
    for old, new in zip(before.alerts, after.alerts, strict=True):
        assert {k: new.annotations[k] for k in old.annotations} == dict(old.annotations)
        added.append({k: v for k, v in new.annotations.items() if k not in old.annotations})
    return added


@pytest.mark.parametrize("path", PAYLOADS, ids=lambda p: p.name)
async def test_transparent_returns_the_very_same_notification(path: Path) -> None:
    notification = _load(path)
    assert await _enricher("transparent").enrich(notification) is notification


@pytest.mark.parametrize("path", PAYLOADS, ids=lambda p: p.name)
async def test_enriched_adds_exactly_the_seven_ai_annotations(path: Path) -> None:
    notification = _load(path)
    enriched = await _enricher("enriched").enrich(notification)
    for added in _added(notification, enriched):
        assert set(added) == {f"ai_{k}" for k in ALL_KEYS}
        assert added["ai_severity"] in ("critical", "warning", "info")
        assert re.fullmatch(r"0\.\d\d|1\.00", added["ai_confidence"])
        assert added["ai_source"] == "rules"
        assert added["ai_model"].startswith("rules/")
        assert added["ai_category"]
        assert added["ai_summary"]


@pytest.mark.parametrize("path", PAYLOADS, ids=lambda p: p.name)
async def test_transparent_with_recommendations_adds_only_summary_recommendations_source(path: Path) -> None:
    notification = _load(path)
    enriched = await _enricher("transparent_with_recommendations").enrich(notification)
    for added in _added(notification, enriched):
        assert set(added) == {"ai_summary", "ai_recommendations", "ai_source"}
        assert added["ai_source"] == "rules"


@pytest.mark.parametrize("mode", sorted(ENRICHING))
@pytest.mark.parametrize("path", PAYLOADS, ids=lambda p: p.name)
async def test_enrichment_never_changes_labels_or_the_group(path: Path, mode: str) -> None:
    notification = _load(path)
    enriched = await _enricher(mode).enrich(notification)
    assert [a.labels for a in enriched.alerts] == [a.labels for a in notification.alerts]
    assert [a.identity for a in enriched.alerts] == [a.identity for a in notification.alerts]
    assert enriched.common_labels == notification.common_labels
    assert (enriched.status, enriched.group_key, enriched.group_labels, enriched.truncated_alerts) == (
        notification.status, notification.group_key, notification.group_labels, notification.truncated_alerts
    )


@pytest.mark.parametrize("mode", sorted(ENRICHING))
@pytest.mark.parametrize("path", PAYLOADS, ids=lambda p: p.name)
async def test_common_annotations_are_the_pairs_every_alert_shares(path: Path, mode: str) -> None:
    enriched = await _enricher(mode).enrich(_load(path))
    shared = set.intersection(*(set(a.annotations.items()) for a in enriched.alerts))
    assert enriched.common_annotations == dict(shared)


async def test_a_matching_rule_fills_every_annotation() -> None:
    """DiskFull (fixture 01) takes the `disk` rule; recommendations are one per line."""
    notification = _load(FIXTURES / "01-firing-single.json")
    (alert,) = (await _enricher().enrich(notification)).alerts
    instance = notification.alerts[0].labels["instance"]
    assert {k: v for k, v in alert.annotations.items() if k.startswith("ai_")} == {
        "ai_severity": "critical",
        "ai_category": "storage",
        "ai_confidence": "0.90",
        "ai_summary": f"{instance} disk is full",
        "ai_recommendations": f"Free space on {instance}\nCheck what grew",
        "ai_source": "rules",
        "ai_model": "rules/disk",
    }


@pytest.mark.parametrize(
    ("confidence", "text"), [(0, "0.00"), (1, "1.00"), (0.333, "0.33"), (0.5, "0.50"), (0.999, "1.00")]
)
async def test_confidence_has_two_decimals(confidence: float, text: str) -> None:
    rules = RULES.replace("confidence: 0.333", f"confidence: {confidence}")
    enriched = await _enricher(rules=rules).enrich(_load(FIXTURES / "02-firing-group-3-alerts.json"))
    assert {a.annotations["ai_confidence"] for a in enriched.alerts} == {text}


async def test_custom_annotation_prefix_is_used() -> None:
    notification = _load(FIXTURES / "02-firing-group-3-alerts.json")
    enriched = await _enricher(annotation_prefix="triage_").enrich(notification)
    for added in _added(notification, enriched):
        assert set(added) == {f"triage_{k}" for k in ALL_KEYS}
    assert "triage_severity" in enriched.common_annotations


@pytest.mark.parametrize(("set_labels", "new_labels"), [(False, set()), (True, {"ai_severity", "ai_category"})])
async def test_set_labels_adds_severity_and_category_labels_only_when_asked(
    set_labels: bool, new_labels: set[str]
) -> None:
    notification = _load(FIXTURES / "04-mixed-firing-resolved.json")
    enriched = await _enricher(set_labels=set_labels).enrich(notification)
    for old, new in zip(notification.alerts, enriched.alerts, strict=True):
        assert set(new.labels) - set(old.labels) == new_labels
        assert {k: new.labels[k] for k in old.labels} == dict(old.labels)
        for key in new_labels:
            assert new.labels[key] == new.annotations[key]


async def test_set_mode_switches_the_mode_used() -> None:
    notification = _load(FIXTURES / "01-firing-single.json")
    enricher = _enricher("enriched")
    enricher.set_mode("transparent")
    assert await enricher.enrich(notification) is notification
    assert await enricher.enrich(notification, mode="enriched") is not notification


@pytest.mark.parametrize("mode", ["", "Enriched", "verbose"])
def test_set_mode_rejects_an_unknown_mode(mode: str) -> None:
    enricher = _enricher("enriched")
    with pytest.raises(ValueError, match="mode must be one of"):
        enricher.set_mode(mode)
    assert enricher.mode == "enriched"
    assert set(MODES) == {"transparent", *ENRICHING}


async def test_on_classified_hears_every_alert_and_why_the_rules() -> None:
    heard: list[tuple[str, str]] = []
    enricher = Enricher(RuleClassifier.from_yaml(RULES), EnrichmentConfig(),
                        on_classified=lambda c, reason: heard.append((c.model, reason)))
    await enricher.enrich(_load(FIXTURES / "02-firing-group-3-alerts.json"))
    assert heard == [("rules/default", "llm_disabled")] * 3


async def test_alerts_amtriage_already_enriched_pass_through_untouched() -> None:
    """Pointed at the Alertmanager that feeds it, amtriage never classifies its own output again."""
    notification = parse((FIXTURES / "02-firing-group-3-alerts.json").read_bytes())
    mine = notification.alerts[0].with_annotations({**notification.alerts[0].annotations,
                                                    "ai_forwarded_by": "amtriage", "ai_summary": "kept as it was"})
    mixed = notification.with_alerts((mine, *notification.alerts[1:]))
    enricher = Enricher(RuleClassifier.builtin(), EnrichmentConfig())
    out = await enricher.enrich(mixed)
    assert out.alerts[0] is mine
    assert all(a.annotations["ai_source"] == "rules" for a in out.alerts[1:])
    only_mine = notification.with_alerts((mine,))
    assert await enricher.enrich(only_mine) is only_mine
