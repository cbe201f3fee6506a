"""Alertmanager matchers: `name="value"`, `name!="value"`, `name=~"regex"`, `name!~"regex"`.

Regexes are anchored, as in Alertmanager. A missing label matches as the empty string, so
`team!="ops"` matches an alert without `team` and `team=""` matches it too.

    >>> m = parse_matcher('namespace=~"prod-.*"')
    >>> m.matches({"namespace": "prod-eu"})
    True
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^"\s,]*))\s*$')
_OPS = ("=", "!=", "=~", "!~")


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher; `matches` sees a flat mapping of labels (and, after enrichment, ai_* annotations)."""

    name: str
    op: str
    value: str
    pattern: re.Pattern[str] | None = None

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self.pattern is not None
        found = self.pattern.fullmatch(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher; raises ValueError with a message fit for a config error."""
    found = _MATCHER.match(text)
    if not found:
        raise ValueError(f'not a matcher (want name="value", name!="value", name=~"re" or name!~"re"): {text!r}')
    name, op, quoted, bare = found.groups()
    value = _unescape(quoted) if quoted is not None else bare
    if op in ("=~", "!~"):
        try:
            return Matcher(name, op, value, re.compile(value))
        except re.error as exc:
            raise ValueError(f"bad regex {value!r}: {exc}") from None
    return Matcher(name, op, value)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), value)
