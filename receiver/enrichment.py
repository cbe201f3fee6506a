"""The LLM side of classification, pure: batches of prompts, strict reply parsing, classification keys.

    batches = build_batches(alerts_missing_from_cache, settings)        # one Request per batch
    reply = await provider.complete(batches[0].request)
    by_key = results_by_key(batches[0], reply, provider="openai", model="gpt-4o")
    # cache by_key[key] when it is a Classification (a BadReply: that alert goes to the rules); then,
    # for every alert of the notification, fresh results included (their summaries are templates):
    annotated = render_for(alert, by_key[classification_key(alert)])   # source="cache" on a cache hit

Keys. `classification_key` hashes the alert rule in its context: every label but the per-instance
ones (`INSTANCE_LABELS`: instance, pod, host, node, ip, endpoint, ...; configurable) and the
annotations normalised (this alert's per-instance values, UUIDs, IPs, hex ids, host-like names with
digits and numbers become placeholders; whitespace collapsed). A new pod or host of a rule already
classified gets the same key; status is not part of it (a resolved alert reuses the firing one's).

Summaries. The prompt asks for summaries and recommendations that write per-instance values as
`{{ $labels.NAME }}`; `results_by_key` also turns literal per-instance values the model wrote into
such placeholders. A cached result is therefore a template: `render_for` fills it for one alert
(`{{ $labels.NAME }}`, `{{ $annotations.NAME }}`, `{{ $status }}`, the syntax of classifier.py,
values inserted once and never expanded again), prefixes "Resolved: " for a resolved alert, falls
back to the alertname if the summary renders empty and leaves out a recommendation with a hole.

Replies. Accepted: one JSON object, bare, in a ``` fence, or with prose around it; for a batch of
one, the classification object itself. Rejected as BadReply, for every alert of the reply: finish
length/refusal/safety, no or several JSON objects, a wrong shape, an id we did not send or one
that comes twice. Rejected for one alert: a missing entry, a wrong type, a severity not in
SEVERITIES, a confidence that is not a number in 0..1 (numeric strings too), a summary empty or
over 200 visible characters, over 5 recommendations or one over 300 characters, an unknown
`{{ ... }}`. The schema is the contract: nothing is truncated to fit it. A category outside
CATEGORIES becomes "other" (the fixed value is written, never the model's). Accepted strings lose
control and format characters and have their whitespace collapsed to single spaces.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from receiver.alerts import Alert
from receiver.classifier import MAX_RECOMMENDATIONS, SEVERITIES, SUMMARY_MAX, Classification
from receiver.errors import BadReply
from receiver.llm import Reply, Request
from receiver.prompt import (
    CATEGORIES,
    INSTANCE_LABELS,
    PROMPT_VERSION,
    PromptSettings,
    load_template,
    prompt_settings_from,
    render_request,
)
from receiver.redaction import Redactor, redactor_from

__all__ = [
    "CATEGORIES", "INSTANCE_LABELS", "PROMPT_VERSION", "Batch", "PromptSettings", "Redactor", "build_batches",
    "classification_key", "generalize", "load_template", "parse_reply", "prompt_settings_from", "redactor_from",
    "render_for", "render_request", "results_by_key",
]

RECOMMENDATION_MAX = 300
MAX_REPLY_CHARS = 64_000
KEY_SCHEME = "k1"  # bump when the key's inputs change, so old cache entries are not reused

_PLACEHOLDER = re.compile(r"\{\{\s*\$(?:(labels|annotations)\.([A-Za-z_][A-Za-z0-9_]*)|(status))\s*\}\}")
_BRACES = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_FENCE = re.compile(r"```[A-Za-z]*[ \t]*\n?(.*?)```", re.DOTALL)
_FINISH = {"length": "reply truncated (the model hit max_tokens)", "refusal": "the model refused",
           "safety": "blocked by the provider's safety filter"}
_SHAPES = (
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b|\b(?:[0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F]{1,4}\b"), "<ip>"),
    (re.compile(r"\b(?=[A-Za-z0-9.-]{0,253}\d)[A-Za-z][A-Za-z0-9]*(?:[-.][A-Za-z0-9]+)+\b"), "<host>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{6,}\b"), "<hex>"),
    (re.compile(r"\d+(?:[.,]\d+)*"), "<n>"),
)


@dataclass(frozen=True, slots=True)
class Batch:
    """One request for up to `batch_size` distinct alert rules; ids[i] stands for keys[i] and alerts[i].

        (batch,) = build_batches(alerts, PromptSettings(batch_size=10))
        batch.ids, batch.request.max_tokens          # ('a1', 'a2'), 896
    """

    request: Request
    ids: tuple[str, ...]
    keys: tuple[str, ...]
    alerts: tuple[Alert, ...]


def build_batches(alerts: Sequence[Alert], settings: PromptSettings) -> tuple[Batch, ...]:
    """One alert per classification key (the first seen), `settings.batch_size` per request, ids a1, a2, ..."""
    unique: dict[str, Alert] = {}
    for alert in alerts:
        unique.setdefault(classification_key(alert, settings.instance_labels), alert)
    pairs = list(unique.items())
    batches = []
    for start in range(0, len(pairs), settings.batch_size):
        chunk = pairs[start: start + settings.batch_size]
        ids = tuple(f"a{start + n + 1}" for n in range(len(chunk)))
        batch_alerts = tuple(a for _, a in chunk)
        request = render_request(list(zip(ids, batch_alerts, strict=True)), settings)
        batches.append(Batch(request, ids, tuple(k for k, _ in chunk), batch_alerts))
    return tuple(batches)


def results_by_key(
    batch: Batch, reply: Reply, *, provider: str, model: str, instance_labels: Collection[str] = INSTANCE_LABELS
) -> dict[str, Classification | BadReply]:
    """parse_reply for a batch, each accepted result generalized with its alert, by classification key."""
    parsed = parse_reply(reply, batch.ids, provider=provider, model=model)
    out: dict[str, Classification | BadReply] = {}
    for id_, key, alert in zip(batch.ids, batch.keys, batch.alerts, strict=True):
        result = parsed[id_]
        out[key] = result if isinstance(result, BadReply) else generalize(result, alert, instance_labels)
    return out


# --- reply parsing -----------------------------------------------------------------------------


def parse_reply(
    reply: Reply, ids: Sequence[str], *, provider: str, model: str
) -> dict[str, Classification | BadReply]:
    """Every id's Classification (source "llm", model "provider/model") or BadReply; never raises."""
    try:
        entries = _entries(reply, ids)
    except BadReply as exc:
        return {id_: BadReply(exc.detail) for id_ in ids}
    results: dict[str, Classification | BadReply] = {}
    for id_ in ids:
        if id_ not in entries:
            results[id_] = BadReply(f"{id_}: missing from the reply")
            continue
        try:
            results[id_] = _classification(entries[id_], f"{provider}/{model}")
        except BadReply as exc:
            results[id_] = BadReply(f"{id_}.{exc.detail}")
    return results


