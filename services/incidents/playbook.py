"""The severity's playbook as a checklist in the war room; every tick goes on the timeline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services import timeline
from services.clock import Clock, isoformat
from services.incidents.model import Incident
from services.store import Store

if TYPE_CHECKING:
    from services.incidents.war_room import WarRoomDeps


def create_items(incident: Incident, *, deps: WarRoomDeps) -> list[dict[str, Any]]:
    policy = deps.settings.policy(incident.severity.value)
    position = 0
    with deps.store.transaction() as conn:
        for phase_index, phase in enumerate(policy.playbook):
            for item_index, text in enumerate(phase.items):
                conn.execute(
                    "INSERT OR IGNORE INTO playbook_items"
                    " (incident_id, item_id, position, phase, text) VALUES (?, ?, ?, ?, ?)",
                    (incident.id, f"p{phase_index}i{item_index}", position, phase.phase, text),
                )
                position += 1
    return items(deps.store, incident.id)


def items(store: Store, incident_id: str) -> list[dict[str, Any]]:
    return store.query(
        "SELECT item_id, phase, text, done_by, done_at FROM playbook_items"
        " WHERE incident_id = ? ORDER BY position",
        (incident_id,),
    )


def phases(all_items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    grouped: list[dict[str, Any]] = []
    for item in all_items:
        if not grouped or grouped[-1]["phase"] != item["phase"]:
            grouped.append({"phase": item["phase"], "items": []})
        grouped[-1]["items"].append(item)
    return grouped


def set_checked(
    store: Store, *, clock: Clock, incident_id: str, checked: set[str], actor: str
) -> list[str]:
    """Apply the checklist's new state; return the item texts whose state changed.

    Slack sends the full set of ticked boxes with each click, so the change is
    the difference against the store; a replayed click changes nothing.
    """
    changed = []
    now = clock.now()
    for item in items(store, incident_id):
        done = item["done_by"] is not None
        should = item["item_id"] in checked
        if done == should:
            continue
        if should:
            cursor = store.conn.execute(
                "UPDATE playbook_items SET done_by = ?, done_at = ?"
                " WHERE incident_id = ? AND item_id = ? AND done_by IS NULL",
                (actor, isoformat(now), incident_id, item["item_id"]),
            )
            kind, verb = "playbook_checked", "Done"
        else:
            cursor = store.conn.execute(
                "UPDATE playbook_items SET done_by = NULL, done_at = NULL"
                " WHERE incident_id = ? AND item_id = ? AND done_by IS NOT NULL",
                (incident_id, item["item_id"]),
            )
            kind, verb = "playbook_unchecked", "Reopened"
        if cursor.rowcount:
            changed.append(item["text"])
            # A first tick by anyone counts as acknowledging the incident.
            store.conn.execute(
                "UPDATE incidents SET acknowledged_at = ? WHERE id = ? AND acknowledged_at IS NULL",
                (isoformat(now), incident_id),
            )
            timeline.append(
                store,
                clock=clock,
                incident_id=incident_id,
                actor=actor,
                kind=kind,
                text=f"{verb}: {item['text']}",
                data={"item_id": item["item_id"], "phase": item["phase"]},
            )
    return changed
