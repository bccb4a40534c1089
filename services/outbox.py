"""Messages that Slack could not take, kept in SQLite until it can.

When Slack stays unreachable past the client's retries, a post or an edit is
queued here and the flow carries on (its timeline entries are already
written). A queued post gets a placeholder ts (`pending:<id>`) that callers
store like a real one; when the post goes out, the placeholder is replaced
everywhere it was stored, so later edits reach the right message. A post keeps
its `Message.key` (sent as metadata), so a resumed flow still finds it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from services.chat import Message
from services.clock import Clock, isoformat
from services.store import Store

PENDING = "pending:"
# Ops queued by a terminal (console, CLI) for the serving bot to deliver: the terminal has
# no Slack connection, so "relay_post" / "relay_update" are delivered like "post" / "update"
# but were never late because Slack was unreachable (no "while Slack was unreachable" note).
RELAY = "relay_"
# Where the domain stores message timestamps; a placeholder is replaced in all of them.
TS_COLUMNS = (
    ("incidents", "header_ts"),
    ("incidents", "announcement_ts"),
    ("incidents", "playbook_ts"),
    ("deployments", "card_ts"),
    ("ci_watches", "ts"),
    ("pipeline_runs", "card_ts"),  # validate and verify cards
)


@dataclass(frozen=True)
class Queued:
    id: int
    channel_id: str
    op: str  # "post" or "update", or a terminal's relayed "relay_post" / "relay_update"
    ts: str | None
    thread_ts: str | None
    broadcast: bool
    message: Message
    queued_at: str

    @property
    def is_post(self) -> bool:
        return self.op.removeprefix(RELAY) == "post"

    @property
    def relayed(self) -> bool:
        return self.op.startswith(RELAY)


def is_pending(ts: str | None) -> bool:
    return bool(ts) and str(ts).startswith(PENDING)


def enqueue(
    store: Store,
    *,
    clock: Clock,
    channel_id: str,
    op: str,
    message: Message,
    ts: str | None = None,
    thread_ts: str | None = None,
    broadcast: bool = False,
) -> str:
    """Queue a post or an edit; returns the placeholder ts of a queued post."""
    cursor = store.conn.execute(
        "INSERT INTO outbox"
        " (channel_id, op, ts, thread_ts, broadcast, template, data, message_key, queued_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            channel_id,
            op,
            ts,
            thread_ts,
            int(broadcast),
            message.template,
            json.dumps(dict(message.data), default=str),
            message.key,
            isoformat(clock.now()),
        ),
    )
    return f"{PENDING}{cursor.lastrowid}"


def replace_last_update(store: Store, *, channel_id: str, ts: str, message: Message) -> bool:
    """A newer edit of a message whose previous edit is the last thing queued for its
    channel replaces that edit instead of queueing behind it (a relayed canary card is
    edited every few seconds; Slack needs only the latest). Order is kept: only the last."""
    with store.transaction() as conn:
        last = conn.execute(
            "SELECT id, op, ts FROM outbox WHERE channel_id = ? AND sent_at IS NULL"
            " ORDER BY id DESC LIMIT 1",
            (channel_id,),
        ).fetchone()
        if last is None or last["op"] != f"{RELAY}update" or last["ts"] != ts:
            return False
        conn.execute(
            "UPDATE outbox SET template = ?, data = ?, message_key = ? WHERE id = ?",
            (
                message.template,
                json.dumps(dict(message.data), default=str),
                message.key,
                last["id"],
            ),
        )
    return True


def has_backlog(store: Store, channel_id: str) -> bool:
    """Anything still queued for this channel? New messages then queue behind it, in order."""
    row = store.query_one(
        "SELECT 1 FROM outbox WHERE channel_id = ? AND sent_at IS NULL LIMIT 1", (channel_id,)
    )
    return row is not None


def backlog(store: Store) -> list[Queued]:
    rows = store.query("SELECT * FROM outbox WHERE sent_at IS NULL ORDER BY id")
    return [
        Queued(
            id=int(r["id"]),
            channel_id=r["channel_id"],
            op=r["op"],
            ts=r["ts"],
            thread_ts=r["thread_ts"],
            broadcast=bool(r["broadcast"]),
            message=Message(r["template"], json.loads(r["data"]), key=r["message_key"]),
            queued_at=r["queued_at"],
        )
        for r in rows
    ]


def depth(store: Store) -> int:
    row = store.query_one("SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL")
    return int(row["n"]) if row else 0


def mark_sent(store: Store, *, clock: Clock, item: Queued, real_ts: str | None) -> None:
    """Record delivery; a delivered post's placeholder becomes its real ts everywhere."""
    with store.transaction() as conn:
        conn.execute(
            "UPDATE outbox SET sent_at = ?, sent_ts = ? WHERE id = ? AND sent_at IS NULL",
            (isoformat(clock.now()), real_ts, item.id),
        )
        if item.is_post and real_ts:
            placeholder = f"{PENDING}{item.id}"
            for table, column in TS_COLUMNS:
                conn.execute(
                    f"UPDATE {table} SET {column} = ? WHERE {column} = ?",  # noqa: S608 - fixed names
                    (real_ts, placeholder),
                )
            conn.execute("UPDATE outbox SET ts = ? WHERE ts = ?", (real_ts, placeholder))
            conn.execute(
                "UPDATE outbox SET thread_ts = ? WHERE thread_ts = ?", (real_ts, placeholder)
            )


def summary_data(items: list[Queued]) -> dict[str, Any]:
    return {"count": len(items), "since": items[0].queued_at if items else None}
