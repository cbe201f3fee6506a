"""The rule-based classifier: ordered rules loaded from YAML, first match wins.

It answers when the LLM is off, slow, failing or over budget. A rule matches when all its
Alertmanager matchers match the alert's labels merged with its annotations (labels win on a clash);
the `default` rule answers when none does.

- Severity: the alert's own `severity` label when it is a known word (critical/page/high/error/
  emergency/fatal, warning/warn/medium/minor, info/informational/low/none/notice), else the rule's;
  a rule opts out with `respect_severity_label: false`. Everything else comes from the rule.
- Templates know `{{ $labels.NAME }}`, `{{ $annotations.NAME }}` and `{{ $status }}`; any other
  `{{ ... }}` is a ConfigError at load. Values are inserted as they are, never expanded again.
  A missing (or blank) value renders as "", and what it leaves behind is tidied: brackets with
  nothing in them, the "/" of "{{ $labels.namespace }}/{{ $labels.pod }}", spaces before `:;,)]`
  and separators at either end ("DiskFull: " becomes "DiskFull"). The rule's own text is kept as
  written, except that runs of whitespace (newlines too) become one space.
- The summary is one line of at most 200 characters (199 plus "…"), the alertname if it renders
  empty, and reads "Resolved: …" for a resolved alert unless its template uses `{{ $status }}`.
  A recommendation that uses a label or annotation the alert lacks is left out (a command with a
  hole misleads), so one rule can carry advice for several exporters' label sets.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cachetools import LRUCache

from receiver.alerts import Alert
from receiver.errors import ConfigError
from receiver.matchers import Matcher, matches_all, parse_matcher

SEVERITIES = ("critical", "warning", "info")
SUMMARY_MAX = 200
MAX_RECOMMENDATIONS = 5

SEVERITY_WORDS: dict[str, str] = {
    **dict.fromkeys(("critical", "page", "high", "error", "emergency", "fatal"), "critical"),
    **dict.fromkeys(("warning", "warn", "medium", "minor"), "warning"),
    **dict.fromkeys(("info", "informational", "low", "none", "notice"), "info"),
}  # what people write in a `severity` label, as ours
_PLACEHOLDER = re.compile(r"\{\{\s*\$(?:(labels|annotations)\.([A-Za-z_][A-Za-z0-9_]*)|(status))\s*\}\}")
_BRACES = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_MISSING = "\x00"  # stands for a missing value while rendering, so tidying never touches the rule's own text
_LEFT_EMPTY = re.compile(r"[(\[][\s\x00/]*\x00[\s\x00/]*[)\]]|(?<!\S)\x00/(?=[\w\x00])|(?<=[\w\x00])/\x00(?!\S)")
_DANGLING = re.compile(
    r"^[\s\x00]*\x00[\s:;,|\-\u2013\u2014\x00]*"  # separators after a missing value at the start
    r"|[\s:;,|\-\u2013\u2014\x00]*\x00[\s\x00]*$"  # or before one at the end
    r"|\s*\x00[\s\x00]*(?=[:;,)\]])|(?<=[(\[])[\s\x00]*\x00\s*"  # spaces it leaves inside punctuation
)
_RULE_KEYS = ("name", "match", "severity", "category", "confidence", "summary", "recommendations",
              "respect_severity_label")
_DEFAULT_KEYS = _RULE_KEYS[2:]


@dataclass(frozen=True, slots=True)
class Classification:
    """What a classifier says about one alert; becomes the ai_* annotations."""

    severity: str
    category: str
    confidence: float
    summary: str
    recommendations: tuple[str, ...]
    source: str = "rules"
    model: str = "rules/default"


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule; `summary` and `recommendations` are templates (see the module docstring)."""

    name: str
    matchers: tuple[Matcher, ...]
    severity: str
    category: str
    confidence: float
    summary: str
    recommendations: tuple[str, ...] = ()
    respect_severity_label: bool = True


_BUILTIN_DEFAULT = Rule(
    "default", (), "warning", "other", 0.3, "{{ $labels.alertname }}: {{ $annotations.summary }}",
    ("Read the alert's description: {{ $annotations.description }}",
     "Follow the runbook: {{ $annotations.runbook_url }}"),
)


