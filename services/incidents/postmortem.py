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
        "deployments": [e.data for e in events if e.kind.startswith("deploy")],
        "action_items": repository.action_items(store, incident.id),
        "generated_at": now.strftime("%Y-%m-%d %H:%M UTC"),
    }
