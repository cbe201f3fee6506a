"""The exception tree of amtriage, and the reasons that label failure metrics.

    AmtriageError
    ├── ConfigError            a configuration file or value is wrong (carries every field-path error)
    ├── PayloadError           a webhook body is not an Alertmanager v4 notification (-> 400, names the field)
    ├── OutboxError            the durable outbox cannot take or give work (-> 503 on ingest)
    │   └── OutboxFull         the outbox holds max_items live notifications (-> 503)
    ├── LLMError               the LLM could not classify an alert (-> that alert falls back to the rules)
    │   ├── ProviderError      a provider failed: HTTP status, timeout, network; `transient` says retry
    │   └── BadReply           a reply that is not a valid classification (never retried; not the provider's fault)
    └── DeliveryError          a downstream receiver did not take a notification
        ├── RetryableDelivery  try again later (429, 5xx, timeouts, network); may carry Retry-After
        └── PermanentDelivery  do not retry (other 4xx, a body we cannot send); goes to the dead letters

Callers catch at the level they can act on: ingest maps PayloadError to 400 and OutboxError to 503;
the delivery worker maps RetryableDelivery to a later attempt and PermanentDelivery to a dead letter.
Every error that becomes a metric carries a `Reason`, the value of the `reason` label.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why something failed; the `reason` label of the failure counters."""

    RATE_LIMIT = "rate_limit"
    SERVER_ERROR = "server_error"
    CLIENT_ERROR = "client_error"
    AUTH = "auth"
    TIMEOUT = "timeout"
    NETWORK_ERROR = "network_error"
    BAD_REPLY = "bad_reply"
    UNKNOWN_RECEIVER = "unknown_receiver"
    LLM_DISABLED = "llm_disabled"
    CIRCUIT_OPEN = "circuit_open"
    BUDGET = "budget"
    EXPIRED = "expired"
    OTHER = "other"


class AmtriageError(Exception):
    """Root of every error amtriage raises on purpose."""


class ConfigError(AmtriageError):
    """A configuration is invalid; `errors` lists every problem as `field.path: message`."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class PayloadError(AmtriageError):
    """A webhook body is malformed; `field` is the path at fault (`alerts[0].labels`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class OutboxError(AmtriageError):
    """The outbox cannot store or hand out work."""


class OutboxFull(OutboxError):
    """The outbox holds its configured maximum of live notifications."""


class LLMError(AmtriageError):
    """The LLM path failed for this alert; `reason` is the fallback's metric label."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class ProviderError(LLMError):
    """A provider call failed. `transient`: worth retrying (429, 5xx, timeouts, resets);
    `retry_after`: the provider's own wish in seconds (Retry-After / retry-after-ms)."""

    def __init__(self, reason: Reason, detail: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(reason, detail)
        self.transient = transient
        self.retry_after = retry_after


class BadReply(LLMError):
    """The model answered, but not with a usable classification (schema, truncation, refusal, safety)."""

    def __init__(self, detail: str) -> None:
        super().__init__(Reason.BAD_REPLY, detail)


class DeliveryError(AmtriageError):
    """A receiver did not accept a notification."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class RetryableDelivery(DeliveryError):
    """Worth another attempt; `retry_after` is the receiver's own wish in seconds, if it said one."""

    def __init__(self, reason: Reason, detail: str, retry_after: float | None = None) -> None:
        super().__init__(reason, detail)
        self.retry_after = retry_after


class PermanentDelivery(DeliveryError):
    """Another attempt would fail the same way; the notification becomes a dead letter."""
