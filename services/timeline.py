"""The append-only incident timeline: the record every postmortem is written from.

Events are written before any Slack call so that an outage of Slack never
loses history. `dedup_key` makes an append idempotent: the same key (a Slack
retry, a second pin of one message) yields the event already stored.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.clock import Clock, isoformat, parse_iso
from services.store import Store


@dataclass(frozen=True)
class TimelineEvent:
    id: int
    incident_id: str | None
    at: datetime
    actor: str
    kind: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


# The actor of what the bot does on its own (its steps, reminders, decisions).
BOT_ACTOR = "hotfix-bot"


def append(
    store: Store,
    *,
    clock: Clock,
    incident_id: str | None,
    actor: str,
    kind: str,
    text: str,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
    dedup_key: str | None = None,
) -> TimelineEvent:
    """Append one event; with a dedup_key already stored, return that event instead."""
    event, _ = append_once(
        store,
        clock=clock,
        incident_id=incident_id,
        actor=actor,
        kind=kind,
        text=text,
        data=data,
        at=at,
        dedup_key=dedup_key,
    )
    return event


def append_once(
    store: Store,
    *,
    clock: Clock,
    incident_id: str | None,
    actor: str,
    kind: str,
    text: str,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
    dedup_key: str | None = None,
) -> tuple[TimelineEvent, bool]:
    """Like append, and says whether this call stored the event (False: a replay)."""
    moment = at or clock.now()
    payload = json.dumps(data or {}, sort_keys=True, default=str)
    try:
        cursor = store.conn.execute(
            "INSERT INTO timeline (incident_id, at, actor, kind, text, data, dedup_key)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (incident_id, isoformat(moment), actor, kind, text, payload, dedup_key),
        )
    except sqlite3.IntegrityError:
        existing = store.query_one("SELECT * FROM timeline WHERE dedup_key = ?", (dedup_key,))
        if existing is None:
            raise
        return _event(existing), False
    event_id = cursor.lastrowid
    assert event_id is not None
    return TimelineEvent(event_id, incident_id, moment, actor, kind, text, data or {}), True


def has_dedup_key(store: Store, dedup_key: str) -> bool:
    return store.query_one("SELECT 1 FROM timeline WHERE dedup_key = ?", (dedup_key,)) is not None


def events(store: Store, *, incident_id: str | None) -> list[TimelineEvent]:
    """Events of one incident (or the events bound to no incident), oldest first."""
    if incident_id is None:
        rows = store.query("SELECT * FROM timeline WHERE incident_id IS NULL ORDER BY at, id")
    else:
        rows = store.query(
            "SELECT * FROM timeline WHERE incident_id = ? ORDER BY at, id", (incident_id,)
        )
    return [_event(row) for row in rows]


def of_deployment(store: Store, deployment_id: str, *, after: int = 0) -> list[TimelineEvent]:
    """A deployment's events (inside or outside an incident) with an id above `after`."""
    rows = store.query(
        "SELECT * FROM timeline WHERE json_extract(data, '$.deployment_id') = ? AND id > ?"
        " ORDER BY id",
        (deployment_id, after),
    )
    return [_event(row) for row in rows]


def latest(store: Store, *, incident_id: str, kind: str) -> TimelineEvent | None:
    row = store.query_one(
        "SELECT * FROM timeline WHERE incident_id = ? AND kind = ? ORDER BY id DESC LIMIT 1",
        (incident_id, kind),
    )
    return _event(row) if row else None


def by_dedup_key(store: Store, dedup_key: str) -> TimelineEvent | None:
    row = store.query_one("SELECT * FROM timeline WHERE dedup_key = ?", (dedup_key,))
    return _event(row) if row else None


def event(store: Store, event_id: int) -> TimelineEvent | None:
    row = store.query_one("SELECT * FROM timeline WHERE id = ?", (event_id,))
    return _event(row) if row else None


def _event(row: dict[str, Any]) -> TimelineEvent:
    return TimelineEvent(
        id=int(row["id"]),
        incident_id=row["incident_id"],
        at=parse_iso(row["at"]),
        actor=row["actor"],
        kind=row["kind"],
        text=row["text"],
        data=json.loads(row["data"]),
    )
