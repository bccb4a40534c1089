"""The postmortem draft: everything the store knows about an incident, as data.

Rendering to Markdown is the template's job (templates/postmortem.md.j2); this
module gathers the facts and computes the key durations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from services import timeline
from services.incidents import repository
from services.incidents.model import Incident
from services.incidents.presenting import duration_text, incident_data
from services.store import Store


def _between(start: datetime, end: datetime | None) -> str | None:
    return duration_text(end - start) if end else None


def _deployments(events: list[timeline.TimelineEvent]) -> list[dict[str, Any]]:
    """One entry per deployment or rollback: how it was asked for and where it ended.

    The timeline holds every step; the summary names each deployment once, with its
    request and its latest state change (e.g. "DEP-3: rolled back to v2.1.1").
    """
    by_id: dict[str, dict[str, Any]] = {}
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        deployment_id = data.get("deployment_id")
        if not isinstance(deployment_id, str):
            continue
        entry = by_id.setdefault(
            deployment_id,
            {"id": deployment_id, "requested": event.text, "requested_at": event.at, "last": None},
        )
        state = data.get("state")
        if isinstance(state, dict) and state.get("new"):
            entry["last"] = {"text": event.text, "at": event.at, "state": state["new"]}
    return list(by_id.values())


def postmortem_data(
    store: Store, incident: Incident, *, now: datetime, zone: ZoneInfo
) -> dict[str, Any]:
    events = timeline.events(store, incident_id=incident.id)
    return {
        "incident": incident_data(incident, now=now),
        "zone": str(zone),
        "durations": {
            "acknowledge": _between(incident.declared_at, incident.acknowledged_at),
            "mitigate": _between(incident.declared_at, incident.mitigated_at),
            "resolve": _between(incident.declared_at, incident.resolved_at),
        },
        "timeline": [
            {
                "utc": event.at.strftime("%Y-%m-%d %H:%M:%S"),
                "local": event.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z"),
                "actor": event.actor,
                "kind": event.kind,
                "text": event.text,
                "data": event.data,
            }
            for event in events
        ],
        "deployments": _deployments(events),
        "action_items": repository.action_items(store, incident.id),
        "generated_at": now.strftime("%Y-%m-%d %H:%M UTC"),
    }
