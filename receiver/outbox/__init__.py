"""The durable outbox: what ingest stores before it answers 200, and what delivery works through.

A job is a notification on its way: either as received, waiting to be enriched and routed
(`receiver is None`), or already enriched and waiting for one receiver (a retry, or a
`POST /webhook/{receiver}`). Delivery claims jobs, then settles each one: done, retry later, or
dead letter. Claims are leases: work claimed by a process that died is claimed again.

    outbox = SqliteOutbox(config.outbox)
    await outbox.open()
    job_id = await outbox.put(body)          # durable when it returns
    # a job of a receiver waits while an earlier one of the same (receiver, groupKey) is pending
    for job in await outbox.claim(8):
        await outbox.settle(job, [Settle.retry("team", enriched_body, at=now + 30, error="503")])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    created_at: float
    receiver: str | None
    enriched: bool
    body: bytes
    attempts: int = 0
    state: str = "pending"
    available_at: float = 0.0
    last_error: str = ""
    group_key: str = ""
    seq: int = 0  # the arrival order of the notification it comes from (retries keep it)


@dataclass(frozen=True, slots=True)
class Settle:
    """What is left of a job after an attempt: one follow-up per receiver that did not take it."""

    receiver: str
    body: bytes
    state: str  # pending (retry at `at`) | dead
    attempts: int
    at: float
    error: str
    group_key: str = ""  # Alertmanager's groupKey: a receiver gets one group's notifications in order

    @classmethod
    def retry(cls, receiver: str, body: bytes, *, attempts: int, at: float, error: str, group_key: str = ""
              ) -> Settle:
        return cls(receiver, body, "pending", attempts, at, error, group_key)

    @classmethod
    def dead(cls, receiver: str, body: bytes, *, attempts: int, at: float, error: str, group_key: str = ""
             ) -> Settle:
        return cls(receiver, body, "dead", attempts, at, error, group_key)


@dataclass(frozen=True, slots=True)
class Admission:
    """Per receiver, a dedup verdict per alert (fresh | duplicate | stale), and the receivers that still
    have an earlier notification of the same group waiting: theirs must queue behind it."""

    verdicts: Mapping[str, list[str]]
    queued: frozenset[str]


@dataclass(frozen=True, slots=True)
class OutboxStats:
    depth: int
    oldest_age: float
    dead: int
    dead_by_receiver: Mapping[str, int] = field(default_factory=dict)


class Outbox(Protocol):
    """Durable queue of notifications; `put` returns only once the job is on disk."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def put(self, body: bytes, receiver: str | None = None) -> int: ...

    async def claim(self, limit: int) -> list[Job]: ...

    async def settle(self, job: Job, followups: Sequence[Settle] = ()) -> None: ...

    async def admit(self, job: Job, group_key: str, wanted: Mapping[str, Sequence[tuple[str, str, str]]],
                    window: float) -> Admission: ...

    async def stats(self) -> OutboxStats: ...

    async def jobs(self, state: str | None = None, limit: int = 100) -> list[Job]: ...

    async def replay(self, *, receiver: str | None = None, ids: Sequence[int] = ()) -> int: ...

    async def purge(self, *, receiver: str | None = None, ids: Sequence[int] = ()) -> int: ...