class RuleClassifier:
    """Classifies alerts with ordered rules; the first rule whose matchers all match wins.

        classifier = RuleClassifier.from_file("config/classifier.yaml")   # or .builtin()
        result = classifier.classify(notification.alerts[0])
        result.severity, result.category, result.model   # ('critical', 'storage', 'rules/disk-space')
    """

    __slots__ = ("_default", "_lock", "_memo", "_rules")

    def __init__(self, rules: Sequence[Rule], default: Rule, *, memo_size: int = 10_000) -> None:
        self._rules = tuple(rules)
        self._default = default
        # The same alert comes back (repeat_interval, group updates, HA pairs): remember its result.
        self._memo: LRUCache[tuple[object, ...], Classification] = LRUCache(maxsize=max(1, memo_size))
        self._lock = threading.Lock()  # delivery and the dry-run endpoint classify from two threads

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._rules

    @property
    def default(self) -> Rule:
        return self._default

    @classmethod
    def from_yaml(cls, text: str, source: str = "classifier.yaml") -> RuleClassifier:
        """Load rules from YAML text; raises ConfigError listing every problem with its field path."""
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError([f"{source}: not valid YAML: {exc}"]) from None
        rules, default = _load(doc, source)
        return cls(rules, default)

    @classmethod
    def from_file(cls, path: str | Path) -> RuleClassifier:
        """Load rules from a YAML file; an unreadable file is a ConfigError too."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([f"{path}: cannot read rules file: {exc}"]) from None
        return cls.from_yaml(text, source=str(path))

    @classmethod
    def builtin(cls) -> RuleClassifier:
        """No rules, only a default (warning, other) that repeats the alert's own summary."""
        return cls((), _BUILTIN_DEFAULT)

    def match(self, alert: Alert) -> Rule:
        """The first rule that matches the alert's labels and annotations, else the default."""
        view = {**alert.annotations, **alert.labels}
        return next((r for r in self._rules if matches_all(r.matchers, view)), self._default)

    def classify(self, alert: Alert) -> Classification:
        """Severity, category, confidence and this alert's own summary and recommendations."""
        key = (alert.status, *alert.labels.items(), None, *alert.annotations.items())
        with self._lock:
            known = self._memo.get(key)
        if known is None:
            known = self._classify(alert)
            with self._lock:
                self._memo[key] = known
        return known

    def _classify(self, alert: Alert) -> Classification:
        rule = self.match(alert)
        return Classification(
            severity=_severity(rule, alert.labels),
            category=rule.category,
            confidence=rule.confidence,
            summary=_summary(rule.summary, alert),
            recommendations=_recommendations(rule.recommendations, alert),
            model=f"rules/{rule.name}",
        )


def _severity(rule: Rule, labels: Mapping[str, str]) -> str:
    if rule.respect_severity_label:
        word = SEVERITY_WORDS.get(labels.get("severity", "").strip().lower())
        if word:
            return word
    return rule.severity


def _value(alert: Alert, kind: str, name: str, status: str) -> str:
    """What one placeholder stands for; "" when the label or annotation is missing or blank."""
    text = alert.status if status else (alert.labels if kind == "labels" else alert.annotations).get(name, "")
    return text if text.strip() else ""


def _render(template: str, alert: Alert) -> str:
    def value(found: re.Match[str]) -> str:
        return _value(alert, *found.groups("")).replace(_MISSING, "") or _MISSING

    text = _DANGLING.sub("", _LEFT_EMPTY.sub(_MISSING, _PLACEHOLDER.sub(value, template)))
    return " ".join(text.replace(_MISSING, "").split())


def _recommendations(templates: Sequence[str], alert: Alert) -> tuple[str, ...]:
    complete = (t for t in templates if all(_value(alert, *g) for g in _PLACEHOLDER.findall(t)))
    return tuple(text for text in (_render(t, alert) for t in complete) if text)[:MAX_RECOMMENDATIONS]


def _summary(template: str, alert: Alert) -> str:
    text = _render(template, alert) or " ".join(alert.labels.get("alertname", "").split()) or "alert"
    if alert.status == "resolved" and not any(m.group(3) for m in _PLACEHOLDER.finditer(template)):
        text = f"Resolved: {text}"
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1].rstrip() + "…"


# Loading: every check appends "path: message" to `errors`; _load raises once with all of them.

_SCALARS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "name": (lambda v: isinstance(v, str) and bool(v.strip()), "must be a non-empty string"),
    "severity": (lambda v: v in SEVERITIES, f"must be one of {', '.join(SEVERITIES)}"),
    "category": (lambda v: isinstance(v, str) and bool(v.strip()), "must be a non-empty string"),
    "confidence": (lambda v: type(v) in (int, float) and 0 <= v <= 1, "must be a number from 0 to 1"),
    "summary": (lambda v: isinstance(v, str) and bool(v.strip()), "must be a non-empty string"),
    "respect_severity_label": (lambda v: isinstance(v, bool), "must be true or false"),
}
_OPTIONAL: dict[str, Any] = {"respect_severity_label": True}


