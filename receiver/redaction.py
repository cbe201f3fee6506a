"""Redaction: secrets are masked in alert text before any of it leaves the process (pure, no I/O).

Built-in shapes, applied in this order to every label and annotation *value* (names are not
redacted: label names are identifiers the rule author chose, and the model needs them):

    PEM private key blocks    -----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY-----
    passwords in URLs         https://user:[REDACTED]@host   (the user is kept)
    Authorization values      Authorization: Basic [REDACTED]
    bearer tokens             Bearer [REDACTED]
    key=value secrets         password=, passwd=, secret=, token=, api_key=, access_key=, private_key=,
                              credentials= (also with a prefix or suffix: client_secret, access_token,
                              aws_secret_access_key; `:` works as well as `=`; JSON quotes kept)
    JWTs                      [REDACTED]
    API keys                  sk-ant-[REDACTED], sk-[REDACTED], AIza[REDACTED], xoxb-[REDACTED],
                              ghp_[REDACTED], github_pat_[REDACTED], AKIA[REDACTED], ASIA[REDACTED]
    emails (off by default)   [REDACTED]@example.com
    your patterns             the whole match, or only the group named `secret` if the pattern has one

A value whose *name* says it is a secret (`password`, `token`, `api_key`, `authorization`, ...) is
replaced whole. Configuration, under `llm:`:

    redaction:
      emails: false                       # also mask the local part of email addresses
      patterns: ['acct-[0-9]{8}', 'pin=(?P<secret>\\d+)']

    >>> Redactor().redact("curl -H 'Authorization: Bearer abc.def.ghi' https://bob:hunter2@db")
    "curl -H 'Authorization: Bearer [REDACTED]' https://bob:[REDACTED]@db"
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from receiver.configread import Fields

REDACTED = "[REDACTED]"

Replacement = str | Callable[[re.Match[str]], str]

_SECRET_WORDS = r"password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?"
_SECRET_NAME = re.compile(rf"(?i)(?:{_SECRET_WORDS}|authorization|auth[_-]?header)")

# (name, pattern, replacement); the order matters: broader contexts first, so a Bearer token inside
# an Authorization header is masked once and keeps the "Authorization: Bearer" words around it.
BUILTIN: tuple[tuple[str, re.Pattern[str], Replacement], ...] = (
    ("private_key", re.compile(
        r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|\Z)", re.DOTALL),
     rf"-----BEGIN \1PRIVATE KEY-----{REDACTED}-----END \1PRIVATE KEY-----"),
    ("url_password", re.compile(r"(?i)\b([a-z][a-z0-9+.\-]{0,31}://[^\s:/@?#]*):[^\s/?#@]+@"), rf"\1:{REDACTED}@"),
    ("authorization", re.compile(
        r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?)"
        r"((?:bearer|basic|token|digest|negotiate|apikey|sso-key)\s+)?+(?!\[REDACTED\])[^\s\"',;]+"),
     rf"\1\2{REDACTED}"),
    ("bearer", re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/]{8,}=*"), rf"\1{REDACTED}"),
    ("key_value", re.compile(
        rf"(?i)(?<![A-Za-z0-9])([A-Za-z0-9_\-]{{0,32}}(?:{_SECRET_WORDS})[A-Za-z0-9_\-]{{0,32}}[\"']?\s*[:=]\s*[\"']?)"
        r"(?!\[REDACTED\])[^\s\"'&,;]+"),
     rf"\1{REDACTED}"),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_\-]+\.eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"), REDACTED),
    ("anthropic_key", re.compile(r"\b(sk-ant-)[A-Za-z0-9_\-]{16,}"), rf"\1{REDACTED}"),
    ("openai_key", re.compile(r"\b(sk-)(?!ant-)[A-Za-z0-9_\-]{16,}"), rf"\1{REDACTED}"),
    ("google_key", re.compile(r"\b(AIza)[0-9A-Za-z_\-]{35}"), rf"\1{REDACTED}"),
    ("slack_token", re.compile(r"\b(xox[baprs]-)[A-Za-z0-9\-]{10,}"), rf"\1{REDACTED}"),
    ("github_token", re.compile(r"\b(gh[pousr]_|github_pat_)[A-Za-z0-9_]{20,}"), rf"\1{REDACTED}"),
    ("aws_access_key_id", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), rf"\1{REDACTED}"),
)
EMAIL: tuple[str, re.Pattern[str], Replacement] = (
    "email", re.compile(r"(?<![\w.%+\-])[\w.%+\-]+@((?:[A-Za-z0-9\-]+\.)+[A-Za-z]{2,})\b"), rf"{REDACTED}@\1",
)


def _mask(found: re.Match[str]) -> str:
    """A user pattern's match: only the `secret` group when the pattern names one, else all of it."""
    if "secret" not in found.re.groupindex or found.group("secret") is None:
        return REDACTED
    start, end = found.span("secret")
    whole = found.group(0)
    return whole[: start - found.start()] + REDACTED + whole[end - found.start():]


@dataclass(frozen=True, slots=True)
class Redactor:
    """Masks secrets in text; the built-in shapes plus optional emails and your own patterns.

        redactor = Redactor(emails=True, patterns=(re.compile(r"acct-\\d{8}"),))
        redactor.redact("owner bob@example.com, account acct-12345678")
        # 'owner [REDACTED]@example.com, account [REDACTED]'
        redactor.redact_map({"password": "hunter2"})   # {'password': '[REDACTED]'}
    """

    emails: bool = False
    patterns: tuple[re.Pattern[str], ...] = ()

    def redact(self, text: str) -> str:
        for _name, pattern, replacement in BUILTIN:
            text = pattern.sub(replacement, text)
        if self.emails:
            text = EMAIL[1].sub(EMAIL[2], text)
        for pattern in self.patterns:
            text = pattern.sub(_mask, text)
        return text

    def redact_map(self, values: Mapping[str, str]) -> dict[str, str]:
        """Every value redacted; a value whose name says it is a secret is replaced whole."""
        return {k: REDACTED if _SECRET_NAME.search(k) and v else self.redact(v) for k, v in values.items()}


def redactor_from(f: Fields) -> Redactor:
    """Read `redaction: {emails, patterns}` from the `llm` section `f`; errors go to `f.errors` with
    their field path (`llm.redaction.patterns[1]: not a valid regular expression: ...`)."""
    section = f.section("redaction")
    emails = section.boolean("emails", False)
    compiled: list[re.Pattern[str]] = []
    for i, text in enumerate(section.strings("patterns")):
        where = f"patterns[{i}]"
        try:
            pattern = re.compile(text)
        except re.error as exc:
            section.error(where, f"not a valid regular expression: {exc}")
            continue
        if pattern.search("") is not None:
            section.error(where, "matches the empty string (it would mask between every character)")
            continue
        compiled.append(pattern)
    section.done()
    return Redactor(emails=emails, patterns=tuple(compiled))
