"""Forwarders: one module per downstream kind behind the `Forwarder` Protocol, built by `build`.

A kind is a class with `integration` (its `type:` in the config), `default_url` (None when the
user must give `url`), `options(fields)` that reads and checks the kind's own config keys (errors
by field path, with everything else in `amtriage check-config`), and `send(notification, body)`.
Replies are judged in `forwarders.http` (`check_response`, plus a kind's `check_body`).

    forwarders = build(config.receivers, Deps(session, clock))
    await forwarders["team-webhook"].send(notification, body)
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

from receiver.alerts import Notification
from receiver.config import ReceiverConfig
from receiver.configread import Fields
from receiver.forwarders.http import Deps


class Forwarder(Protocol):
    """Sends one notification to one downstream; raises DeliveryError when it was not taken."""

    name: str
    integration: ClassVar[str]

    async def send(self, notification: Notification, body: bytes) -> None:
        """`body` is the notification as stored (Alertmanager v4 JSON), for kinds that pass it through."""
        ...


class ForwarderKind(Protocol):
    """The class of a forwarder: how to read its config, and how to build it."""

    integration: ClassVar[str]
    default_url: ClassVar[str | None]

    def options(self, f: Fields) -> Any: ...

    def __call__(self, config: ReceiverConfig, deps: Deps) -> Forwarder: ...


_SUPPORT = frozenset({"http", "templates"})  # modules of this package that are not kinds


def _kinds() -> dict[str, ForwarderKind]:
    """Every module of this package but the support ones is a kind and names its class in `KIND`."""
    kinds: dict[str, ForwarderKind] = {}
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _SUPPORT):
        kind: ForwarderKind = importlib.import_module(f"{__name__}.{module}").KIND
        kinds[kind.integration] = kind
    return kinds


KINDS: dict[str, ForwarderKind] = _kinds()


def build(receivers: Sequence[ReceiverConfig], deps: Deps) -> dict[str, Forwarder]:
    """One forwarder per configured receiver, by name."""
    return {r.name: KINDS[r.type](r, deps) for r in receivers}
