"""Publishing to the status page from the war room: the deliberate act of going public.

The "Publish to status page" form shows the customer template's words, prefilled and
editable; what the person submits is the body customers read, as typed (the template is
not wrapped around it again). It is recorded on the timeline first (kind `published`, the
words under `public`), then told to comms as `Occasion.PUBLISHED`: the first publish opens
the public incident, a later one posts an update.
"""

from __future__ import annotations

from services import timeline
from services.comms.customer import customer_text
from services.comms.news import IncidentNews, Occasion
from services.comms.templates import TextTemplates
from services.errors import UserFacingError
from services.incidents.model import Incident, Status
from services.incidents.outside import tell_outside
from services.incidents.war_room import WarRoomDeps

# What the form may choose: the public incident's status (resolving is the Resolve button's).
PUBLISHABLE = (Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING)
VERBATIM = "verbatim"  # details key: the body is the words as typed


def prefill(incident: Incident, *, templates: TextTemplates, deps: WarRoomDeps) -> str:
    """The customer template's words for this incident now, for the person to edit."""
    moment = deps.clock.now()
    draft = timeline.TimelineEvent(
        id=0, incident_id=incident.id, at=moment, actor="", kind="published", text=""
    )
    news = IncidentNews(occasion=Occasion.PUBLISHED, incident=incident, event=draft)
    return customer_text(news, templates).body


def publish(
    incident: Incident,
    *,
    deps: WarRoomDeps,
    actor: str,
    words: str,
    status: Status,
    request_key: str | None = None,
) -> list[str]:
    """Record the publish and queue it for the status page; problems as sentences."""
    if not incident.is_open:
        raise UserFacingError(
            f"{incident.id} is resolved; its status page incident was resolved with it.",
            hint="Declare a new incident if customers are affected again.",
        )
    text = words.strip()
    if not text:
        raise UserFacingError("Say something to customers.", hint="The text cannot be empty.")
    if status not in PUBLISHABLE:
        raise UserFacingError(
            f"{status.label} cannot be published from here.",
            hint="Resolve the incident with its Resolve button; that resolves the page too.",
        )
    event = timeline.append(
        deps.store,
        clock=deps.clock,
        incident_id=incident.id,
        actor=actor,
        kind="published",
        text=f"Published to the status page ({status.label})",
        data={"public": text, "status": status.value},
        dedup_key=f"publish:{request_key}" if request_key else None,
    )
    return tell_outside(
        Occasion.PUBLISHED,
        incident,
        event,
        deps,
        details={"status": str(event.data["status"]), VERBATIM: True},
    )
