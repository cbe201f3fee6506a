"""Never page twice: which alerts a receiver has already been sent, by alert identity.

Alertmanager repeats itself: an HA pair sends every notification twice, a retry after a lost
200 sends it again, and a peer that missed the resolve may send a stale firing after it. The
identity of an alert event is (fingerprint, startsAt) with its status; per receiver we remember
the last status sent. An alert is:

- `duplicate` when the same status went to this receiver less than `window` ago;
- `stale` when it is firing but this receiver already got the resolve of that same event;
- `fresh` otherwise (new, firing→resolved, or a reminder after `window`, as repeat_interval wants),
  and it is recorded as sent at once, so a concurrent duplicate sees it. The record names the
  outbox job: the same job asking again (claimed anew after a crash mid-send) is still fresh.

These functions run on the outbox thread inside its transactions (see `SqliteOutbox.admit`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence

SCHEMA = """
CREATE TABLE IF NOT EXISTS sent (
    receiver TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    status TEXT NOT NULL,
    sent_at REAL NOT NULL,
    job INTEGER NOT NULL,
    PRIMARY KEY (receiver, fingerprint, starts_at)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sent_age ON sent (sent_at);
"""
KEEP = 7 * 86400.0  # how long an event is remembered (a stale firing comes minutes after the resolve)

Identity = tuple[str, str, str]  # fingerprint, status, startsAt


def admit(db: sqlite3.Connection, receiver: str, identities: Sequence[Identity], window: float,
          now: float, job: int) -> list[str]:
    """A verdict per identity: fresh | duplicate | stale; fresh ones are recorded as sent at once (a
    delivery that then fails is retried from its own outbox job, which does not ask again)."""
    verdicts = []
    for fingerprint, status, starts_at in identities:
        row = db.execute(
            "SELECT status, sent_at, job FROM sent WHERE receiver = ? AND fingerprint = ? AND starts_at = ?",
            (receiver, fingerprint, starts_at)).fetchone()
        verdict = "fresh" if row is not None and row[2] == job else _verdict(row, status, window, now)
        if verdict == "fresh":
            db.execute("INSERT OR REPLACE INTO sent VALUES (?, ?, ?, ?, ?, ?)",
                       (receiver, fingerprint, starts_at, status, now, job))
        verdicts.append(verdict)
    return verdicts


def _verdict(row: tuple[str, float, int] | None, status: str, window: float, now: float) -> str:
    if row is None:
        return "fresh"
    last_status, sent_at, _ = row
    if last_status == "resolved" and status == "firing":
        return "stale"
    if last_status == status and now - sent_at < window:
        return "duplicate"
    return "fresh"


def expire(db: sqlite3.Connection, now: float) -> int:
    return int(db.execute("DELETE FROM sent WHERE sent_at < ?", (now - KEEP,)).rowcount)


def admit_all(db: sqlite3.Connection, wanted: Mapping[str, Sequence[Identity]], window: float,
              now: float, job: int) -> dict[str, list[str]]:
    return {receiver: admit(db, receiver, identities, window, now, job) for receiver, identities in wanted.items()}
