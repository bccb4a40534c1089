"""Incident rows in SQLite. Every change is a compare-and-set or happens in one transaction."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services import timeline
from services.clock import Clock, isoformat
from services.errors import NotFoundError
from services.incidents.model import Incident, Severity, Status
from services.patterns import link_for
from services.store import Store


@dataclass(frozen=True)
class NewIncident:
    title: str
    severity: Severity
    impact: str
    description: str
    commander: str | None
    declared_by: str
    origin_channel_id: str | None
    next_update_due_at: datetime
    request_key: str | None
    services: tuple[str, ...] = ()
    # Customer-facing words typed at declaration (`--public`), kept on the declared event.
    public: str | None = None
    # `incidents.call_link`, filled in with the number allocated here.
    call_link_template: str | None = None


def create(store: Store, *, clock: Clock, new: NewIncident) -> tuple[Incident, bool]:
    """Allocate INC-<n> and record the declaration; a replayed request_key returns the original.

    The incident row and its `declared` timeline event commit together, before
    any chat call, so the declaration survives whatever happens next.
    """
    now = clock.now()
    with store.transaction() as conn:
        if new.request_key is not None:
            existing = conn.execute(
                "SELECT * FROM incidents WHERE request_key = ?", (new.request_key,)
            ).fetchone()
            if existing is not None:
                return Incident.from_row(dict(existing)), False
        number = conn.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM incidents").fetchone()[0]
        incident_id = f"INC-{number}"
        conn.execute(
            "INSERT INTO incidents (number, id, title, severity, status, impact, description,"
            " commander, declared_by, origin_channel_id, declared_at, next_update_due_at,"
            " request_key, services, call_link)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                number,
                incident_id,
                new.title,
                new.severity.value,
                Status.INVESTIGATING.value,
                new.impact,
                new.description,
                new.commander,
                new.declared_by,
                new.origin_channel_id,
                isoformat(now),
                isoformat(new.next_update_due_at),
                new.request_key,
                json.dumps(list(new.services)),
                link_for(new.call_link_template, number=number, incident_id=incident_id)
                if new.call_link_template
                else None,
            ),
        )
        timeline.append(
            store,
            clock=clock,
            incident_id=incident_id,
            actor=new.declared_by,
            kind="declared",
            text=f"{new.severity.label} incident declared: {new.title}",
            data={
                "title": new.title,
                "severity": new.severity.value,
                "impact": new.impact,
                "description": new.description,
                "commander": new.commander,
                # Only when given: the declaration's record stays as it was without them.
                **({"services": list(new.services)} if new.services else {}),
                **({"public": new.public} if new.public else {}),
            },
            at=now,
        )
    return get(store, incident_id), True


def get(store: Store, incident_id: str) -> Incident:
    row = store.query_one("SELECT * FROM incidents WHERE id = ?", (incident_id,))
    if row is None:
        raise NotFoundError(
            f"There is no incident {incident_id}.",
            hint="`/hotfix incident list` shows the open incidents.",
        )
    return Incident.from_row(row)


def by_id(store: Store, incident_id: str) -> Incident | None:
    row = store.query_one("SELECT * FROM incidents WHERE id = ?", (incident_id,))
    return Incident.from_row(row) if row else None


def by_channel(store: Store, channel_id: str) -> Incident | None:
    row = store.query_one("SELECT * FROM incidents WHERE channel_id = ?", (channel_id,))
    return Incident.from_row(row) if row else None


def open_incidents(store: Store) -> list[Incident]:
    rows = store.query("SELECT * FROM incidents WHERE status != 'resolved' ORDER BY number")
    return [Incident.from_row(row) for row in rows]


def set_if_unset(store: Store, incident_id: str, **values: Any) -> bool:
    """Record a step's result once: a second writer (a retry, a restart) changes nothing."""
    columns = list(values)
    assignments = ", ".join(f"{c} = ?" for c in columns)
    unset = " AND ".join(f"{c} IS NULL" for c in columns)
    try:
        cursor = store.conn.execute(
            f"UPDATE incidents SET {assignments} WHERE id = ? AND {unset}",  # noqa: S608 - column names are ours
            (*values.values(), incident_id),
        )
    except sqlite3.IntegrityError:
        return False
    return cursor.rowcount == 1


def update(
    store: Store, incident_id: str, *, expect: dict[str, Any], values: dict[str, Any]
) -> bool:
    """Compare-and-set: apply `values` only if the row still holds `expect`."""
    assignments = ", ".join(f"{c} = ?" for c in values)
    conditions = " AND ".join(f"{c} IS ?" for c in expect) or "1"
    cursor = store.conn.execute(
        f"UPDATE incidents SET {assignments} WHERE id = ? AND {conditions}",  # noqa: S608 - column names are ours
        (*values.values(), incident_id, *expect.values()),
    )
    return cursor.rowcount == 1


def add_action_item(
    store: Store, *, clock: Clock, incident_id: str, text: str, owner: str | None
) -> None:
    store.conn.execute(
        "INSERT INTO action_items (incident_id, text, owner, created_at) VALUES (?, ?, ?, ?)",
        (incident_id, text, owner, isoformat(clock.now())),
    )


def action_items(store: Store, incident_id: str) -> list[dict[str, Any]]:
    return store.query(
        "SELECT text, owner, created_at FROM action_items WHERE incident_id = ? ORDER BY id",
        (incident_id,),
    )
