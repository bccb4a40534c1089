"""An incident as plain data for message templates (no Slack formatting here)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from services.clock import isoformat
from services.incidents.model import Incident


def duration_text(delta: timedelta | None) -> str | None:
    if delta is None:
        return None
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def incident_data(incident: Incident, *, now: datetime) -> dict[str, Any]:
    def iso(moment: datetime | None) -> str | None:
        return isoformat(moment) if moment else None

    end = incident.resolved_at or now
    return {
        "id": incident.id,
        "title": incident.title,
        "severity": incident.severity.value,
        "severity_label": incident.severity.label,
        "severity_meaning": incident.severity.meaning,
        "status": incident.status.value,
        "status_label": incident.status.label,
        "impact": incident.impact,
        "description": incident.description,
        "commander": incident.commander,
        "scribe": incident.scribe,
        "comms": incident.comms,
        "declared_by": incident.declared_by,
        "channel_id": incident.channel_id,
        "channel_name": incident.channel_name,
        "eta": incident.eta,
        "root_cause": incident.root_cause,
        "declared_at": iso(incident.declared_at),
        "acknowledged_at": iso(incident.acknowledged_at),
        "mitigated_at": iso(incident.mitigated_at),
        "resolved_at": iso(incident.resolved_at),
        "next_update_due_at": iso(incident.next_update_due_at) if incident.is_open else None,
        "age": duration_text(end - incident.declared_at),
        "is_open": incident.is_open,
        # The affected services (`--service`), as named in the config's `services:`.
        "services": list(incident.services),
        # The incident's call (Zoom, Meet…), from `incidents.call_link`; None when unset.
        "call_link": incident.call_link,
    }
