"""One case per forwarder kind for tests/test_forwarders_contract.py; each module defines `CASE`.

A case says how to configure its kind against a fake server (a RecordingSink, which records every
request and answers with scripted `Reply`s in the destination's real reply shapes), what a good
request looks like, which replies mean retry / give up / failed-inside-a-2xx, and which strings
are secrets that must never leak into an error or a log line.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field

from receiver.alerts import Notification
from tests.fakes import Received, Reply


@dataclass(frozen=True)
class Case:
    kind: str
    # receiver YAML (one list item, name "r") given the fake server's base URL, e.g. http://127.0.0.1:PORT
    receiver: Callable[[str], str]
    # asserts on the request(s) one notification produced (auth, path, body shape, mapping of ai_*)
    check_request: Callable[[list[Received], Notification], None]
    ok: Reply
    # replies that must be retried, each with the retry_after (seconds) the forwarder must report
    retryable: list[tuple[Reply, float | None]]
    permanent: list[Reply]
    # a 2xx (or other) reply whose body says it failed: must be a DeliveryError, not success
    failing_ok: list[Reply] = field(default_factory=list)
    # asserts the destination's size limits hold on the requests made for a huge notification
    check_limits: Callable[[list[Received]], None] = lambda received: None
    secrets: tuple[str, ...] = ()


def all_cases() -> list[Case]:
    return [importlib.import_module(f"{__name__}.{m.name}").CASE
            for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name)]
