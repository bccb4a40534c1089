"""The durable queue of deliveries outside Slack, and the names an incident has elsewhere.

A delivery is planned once per `dedup_key` (an INSERT that ignores a key already
stored), claimed (`sending`) before its call and finished (`sent` / `failed`) after it.
A delivery found `sending` when the bot starts was cut short by a crash: the channel is
told (`resuming`) and looks for the call's effect before making it again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from services.clock import Clock, isoformat, parse_iso
from services.store import Store


class State(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True)
class Outgoing:
    """A delivery a planner asks for. `key` is unique within the news it was planned from."""

    channel: str  # "statuspage", "pagerduty", "email"
    action: str  # the channel's verb: "open_incident", "trigger", "send"…
    key: str
    payload: dict[str, Any] = field(default_factory=dict)
    audience: str | None = None  # "customers", "execs"… (email), None for a channel's own
    # Keyed by the incident instead of the news: planned once in the incident's life (the
    # status page incident is opened once, whichever news asks first).
    once_per_incident: bool = False
    # Planned before the incident's war room exists (a declaration tells the pager before
    # Slack is asked for anything): wait for it up to WAR_ROOM_GRACE, so the message can
    # link it, never longer (Slack being slow or down must not delay a page).
    wait_for_war_room: bool = False


@dataclass(frozen=True)
class Delivery:
    id: int
    incident_id: str | None
    channel: str
    action: str
    audience: str | None
    payload: dict[str, Any]
    dedup_key: str
    state: State
    attempts: int
    not_before: datetime | None
    checkpoint: str | None
    queued_at: datetime
    sending_at: datetime | None
    finished_at: datetime | None
    result: dict[str, Any]
    error: str | None


def claim_telling(store: Store, *, clock: Clock, delivery_id: int) -> bool:
    """The right to tell the war room of this refusal; False when it was told already."""
    cursor = store.conn.execute(
        "UPDATE deliveries SET told_at = ? WHERE id = ? AND state = 'failed' AND told_at IS NULL",
        (isoformat(clock.now()), delivery_id),
    )
    return cursor.rowcount == 1


def refusal_sentence(delivery: Delivery, error: str | None) -> str:
    """What the war room reads of a delivery refused for good (as it comes, or when the war
    room opens after it): one wording for both."""
    what = f"{delivery.channel} {delivery.action.replace('_', ' ')}"
    return f"The {what} of {delivery.incident_id} failed and will not be retried: {error}"


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=int(row["id"]),
        incident_id=row["incident_id"],
        channel=row["channel"],
        action=row["action"],
        audience=row["audience"],
        payload=json.loads(row["payload"]),
        dedup_key=row["dedup_key"],
        state=State(row["state"]),
        attempts=int(row["attempts"]),
        not_before=parse_iso(row["not_before"]) if row["not_before"] else None,
        checkpoint=row["checkpoint"],
        queued_at=parse_iso(row["queued_at"]),
        sending_at=parse_iso(row["sending_at"]) if row["sending_at"] else None,
        finished_at=parse_iso(row["finished_at"]) if row["finished_at"] else None,
        result=json.loads(row["result"]) if row["result"] else {},
        error=row["error"],
    )


WAR_ROOM_GRACE = timedelta(seconds=10)


def enqueue(
    store: Store,
    *,
    clock: Clock,
    incident_id: str | None,
    outgoing: Outgoing,
    dedup_key: str,
    war_room_open: bool = True,
) -> bool:
    """Queue a delivery once per `dedup_key`; False when that key was queued before."""
    now = clock.now()
    waits = outgoing.wait_for_war_room and not war_room_open
    cursor = store.conn.execute(
        "INSERT OR IGNORE INTO deliveries"
        " (incident_id, channel, action, audience, payload, dedup_key, queued_at, not_before)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            incident_id,
            outgoing.channel,
            outgoing.action,
            outgoing.audience,
            json.dumps(outgoing.payload, default=str),
            dedup_key,
            isoformat(now),
            isoformat(now + WAR_ROOM_GRACE) if waits else None,
        ),
    )
    return cursor.rowcount == 1


def war_room_opened(store: Store, incident_id: str) -> int:
    """The incident's war room exists: what waited for it goes now (the number released)."""
    cursor = store.conn.execute(
        "UPDATE deliveries SET not_before = NULL"
        " WHERE incident_id = ? AND state = 'queued' AND attempts = 0 AND not_before IS NOT NULL",
        (incident_id,),
    )
    return cursor.rowcount


def get(store: Store, delivery_id: int) -> Delivery:
    row = store.query_one("SELECT * FROM deliveries WHERE id = ?", (delivery_id,))
    if row is None:
        raise KeyError(delivery_id)
    return _delivery(row)