def _entries(reply: Reply, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    if reply.finish in _FINISH:
        raise BadReply(_FINISH[reply.finish])
    if len(reply.text) > MAX_REPLY_CHARS:
        raise BadReply(f"reply longer than {MAX_REPLY_CHARS} characters")
    doc = _one_object(reply.text)
    if len(ids) == 1 and "alerts" not in doc and "severity" in doc:
        doc = {"alerts": [{"id": ids[0], **doc}]}
    items = doc.get("alerts")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise BadReply('reply: "alerts" must be a list of objects')
    entries: dict[str, dict[str, Any]] = {}
    for item in items:
        id_ = item.get("id")
        if not isinstance(id_, str) or id_ not in ids:
            raise BadReply("reply names an alert id that was not sent")
        if id_ in entries:
            raise BadReply("reply names an alert id twice")
        entries[id_] = item
    return entries


def _one_object(text: str) -> dict[str, Any]:
    """The one JSON object of a reply: bare, in one ``` fence, or with prose (and no other object) around it."""
    fences = _FENCE.findall(text)
    if len(fences) > 1:
        raise BadReply("reply has more than one fenced block")
    body = fences[0] if fences else text
    start = body.find("{")
    if start < 0:
        raise BadReply("reply has no JSON object")
    decoder = json.JSONDecoder(parse_constant=_no_constant)
    try:
        doc, end = decoder.raw_decode(body, start)
    except (ValueError, RecursionError):
        raise BadReply("reply is not valid JSON") from None
    if not isinstance(doc, dict):
        raise BadReply("reply is not a JSON object")
    rest = body.find("{", end)
    if rest >= 0 and _decodes(decoder, body, rest):
        raise BadReply("reply has more than one JSON object")
    return doc


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _decodes(decoder: json.JSONDecoder, text: str, start: int) -> bool:
    try:
        return isinstance(decoder.raw_decode(text, start)[0], dict)
    except (ValueError, RecursionError):
        return False


def _classification(raw: Mapping[str, Any], model: str) -> Classification:
    severity = raw.get("severity")
    if not isinstance(severity, str) or severity.strip().lower() not in SEVERITIES:
        raise BadReply(f"severity: must be one of {', '.join(SEVERITIES)}")
    category = raw.get("category")
    if not isinstance(category, str):
        raise BadReply("category: must be a string")
    confidence = raw.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
        raise BadReply("confidence: must be a number from 0 to 1")
    return Classification(
        severity=severity.strip().lower(),
        category=category.strip().lower() if category.strip().lower() in CATEGORIES else "other",
        confidence=float(confidence),
        summary=_text(raw.get("summary"), "summary", SUMMARY_MAX),
        recommendations=_recommendations(raw.get("recommendations")),
        source="llm",
        model=model,
    )


def _recommendations(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list):
        raise BadReply("recommendations: must be a list of strings")
    if len(raw) > MAX_RECOMMENDATIONS:
        raise BadReply(f"recommendations: at most {MAX_RECOMMENDATIONS}")
    texts = (_text(r, f"recommendations[{i}]", RECOMMENDATION_MAX, empty_ok=True) for i, r in enumerate(raw))
    return tuple(t for t in texts if t)


def _text(raw: Any, where: str, limit: int, *, empty_ok: bool = False) -> str:
    """A model string made safe for an annotation, or BadReply; placeholders do not count towards `limit`."""
    if not isinstance(raw, str):
        raise BadReply(f"{where}: must be a string")
    text = clean(raw)
    if not text and not empty_ok:
        raise BadReply(f"{where}: is empty")
    if any(not _PLACEHOLDER.fullmatch(b) for b in _BRACES.findall(text)) or "{{" in _BRACES.sub("", text):
        raise BadReply(f"{where}: unknown template variable")
    if len(_PLACEHOLDER.sub("", text)) > limit or len(text) > 2 * limit:
        raise BadReply(f"{where}: longer than {limit} characters")
    return text


def clean(text: str) -> str:
    """Control and format characters (bidi overrides, zero-width) out, whitespace runs to one space."""
    kept = (" " if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co") and c != "\u200d" else c for c in text)
    return " ".join("".join(kept).split())


# --- keys and rendering ------------------------------------------------------------------------


def classification_key(alert: Alert, instance_labels: Collection[str] = INSTANCE_LABELS) -> str:
    """A stable hash of the alert rule in its context; equal for two instances (pods, hosts) of one rule."""
    labels = {k: v for k, v in alert.labels.items() if k not in instance_labels}
    values = _instance_values(alert, instance_labels)
    annotations = {k: _normalise(v, values) for k, v in alert.annotations.items()}
    doc = json.dumps([labels, annotations], ensure_ascii=False, sort_keys=True)
    return f"{KEY_SCHEME}:{hashlib.blake2b(doc.encode(), digest_size=16).hexdigest()}"


def _instance_values(alert: Alert, instance_labels: Collection[str]) -> list[tuple[str, str]]:
    """(value, name) of this alert's per-instance labels, and the host of host:port values, longest first."""
    found: dict[str, str] = {}
    for name in sorted(instance_labels):
        value = alert.labels.get(name, "")
        for v in (value, value.rsplit(":", 1)[0] if ":" in value else ""):
            if len(v) >= 3:
                found.setdefault(v, name)
    return sorted(found.items(), key=lambda item: (-len(item[0]), item[0]))


def _normalise(text: str, values: Sequence[tuple[str, str]]) -> str:
    if values:
        names = dict(values)
        text = _literal([v for v, _ in values]).sub(lambda m: f"<{names[m.group(0)]}>", text)
    for shape, placeholder in _SHAPES:
        text = shape.sub(placeholder, text)
    return " ".join(text.split())


def _literal(values: Sequence[str]) -> re.Pattern[str]:
    """Any of `values` (longest first wins) as a whole word: not inside a longer name."""
    return re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(v) for v in values) + r")(?![\w-])")


