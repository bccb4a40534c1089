"""Telling the integrations outside Slack what the incident flows recorded.

Each flow calls `tell_outside` with the timeline event that records its change; the
event carries what a person typed for customers (`public`) and whether the update is a
broadcast. Planning is keyed by the event, so a resumed or replayed flow that tells
again queues nothing twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services import timeline
from services.comms import deliveries
from services.comms.deliveries import State
from services.comms.news import IncidentNews, Occasion
from services.incidents.model import Incident

if TYPE_CHECKING:
    from services.incidents.war_room import WarRoomDeps


def tell_outside(
    occasion: Occasion,
    incident: Incident,
    event: timeline.TimelineEvent,
    deps: WarRoomDeps,
    *,
    details: dict[str, Any] | None = None,
) -> list[str]:
    """Queue what `event` owes the status page, the pager and email; problems as sentences."""
    if deps.comms is None or not deps.comms.configured:
        return []
    public = event.data.get("public")
    news = IncidentNews(
        occasion=occasion,
        incident=incident,
        event=event,
        public=str(public) if public else None,
        broadcast=bool(event.data.get("broadcast")),
        details=details or {},
    )
    return deps.comms.tell(news)


def declared_outside(incident: Incident, deps: WarRoomDeps) -> list[str]:
    """The war room flow's last step: the declaration, told once whatever the retries."""
    if deps.comms is None or not deps.comms.configured:
        return []
    event = timeline.latest(deps.store, incident_id=incident.id, kind="declared")
    if event is None:
        return []
    return tell_outside(Occasion.DECLARED, incident, event, deps)


def war_room_opened(incident: Incident, deps: WarRoomDeps) -> None:
    """The war room's channel exists: what waited to link it (the declaration's page) goes."""
    if deps.comms is not None and deps.comms.configured:
        deps.comms.war_room_opened(incident.id)


def told_outside(incident: Incident, deps: WarRoomDeps) -> list[str]:
    """The war room flow's last step: tell the declaration again (nothing twice after a
    crash) and say what was refused before the room existed."""
    return declared_outside(incident, deps) + failed_outside(incident, deps)


def failed_outside(incident: Incident, deps: WarRoomDeps) -> list[str]:
    """Deliveries refused for good that the war room was not told of (they failed before it
    existed): its opening flow tells them. Whoever tells a refusal first claims it (the
    dispatcher's report as it fails, or this), so each is said once."""
    if deps.comms is None or not deps.comms.configured:
        return []
    return [
        deliveries.refusal_sentence(d, d.error)
        for d in deliveries.for_incident(deps.store, incident.id)
        if d.state is State.FAILED
        and deliveries.claim_telling(deps.store, clock=deps.clock, delivery_id=d.id)
    ]
