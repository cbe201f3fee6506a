"""Provider authentication as configurable pieces, chained, read from a provider's `auth:` section.

Each provider type has a default chain (openai: bearer; azure: `api-key` header; anthropic: `x-api-key`;
gemini: `x-goog-api-key`; ollama, openai_compatible, proxy: bearer when an api_key is set, else none).
`auth:` replaces it with one piece or a list of pieces; every key comes from the provider's `api_key`
(or `api_key_file`) unless the piece names its own secret. Keys go in headers, never in the URL.

    llm:
      providers:
        - name: inhouse
          type: proxy
          base_url: https://classifier.internal/v1/classify
          api_key_file: /etc/amtriage/proxy-key
          auth:
            - {type: bearer}                                    # Authorization: Bearer <api_key>
            - {type: api_key, header: X-Tenant-Key, key_file: /etc/amtriage/tenant-key}
            - {type: basic, username: amtriage, password_file: /etc/amtriage/proxy-password}
          headers: {X-Team: sre}                                # static headers, always sent
        - {name: local, type: ollama, model: llama3.1, auth: {type: none}}

Static `headers:` are applied first, the auth pieces after them (a piece wins over a static header of
the same name). `Auth.scrub` removes every secret from a text before it goes into an error or a log.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from multidict import CIMultiDict

from receiver.configread import Fields

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP header name (RFC 9110 token)


@dataclass(frozen=True, slots=True)
class Bearer:
    """`Authorization: Bearer <token>`; `token` None means the provider's api_key."""

    token: str | None = None
    optional: bool = False  # with no key at all, send nothing (instead of failing the config)

    def headers(self, api_key: str | None) -> dict[str, str]:
        token = self.token or api_key
        return {"Authorization": f"Bearer {token}"} if token else {}

    def secrets(self) -> tuple[str, ...]:
        return (self.token,) if self.token else ()


@dataclass(frozen=True, slots=True)
class ApiKeyHeader:
    """The key in a named header (`x-api-key: <key>`), optionally after a prefix."""

    header: str
    key: str | None = None
    prefix: str = ""
    optional: bool = False

    def headers(self, api_key: str | None) -> dict[str, str]:
        key = self.key or api_key
        return {self.header: f"{self.prefix}{key}"} if key else {}

    def secrets(self) -> tuple[str, ...]:
        return (self.key,) if self.key else ()


@dataclass(frozen=True, slots=True)
class Basic:
    """`Authorization: Basic base64(username:password)`."""

    username: str
    password: str = ""
    optional: bool = False

    def headers(self, api_key: str | None) -> dict[str, str]:
        return {"Authorization": f"Basic {self.encoded}"}

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.password, self.encoded) if s)

    @property
    def encoded(self) -> str:
        return base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


Piece = Bearer | ApiKeyHeader | Basic
NO_AUTH: tuple[Piece, ...] = ()
BEARER: tuple[Piece, ...] = (Bearer(),)
BEARER_IF_KEY: tuple[Piece, ...] = (Bearer(optional=True),)


def api_key_header(name: str) -> tuple[Piece, ...]:
    """A provider's default: its api_key in header `name` (no header when there is no key)."""
    return (ApiKeyHeader(name, optional=True),)


@dataclass(frozen=True, slots=True)
class Auth:
    """The headers a provider sends on every request, and the secrets that must never leave in a text.

        auth = Auth.build((Bearer(),), api_key="sk-...", static={"X-Title": "amtriage"})
        await post(session, url, payload, headers=auth.headers, timeout=30, scrub=auth.scrub)
    """

    headers: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()

    @classmethod
    def build(cls, pieces: tuple[Piece, ...], *, api_key: str | None, static: Mapping[str, str]) -> Auth:
        headers: CIMultiDict[str] = CIMultiDict(static)
        secrets = {api_key} if api_key else set()
        for piece in pieces:
            headers.update(piece.headers(api_key))
            secrets.update(piece.secrets())
        return cls(dict(headers), tuple(sorted(secrets, key=len, reverse=True)))

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[REDACTED]")
        return text


def read_auth(f: Fields, default: tuple[Piece, ...]) -> tuple[Piece, ...]:
    """The provider's `auth:` (one piece or a list), or `default` when absent; errors by field path."""
    raw = f.raw.get("auth")
    if raw is None:
        return default
    sections = list(f.items("auth")) if isinstance(raw, list) else [f.section("auth")]
    has_key = bool(f.raw.get("api_key") or f.raw.get("api_key_file"))
    pieces: list[Piece] = []
    for section in sections:
        if not section.has("type"):
            section.error("type", f"is required ({', '.join(_READERS)})")
        kind = section.choice("type", "none", tuple(_READERS))
        piece = _READERS[kind](section)
        section.done()
        if piece is None:
            continue
        if not has_key and not piece.optional and not piece.headers(None):
            section.error("type", f"auth type {kind} needs the provider's api_key (or api_key_file) "
                                  "or a secret of its own")
        pieces.append(piece)
    return tuple(pieces)


def _bearer(f: Fields) -> Piece:
    return Bearer(token=f.secret("token"))


def _api_key(f: Fields) -> Piece:
    header = f.string("header", required=True)
    if header and not _TOKEN.match(header):
        f.error("header", "must be an HTTP header name")
    return ApiKeyHeader(header or "x-api-key", key=f.secret("key"), prefix=f.string("prefix"))


def _basic(f: Fields) -> Piece:
    username = f.string("username", required=True)
    if not (f.has("password") or f.has("password_file")):
        f.error("password", "is required with basic auth (or password_file)")
    return Basic(username, f.secret("password") or "")


def _none(f: Fields) -> Piece | None:
    return None


_READERS: dict[str, Callable[[Fields], Piece | None]] = {
    "bearer": _bearer, "api_key": _api_key, "basic": _basic, "none": _none,
}
