"""The SQLite outbox on real files: durability, group commit, leases, retries and dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from receiver.config import OutboxConfig
from receiver.errors import OutboxError, OutboxFull
from receiver.outbox import Settle
from receiver.outbox.sqlite import SqliteOutbox
from tests.fakes import ManualClock


@pytest.fixture
async def outbox(tmp_path: Path, clock: ManualClock) -> AsyncIterator[SqliteOutbox]:
    box = SqliteOutbox(OutboxConfig(path=str(tmp_path / "o.db"), max_items=5), lease=60, clock=clock)
    await box.open()
    yield box
    await box.close()


async def test_put_is_durable_across_reopen(tmp_path: Path, clock: ManualClock) -> None:
    """What put() acknowledged is there after the file is opened again."""
    box = SqliteOutbox(OutboxConfig(path=str(tmp_path / "o.db")), clock=clock)
    await box.open()
    job_id = await box.put(b'{"alerts": []}', "team")
    await box.close()
    again = SqliteOutbox(OutboxConfig(path=str(tmp_path / "o.db")), clock=clock)
    await again.open()
    [job] = await again.claim(10)
    await again.close()
    assert (job.id, job.body, job.receiver, job.enriched) == (job_id, b'{"alerts": []}', "team", False)


async def test_concurrent_puts_share_commits(outbox: SqliteOutbox) -> None:
    """Requests that arrive while a commit is under way are written together (group commit)."""
    commits: list[int] = []
    outbox.on_stored = lambda: commits.append(1)
    ids = await asyncio.gather(*(outbox.put(b"{}") for _ in range(5)))
    assert sorted(ids) == list(ids)
    assert len(set(ids)) == 5
    assert len(commits) < 5


async def test_full_outbox_refuses(outbox: SqliteOutbox) -> None:
    for _ in range(5):
        await outbox.put(b"{}")
    with pytest.raises(OutboxFull):
        await outbox.put(b"{}")


async def test_settled_job_frees_room(outbox: SqliteOutbox) -> None:
    for _ in range(5):
        await outbox.put(b"{}")
    job = (await outbox.claim(1))[0]
    await outbox.settle(job)
    await outbox.put(b"{}")
    assert (await outbox.stats()).depth == 5


async def test_closed_outbox_raises_outbox_error(tmp_path: Path) -> None:
    box = SqliteOutbox(OutboxConfig(path=str(tmp_path / "o.db")))
    with pytest.raises(OutboxError):
        await box.put(b"{}")


async def test_claim_leases_and_lapsed_lease_is_claimed_again(outbox: SqliteOutbox, clock: ManualClock) -> None:
    await outbox.put(b"{}")
    assert len(await outbox.claim(10)) == 1
    assert await outbox.claim(10) == []
    clock.advance(61)
    assert len(await outbox.claim(10)) == 1


async def test_reopen_releases_claims_of_a_dead_process(tmp_path: Path, clock: ManualClock) -> None:
    """Work claimed by a process that died is claimed again at once by the next one."""
    box = SqliteOutbox(OutboxConfig(path=str(tmp_path / "o.db")), clock=clock)
    await box.open()
    await box.put(b"{}")
    assert len(await box.claim(10)) == 1
    await box.close()
    again = SqliteOutbox(OutboxConfig(path=str(tmp_path / "o.db")), clock=clock)
    await again.open()
    assert len(await again.claim(10)) == 1
    await again.close()


async def test_second_server_on_same_file_is_refused(outbox: SqliteOutbox, tmp_path: Path) -> None:
    other = SqliteOutbox(OutboxConfig(path=str(tmp_path / "o.db")))
    with pytest.raises(OutboxError, match="in use"):
        await other.open()


async def test_retry_is_due_at_its_time(outbox: SqliteOutbox, clock: ManualClock) -> None:
    await outbox.put(b"raw")
    job = (await outbox.claim(1))[0]
    await outbox.settle(job, [Settle.retry("team", b"enriched", attempts=1, at=clock() + 30, error="HTTP 503")])
    clock.advance(29)
    assert await outbox.claim(10) == []
    clock.advance(1)
    [retry] = await outbox.claim(10)
    assert (retry.receiver, retry.body, retry.enriched, retry.attempts, retry.created_at) == (
        "team", b"enriched", True, 1, job.created_at)


async def test_dead_letters_are_listed_replayed_and_purged(outbox: SqliteOutbox, clock: ManualClock) -> None:
    for _ in range(2):
        await outbox.put(b"{}")
    for job in await outbox.claim(2):
        await outbox.settle(job, [Settle.dead("team", b"x", attempts=3, at=clock(), error="HTTP 400")])
    stats = await outbox.stats()
    assert (stats.depth, stats.dead, dict(stats.dead_by_receiver)) == (0, 2, {"team": 2})
    dead = await outbox.jobs("dead")
    assert [j.last_error for j in dead] == ["HTTP 400", "HTTP 400"]
    assert await outbox.claim(10) == []
    assert await outbox.replay(ids=[dead[0].id]) == 1
    [replayed] = await outbox.claim(10)
    assert (replayed.attempts, replayed.receiver) == (0, "team")
    assert await outbox.purge(receiver="other") == 0
    assert await outbox.purge() == 1
    assert (await outbox.stats()).dead == 0


async def test_stats_report_oldest_age(outbox: SqliteOutbox, clock: ManualClock) -> None:
    await outbox.put(b"{}")
    clock.advance(42)
    await outbox.put(b"{}")
    stats = await outbox.stats()
    assert (stats.depth, stats.oldest_age) == (2, 42)


async def test_a_file_that_is_not_a_database_is_an_outbox_error(tmp_path: Path) -> None:
    (tmp_path / "o.db").write_bytes(b"this is not sqlite" * 100)
    box = SqliteOutbox(OutboxConfig(path=str(tmp_path / "o.db")))
    with pytest.raises(OutboxError, match="not a database"):
        await box.open()
    await box.close()