def _load(doc: Any, source: str) -> tuple[list[Rule], Rule]:
    if not isinstance(doc, dict):
        raise ConfigError([f"{source}: must be a mapping with `rules` and `default`"])
    errors: list[str] = []
    _unknown_keys(doc, ("rules", "default"), "", errors)
    raw_rules = doc.get("rules", [])
    rules: list[Rule] = []
    if isinstance(raw_rules, list):
        rules = [r for i, raw in enumerate(raw_rules) if (r := _rule(raw, f"rules[{i}]", errors)) is not None]
        _check_names(raw_rules, errors)
    else:
        errors.append("rules: must be a list of rules")
    default = _rule(doc["default"], "default", errors) if "default" in doc else None
    if "default" not in doc:
        errors.append("default: is required (the rule used when no other matches)")
    if errors or default is None:
        raise ConfigError(errors)
    return rules, default


def _rule(raw: Any, path: str, errors: list[str]) -> Rule | None:
    if not isinstance(raw, dict):
        errors.append(f"{path}: must be a mapping")
        return None
    is_default = path == "default"
    before = len(errors)
    _unknown_keys(raw, _DEFAULT_KEYS if is_default else _RULE_KEYS, path, errors)
    scalars = [key for key in _SCALARS if not (is_default and key == "name")]
    values = {key: _scalar(raw, key, path, errors) for key in scalars}
    _template(values["summary"] or "", f"{path}.summary", errors)
    matchers = () if is_default else _matchers(raw.get("match"), f"{path}.match", errors)
    recommendations = _templates(raw.get("recommendations", []), f"{path}.recommendations", errors)
    if len(errors) > before:
        return None
    values.setdefault("name", "default")
    values["confidence"] = float(values["confidence"])
    return Rule(matchers=matchers, recommendations=recommendations, **values)


def _scalar(raw: dict[Any, Any], key: str, path: str, errors: list[str]) -> Any:
    value = raw.get(key, _OPTIONAL.get(key))
    valid, want = _SCALARS[key]
    if value is None:
        errors.append(f"{path}.{key}: is required")
    elif not valid(value):
        errors.append(f"{path}.{key}: {want} (got {value!r})")
    else:
        return value
    return None


def _unknown_keys(raw: dict[Any, Any], allowed: Sequence[str], path: str, errors: list[str]) -> None:
    for key in raw:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            errors.append(f"{where}: unknown key (allowed: {', '.join(allowed)})")


def _check_names(raw_rules: list[Any], errors: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_rules):
        name = raw.get("name") if isinstance(raw, dict) else None
        if not isinstance(name, str) or not name.strip():
            continue
        if name == "default":
            errors.append(f"rules[{i}].name: 'default' is reserved for the default rule")
        elif name in seen:
            errors.append(f"rules[{i}].name: duplicate of rules[{seen[name]}].name ({name!r})")
        seen.setdefault(name, i)


def _matchers(raw: Any, path: str, errors: list[str]) -> tuple[Matcher, ...]:
    if not isinstance(raw, list) or not raw:
        errors.append(f"{path}: must be a non-empty list of matchers like 'alertname=~\"Node.*\"'")
        return ()
    matchers: list[Matcher] = []
    for j, text in enumerate(raw):
        if not isinstance(text, str):
            errors.append(f"{path}[{j}]: must be a string")
            continue
        try:
            matchers.append(parse_matcher(text))
        except ValueError as exc:
            errors.append(f"{path}[{j}]: {exc}")
    return tuple(matchers)


def _templates(raw: Any, path: str, errors: list[str]) -> tuple[str, ...]:
    if not isinstance(raw, list):
        errors.append(f"{path}: must be a list of strings")
        return ()
    if len(raw) > MAX_RECOMMENDATIONS:
        errors.append(f"{path}: at most {MAX_RECOMMENDATIONS} recommendations (got {len(raw)})")
    for j, item in enumerate(raw):
        if not isinstance(item, str) or not item.strip():
            errors.append(f"{path}[{j}]: must be a non-empty string")
        else:
            _template(item, f"{path}[{j}]", errors)
    return tuple(item for item in raw if isinstance(item, str))


def _template(text: str, path: str, errors: list[str]) -> None:
    for found in _BRACES.finditer(text):
        if not _PLACEHOLDER.fullmatch(found.group(0)):
            errors.append(
                f"{path}: unknown template variable {found.group(0)!r} "
                "(known: {{ $labels.NAME }}, {{ $annotations.NAME }}, {{ $status }})"
            )
    if "{{" in _BRACES.sub("", text):
        errors.append(f"{path}: '{{{{' without a closing '}}}}'")
