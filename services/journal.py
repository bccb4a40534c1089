"""The command journal: work the bot acknowledged but has not finished yet.

Slack stops retrying a request once it is acknowledged, so a command whose
slow part runs after the ack would be lost if the process died in between.
Its payload is written here before the ack and marked finished when the
work ends, however it ends; on start the bot runs again whatever is still
open. That is safe because every flow is idempotent under replays (the
trigger id is the key), which the exactly-once tests prove.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.clock import Clock, isoformat, parse_iso
from services.store import Store

# Slack's response_url takes answers for 30 minutes; older work can no longer be
# answered where it was asked, and may no longer be wanted.
REPLAY_WINDOW = timedelta(minutes=30)
# Finished entries are only needed while a replay could still come; the audit table
# keeps the history.
KEEP_FINISHED = timedelta(days=1)
# Work that was cut short this many times in a row is taken to be what kills the bot
# (a poison request): it is dropped instead of crashing every restart.
MAX_REPLAYS = 3


@dataclass(frozen=True)
class Entry:
    request_key: str
    kind: str
    payload: dict[str, Any]
    accepted_at: datetime
    replays: int = 0


def accept(store: Store, *, clock: Clock, request_key: str, kind: str, payload: Any) -> bool:
    """Record acknowledged work; False when this request is already journaled (a retry)."""
    cursor = store.conn.execute(
        "INSERT OR IGNORE INTO command_journal (request_key, kind, payload, accepted_at)"
        " VALUES (?, ?, ?, ?)",
        (request_key, kind, json.dumps(payload, default=str), isoformat(clock.now())),
    )
    return cursor.rowcount == 1


def finish(store: Store, *, clock: Clock, request_key: str, outcome: str = "done") -> None:
    store.conn.execute(
        "UPDATE command_journal SET finished_at = ?, outcome = ?"
        " WHERE request_key = ? AND finished_at IS NULL",
        (isoformat(clock.now()), outcome, request_key),
    )


def unfinished(store: Store) -> list[Entry]:
    rows = store.query(
        "SELECT * FROM command_journal WHERE finished_at IS NULL ORDER BY accepted_at, rowid"
    )
    return [
        Entry(
            request_key=row["request_key"],
            kind=row["kind"],
            payload=json.loads(row["payload"]),
            accepted_at=parse_iso(row["accepted_at"]),
            replays=row["replays"],
        )
        for row in rows
    ]


def why_not_replayable(entry: Entry, *, now: datetime) -> str | None:
    """None when the entry may run again; else the outcome to record instead."""
    if now - entry.accepted_at > REPLAY_WINDOW:
        return "expired"
    if entry.replays >= MAX_REPLAYS:
        return "gave_up"
    return None


def count_replay(store: Store, request_key: str) -> None:
    """Counted before the work starts again, so a replay that kills the bot counts too."""
    store.conn.execute(
        "UPDATE command_journal SET replays = replays + 1 WHERE request_key = ?", (request_key,)
    )


def prune(store: Store, *, clock: Clock) -> int:
    """Forget finished entries older than KEEP_FINISHED; returns how many."""
    cursor = store.conn.execute(
        "DELETE FROM command_journal WHERE finished_at IS NOT NULL AND finished_at < ?",
        (isoformat(clock.now() - KEEP_FINISHED),),
    )
    return cursor.rowcount
