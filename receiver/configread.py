"""Reading a parsed YAML tree into typed values while collecting every error with its field path.

`Fields` wraps one mapping of the tree. Each getter returns a usable value (the default when the
field is absent or wrong) and records what was wrong, so one pass reports every mistake at once,
the way `amtool check-config` does:

    >>> errors: list[str] = []
    >>> f = Fields({"deadline": "soon"}, "enrichment", errors)
    >>> f.duration("deadline", 10.0)
    10.0
    >>> errors
    ['enrichment.deadline: must be a duration like 10s, 5m or 24h']
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$")
_SIZE_UNITS = {None: 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def expand(value: Any, environ: Mapping[str, str]) -> Any:
    """Expand `${VAR}` and `${VAR:-default}` in every string of a parsed tree (`$$` is a literal `$`)."""
    if isinstance(value, str):
        return _VAR.sub(lambda m: "$" if m.group(0) == "$$" else environ.get(m.group(1)) or (m.group(2) or ""), value)
    if isinstance(value, dict):
        return {k: expand(v, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, environ) for v in value]
    return value


def parse_duration(value: Any) -> float:
    """`10s`, `5m`, `1h30m`, `500ms` or a number of seconds; raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):  # a bare number of seconds, as from LLM_TIMEOUT=30
            return float(text)
        if not text or _DURATION_PART.sub("", text):
            raise ValueError(value)
        seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(text))
    if seconds < 0:
        raise ValueError(value)
    return seconds


def parse_size(value: Any) -> int:
    """`4MiB`, `512KiB`, `1MB` or a number of bytes; raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(value)
    found = _SIZE.match(str(value))
    if not found:
        raise ValueError(value)
    return int(float(found.group(1)) * _SIZE_UNITS[found.group(2)])


class Fields:
    """Typed, path-aware access to one mapping of the config tree; see the module docstring."""

    def __init__(self, raw: Any, path: str, errors: list[str]) -> None:
        self.path = path
        self.errors = errors
        self.seen: set[str] = set()
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            self.error("", "must be a mapping")
            raw = {}
        self.raw: dict[str, Any] = raw

    def where(self, key: str) -> str:
        if not key:
            return self.path or "(top level)"
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, message: str) -> None:
        self.errors.append(f"{self.where(key)}: {message}")

    def has(self, key: str) -> bool:
        return key in self.raw

    def get(self, key: str) -> Any:
        self.seen.add(key)
        return self.raw.get(key)

    def _typed(self, key: str, default: T, convert: Callable[[Any], T], want: str) -> T:
        value = self.get(key)
        if value is None:
            return default
        try:
            return convert(value)
        except (TypeError, ValueError):
            self.error(key, f"must be {want}")
            return default

    def string(self, key: str, default: str = "", *, required: bool = False) -> str:
        value = self.get(key)
        if value is None or value == "":
            if required:
                self.error(key, "is required")
            return default
        if isinstance(value, bool | dict | list):
            self.error(key, "must be a string")
            return default
        return str(value)

    def integer(self, key: str, default: int, minimum: int = 0) -> int:
        value = self._typed(key, default, _to_int, "an integer")
        if value < minimum:
            self.error(key, f"must be at least {minimum}")
            return default
        return value

    def number(self, key: str, default: float, lo: float = 0.0, hi: float = float("inf")) -> float:
        value = self._typed(key, default, _to_float, "a number")
        if not lo <= value <= hi:
            self.error(key, f"must be between {lo:g} and {hi:g}")
            return default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        return self._typed(key, default, _to_bool, "true or false")

    def duration(self, key: str, default: float) -> float:
        return self._typed(key, default, parse_duration, "a duration like 10s, 5m or 24h")

    def size(self, key: str, default: int) -> int:
        return self._typed(key, default, parse_size, "a size like 4MiB or 512KiB")

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.string(key, default)
        if value not in choices:
            self.error(key, f"must be one of {', '.join(choices)} (got {value!r})")
            return default
        return value

    def url(self, key: str, *, required: bool = False) -> str:
        value = self.secret(key)
        if value is None:
            if required:
                self.error(key, "is required")
            return ""
        if not re.match(r"^https?://[^/\s:]+", value):
            self.error(key, "must be an http(s) URL")
        return value

    def secret(self, key: str) -> str | None:
        """A secret given inline (`key`) or as a file (`key_file`, as Kubernetes mounts secrets)."""
        file_key = f"{key}_file"
        inline, path = self.string(key) or None, self.string(file_key) or None
        if inline and path:
            self.error(key, f"set either {key} or {file_key}, not both")
        if path:
            try:
                return Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                self.error(file_key, f"cannot read {path}: {exc.strerror}")
                return None
        return inline

    def required_secret(self, key: str) -> str:
        """A secret that must be given, inline or as `key_file` (an unreadable file is reported by `secret`)."""
        value = self.secret(key)
        if value is None and not self.has(f"{key}_file"):
            self.error(key, f"is required (or {key}_file)")
        return value or ""

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error(key, "must be a list of strings")
            return ()
        return tuple(value)

    def mapping(self, key: str) -> dict[str, str]:
        value = self.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(v, str | int | float) for v in value.values()):
            self.error(key, "must be a mapping of strings")
            return {}
        return {str(k): str(v) for k, v in value.items()}

    def section(self, key: str) -> Fields:
        return Fields(self.get(key), self.where(key), self.errors)

    def items(self, key: str) -> Iterator[Fields]:
        value = self.get(key)
        if value is None:
            return
        if not isinstance(value, list):
            self.error(key, "must be a list")
            return
        for i, item in enumerate(value):
            yield Fields(item, f"{self.where(key)}[{i}]", self.errors)

    def done(self) -> None:
        """Report the keys nobody asked for: a typo should not pass silently."""
        for key in self.raw:
            if key not in self.seen:
                self.error(key, "unknown field")


def _to_int(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    return int(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(value)
    return float(value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(value)


def environ_default() -> Mapping[str, str]:
    return os.environ
