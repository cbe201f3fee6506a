"""Redaction: every built-in secret shape is masked before a prompt is built; user patterns; config errors."""

from __future__ import annotations

import pytest

from receiver.alerts import Alert
from receiver.configread import Fields
from receiver.prompt import PromptSettings, render_request
from receiver.redaction import REDACTED, Redactor, redactor_from

GOOGLE_KEY = "AIzaSy" + "A1b2C3d4E5" * 3 + "f6G"
GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5" * 3 + "F6g7H8"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"

# (shape, text as it appears in an alert, the secret, what the masked text must still show)
SHAPES = [
    ("bearer", "upstream said 401 for Bearer abcDEF123456ghiJKL789", "abcDEF123456ghiJKL789", "Bearer [REDACTED]"),
    ("authorization basic", "sent Authorization: Basic dXNlcjpodW50ZXIy to api", "dXNlcjpodW50ZXIy",
     "Authorization: Basic [REDACTED]"),
    ("authorization json", '{"authorization": "Token 9f8e7d6c5b4a3210"}', "9f8e7d6c5b4a3210",
     '"authorization": "Token [REDACTED]"'),
    ("openai key", "key sk-proj-AbCdEf0123456789GhIjKl rejected", "AbCdEf0123456789GhIjKl", "sk-[REDACTED]"),
    ("anthropic key", "key sk-ant-api03-AbCdEf0123456789GhIjKlMn rejected", "api03-AbCdEf0123456789GhIjKlMn",
     "sk-ant-[REDACTED]"),
    ("google key", f"gemini key {GOOGLE_KEY} invalid", GOOGLE_KEY[4:], "AIza[REDACTED]"),
    ("slack token", "slack xoxb-123456789012-1234567890123-AbCdEfGhIjKl failed", "123456789012-1234567890123",
     "xoxb-[REDACTED]"),
    ("github token", f"clone with {GITHUB_TOKEN} failed", GITHUB_TOKEN[4:], "ghp_[REDACTED]"),
    ("github fine-grained token", "token github_pat_11ABCDEFG0123456789_abcdefXYZ", "11ABCDEFG0123456789_abcdefXYZ",
     "github_pat_[REDACTED]"),
    ("aws access key id", "caller AKIAIOSFODNN7EXAMPLE denied", "IOSFODNN7EXAMPLE", "AKIA[REDACTED]"),
    ("aws session key id", "caller ASIAY34FZKBOKMUTVV7A denied", "Y34FZKBOKMUTVV7A", "ASIA[REDACTED]"),
    ("aws secret access key", "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY in env",
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key=[REDACTED]"),
    ("jwt", f"session {JWT} expired", "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "session [REDACTED] expired"),
    ("pem private key", "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1b2c3d4\n-----END RSA PRIVATE KEY-----",
     "MIIEowIBAAKCAQEA1b2c3d4", "-----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY-----"),
    ("pem private key, cut off", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0", "MIIEvQIBADANBgkqhkiG9w0",
     "-----BEGIN PRIVATE KEY-----[REDACTED]"),
    ("password in url", "dial postgres://app:s3cr3tP4ss@db.internal:5432/app failed", "s3cr3tP4ss",
     "postgres://app:[REDACTED]@db.internal:5432/app"),
    ("password in url, no user", "redis://:r3dispass@cache:6379/0 down", "r3dispass", "redis://:[REDACTED]@cache"),
    ("password=", "login failed password=hunter2x for app", "hunter2x", "password=[REDACTED] for app"),
    ("passwd=", "ldap passwd=Tr0ub4dor rejected", "Tr0ub4dor", "passwd=[REDACTED]"),
    ("secret=", "rotated secret=qwerty123456 today", "qwerty123456", "secret=[REDACTED]"),
    ("token=", "callback https://hook.example/cb?token=tok_abc123&x=1", "tok_abc123", "?token=[REDACTED]&x=1"),
    ("client_secret:", "client_secret: cs_9a8b7c6d5e", "cs_9a8b7c6d5e", "client_secret: [REDACTED]"),
    ("json password", '{"user": "app", "password": "pa55word"}', "pa55word", '"password": "[REDACTED]"'),
]


def alert_with(text: str) -> Alert:
    return Alert("firing", {"alertname": "Leak", "detail": text}, {"description": text}, "2026-01-01T00:00:00Z")


@pytest.mark.parametrize(("shape", "text", "secret", "kept"), SHAPES, ids=[s[0] for s in SHAPES])
def test_builtin_shape_is_masked_keeping_its_shape(shape: str, text: str, secret: str, kept: str) -> None:
    """Each built-in shape loses its secret and keeps enough around it for the model to understand."""
    masked = Redactor().redact(text)
    assert secret not in masked
    assert kept in masked


@pytest.mark.parametrize(("shape", "text", "secret", "kept"), SHAPES, ids=[s[0] for s in SHAPES])
def test_builtin_shape_never_reaches_the_prompt(shape: str, text: str, secret: str, kept: str) -> None:
    """A secret in a label value or an annotation value appears nowhere in the system or user part."""
    request = render_request([("a1", alert_with(text))], PromptSettings())
    assert secret not in request.system + request.user
    assert REDACTED in request.user


def test_redaction_is_idempotent() -> None:
    """Redacting twice gives the same text (a masked value is not masked again into something else)."""
    once = Redactor(emails=True).redact(" ".join(s[1] for s in SHAPES) + " ops@example.com")
    assert Redactor(emails=True).redact(once) == once


def test_value_named_like_a_secret_is_replaced_whole() -> None:
    """A label or annotation called password/token/api_key/authorization is masked whatever its value looks like."""
    masked = Redactor().redact_map({"password": "hunter2", "db_token": "x", "api-key": "k", "team": "sre"})
    assert masked == {"password": REDACTED, "db_token": REDACTED, "api-key": REDACTED, "team": "sre"}


def test_names_are_not_redacted() -> None:
    """Label and annotation names are kept (the model needs them); only values are masked."""
    assert list(Redactor().redact_map({"password": "x", "summary": "token=abc123"})) == ["password", "summary"]


def test_emails_are_kept_unless_enabled() -> None:
    """Email addresses pass by default; with emails on, the local part is masked and the domain kept."""
    text = "owner jane.doe+oncall@example.com"
    assert Redactor().redact(text) == text
    assert Redactor(emails=True).redact(text) == "owner [REDACTED]@example.com"


def test_ordinary_alert_text_is_untouched() -> None:
    """Everyday alert text (numbers, URLs without credentials, hostnames) passes unchanged."""
    text = "p99 latency 1.4s on checkout-a:8080, see https://grafana.example/d/abc?orgId=1 (token bucket empty)"
    assert Redactor().redact(text) == text


def test_user_patterns_mask_the_whole_match_or_the_secret_group() -> None:
    """A configured pattern masks its whole match, or only its `secret` group when it names one."""
    errors: list[str] = []
    redactor = redactor_from(Fields({"redaction": {"patterns": [r"acct-\d{8}", r"pin (?P<secret>\d{4,})"]}},
                                    "llm", errors))
    assert errors == []
    assert redactor.redact("account acct-12345678 pin 998877 ok") == "account [REDACTED] pin [REDACTED] ok"


def test_config_reads_emails_and_patterns() -> None:
    """`llm.redaction.emails: true` turns email masking on; patterns are compiled once, in order."""
    errors: list[str] = []
    redactor = redactor_from(Fields({"redaction": {"emails": True, "patterns": ["a+b", "c+d"]}}, "llm", errors))
    assert errors == []
    assert redactor.emails
    assert [p.pattern for p in redactor.patterns] == ["a+b", "c+d"]


def test_bad_regex_is_reported_with_its_field_path() -> None:
    """A pattern that does not compile is named by its index: llm.redaction.patterns[1]: ..."""
    errors: list[str] = []
    redactor_from(Fields({"redaction": {"patterns": ["ok-[0-9]+", "broken(["]}}, "llm", errors))
    assert len(errors) == 1
    assert errors[0].startswith("llm.redaction.patterns[1]: not a valid regular expression")


def test_pattern_matching_empty_string_is_refused() -> None:
    """A pattern that matches "" would mask between every character: refused with its path."""
    errors: list[str] = []
    redactor_from(Fields({"redaction": {"patterns": ["x*"]}}, "llm", errors))
    assert errors == ["llm.redaction.patterns[0]: matches the empty string (it would mask between every character)"]


def test_redaction_config_typos_and_types_are_reported() -> None:
    """Unknown keys and wrong types under llm.redaction are field-path errors, all at once."""
    errors: list[str] = []
    redactor_from(Fields({"redaction": {"emails": "maybe", "patterns": "x", "email": True}}, "llm", errors))
    assert sorted(errors) == [
        "llm.redaction.email: unknown field",
        "llm.redaction.emails: must be true or false",
        "llm.redaction.patterns: must be a list of strings",
    ]


def test_no_redaction_section_means_builtins_only() -> None:
    """Without llm.redaction the built-in shapes apply, emails are kept, there are no extra patterns."""
    errors: list[str] = []
    redactor = redactor_from(Fields({}, "llm", errors))
    assert (errors, redactor) == ([], Redactor())