def generalize(
    result: Classification, alert: Alert, instance_labels: Collection[str] = INSTANCE_LABELS
) -> Classification:
    """The result with the literal per-instance label values of `alert` turned into `{{ $labels.NAME }}`."""
    found = {v: n for v, n in _instance_values(alert, instance_labels) if alert.labels.get(n) == v}
    if not found:
        return result
    # one pass; an existing placeholder matches first and is kept as it is
    pattern = re.compile(f"(?P<kept>{_PLACEHOLDER.pattern})|{_literal(list(found)).pattern}")

    def swap(text: str) -> str:
        return pattern.sub(lambda m: m.group("kept") or f"{{{{ $labels.{found[m.group(0)]} }}}}", text)

    return replace(result, summary=swap(result.summary), recommendations=tuple(map(swap, result.recommendations)))


def render_for(alert: Alert, cached: Classification, *, source: str | None = None) -> Classification:
    """The cached (template) result filled in for this alert; `source` replaces its source if given."""
    summary, _ = _fill(cached.summary, alert)
    summary = summary or clean(alert.labels.get("alertname", "")) or "alert"
    if alert.status == "resolved" and not any(m.group(3) for m in _PLACEHOLDER.finditer(cached.summary)):
        summary = f"Resolved: {summary}"
    summary = _cap(summary, SUMMARY_MAX)
    filled = (_fill(r, alert) for r in cached.recommendations)
    recommendations = tuple(_cap(text, RECOMMENDATION_MAX) for text, complete in filled if complete and text)
    return replace(cached, summary=summary, recommendations=recommendations, source=source or cached.source)


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _fill(template: str, alert: Alert) -> tuple[str, bool]:
    """The template with this alert's values (cleaned, inserted once), and whether none was missing."""
    missing = False

    def value(found: re.Match[str]) -> str:
        nonlocal missing
        kind, name, status = found.groups()
        values = alert.labels if kind == "labels" else alert.annotations
        text = clean(alert.status if status else values.get(name, ""))
        missing = missing or not text
        return text

    text = _PLACEHOLDER.sub(value, template)
    if missing:  # tidy what a hole leaves: "()" and spaces before punctuation
        text = re.sub(r"\s+([,.;:)\]])", r"\1", re.sub(r"\(\s*\)|\[\s*\]", "", text))
    return clean(text), not missing