def unfinished(store: Store, *, channel: str | None = None) -> list[Delivery]:
    """Queued and in-flight deliveries, oldest first (the order they must go out in)."""
    sql = "SELECT * FROM deliveries WHERE state IN ('queued', 'sending')"
    params: tuple[Any, ...] = ()
    if channel is not None:
        sql += " AND channel = ?"
        params = (channel,)
    return [_delivery(r) for r in store.query(sql + " ORDER BY id", params)]


def for_incident(store: Store, incident_id: str) -> list[Delivery]:
    rows = store.query("SELECT * FROM deliveries WHERE incident_id = ? ORDER BY id", (incident_id,))
    return [_delivery(r) for r in rows]


def claim(store: Store, *, clock: Clock, delivery: Delivery) -> bool:
    """Mark a delivery as being sent; False if another runner claimed or finished it."""
    cursor = store.conn.execute(
        "UPDATE deliveries SET state = 'sending', sending_at = ?, attempts = attempts + 1"
        " WHERE id = ? AND state = ? AND attempts = ?",
        (isoformat(clock.now()), delivery.id, delivery.state.value, delivery.attempts),
    )
    return cursor.rowcount == 1


def checkpoint(store: Store, delivery_id: int, mark: str) -> None:
    """A channel's progress inside one call, committed before the call goes on."""
    store.conn.execute("UPDATE deliveries SET checkpoint = ? WHERE id = ?", (mark, delivery_id))


def finish(
    store: Store,
    *,
    clock: Clock,
    delivery_id: int,
    state: State,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    store.conn.execute(
        "UPDATE deliveries SET state = ?, finished_at = ?, result = ?, error = ?"
        " WHERE id = ? AND state = 'sending'",
        (
            state.value,
            isoformat(clock.now()),
            json.dumps(result or {}, default=str),
            error,
            delivery_id,
        ),
    )


def postpone(store: Store, *, delivery_id: int, until: datetime, error: str) -> None:
    """Back to the queue, not before `until` (a Retry-After, or the backoff)."""
    store.conn.execute(
        "UPDATE deliveries SET state = 'queued', not_before = ?, error = ?"
        " WHERE id = ? AND state = 'sending'",
        (isoformat(until), error, delivery_id),
    )


def depth(store: Store) -> int:
    row = store.query_one(
        "SELECT COUNT(*) AS n FROM deliveries WHERE state IN ('queued', 'sending')"
    )
    return int(row["n"]) if row else 0


@dataclass(frozen=True)
class Link:
    """What an incident is called in another system (its id there, and a link for people)."""

    incident_id: str
    system: str
    external_id: str
    url: str | None
    data: dict[str, Any]
    created_at: datetime


def save_link(
    store: Store,
    *,
    clock: Clock,
    incident_id: str,
    system: str,
    external_id: str,
    url: str | None = None,
    data: dict[str, Any] | None = None,
) -> Link:
    """Record the incident's name in `system`; the first one recorded stays."""
    store.conn.execute(
        "INSERT OR IGNORE INTO incident_links"
        " (incident_id, system, external_id, url, data, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (
            incident_id,
            system,
            external_id,
            url,
            json.dumps(data or {}, default=str),
            isoformat(clock.now()),
        ),
    )
    link = get_link(store, incident_id, system)
    assert link is not None
    return link


def claim_bookmark(store: Store, incident_id: str, system: str) -> bool:
    """The right to bookmark this link in the war room; False when it was bookmarked.
    (The channel that saved it and the war room's opening flow may both try.)"""
    cursor = store.conn.execute(
        "UPDATE incident_links SET data = json_set(data, '$.bookmarked', 1)"
        " WHERE incident_id = ? AND system = ? AND json_extract(data, '$.bookmarked') IS NULL",
        (incident_id, system),
    )
    return cursor.rowcount == 1


def get_link(store: Store, incident_id: str, system: str) -> Link | None:
    row = store.query_one(
        "SELECT * FROM incident_links WHERE incident_id = ? AND system = ?", (incident_id, system)
    )
    if row is None:
        return None
    return Link(
        incident_id=row["incident_id"],
        system=row["system"],
        external_id=row["external_id"],
        url=row["url"],
        data=json.loads(row["data"]),
        created_at=parse_iso(row["created_at"]),
    )


def links(store: Store, incident_id: str) -> Iterator[Link]:
    rows = store.query(
        "SELECT system FROM incident_links WHERE incident_id = ? ORDER BY created_at, system",
        (incident_id,),
    )
    for row in rows:
        link = get_link(store, incident_id, row["system"])
        if link is not None:
            yield link
