"""What the status page is owed for a piece of incident news.

Going public is deliberate. The public incident is opened (once per incident) when a
person gives customers words (`--public` on create / update / resolve, the "Publish to
status page" form) or when the severity is listed under `open_automatically`. Once it is
open:

- a status update is sent when it carries `public` words or changes the status
  (investigating → identified → monitoring map one to one; the customer template has
  words of its own for each status), never for internal chatter alone;
- a severity change re-marks the affected components (its body only with `public` words);
- the resolution always resolves the public incident and sets its components back to
  `operational`.

Bodies and names come from the customer templates only (`customer_text`): never the
title, notes or names typed in the war room.
"""

from __future__ import annotations

from typing import Any

from services.comms import deliveries
from services.comms.customer import customer_text
from services.comms.deliveries import Outgoing, State
from services.comms.news import IncidentNews, Occasion
from services.comms.statuspage.client import BODY_LIMIT, NAME_LIMIT
from services.comms.statuspage.settings import StatuspageSettings
from services.comms.templates import TextTemplates
from services.incidents.model import Severity, Status
from services.store import Store

CHANNEL = "statuspage"
OPEN = "open_incident"
UPDATE = "update_incident"
RESOLVE = "resolve_incident"  # an update too; named apart for the timeline and postmortem


def _cut(text: str, limit: int) -> str:
    """Within Statuspage's limit, cut visibly (a refused 422 would lose the whole update)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class StatuspagePlanner:
    def __init__(
        self, *, settings: StatuspageSettings, store: Store, templates: TextTemplates
    ) -> None:
        self.settings = settings
        self.store = store
        self.templates = templates

    def plan(self, news: IncidentNews) -> list[Outgoing]:
        if news.occasion is Occasion.PAGED:
            return []
        if not self._opened(news):
            return [self._open(news)] if self._goes_public(news) else []
        if news.occasion is Occasion.RESOLVED:
            return [self._update(news, status=Status.RESOLVED, operational=True)]
        if news.occasion is Occasion.SEVERITY_CHANGED:
            if not (self._components(news) or news.public):
                return []  # no component of this page to re-mark, nothing to say
            return [self._update(news, with_body=bool(news.public), components=True)]
        if news.occasion is Occasion.PUBLISHED:
            return [self._update(news, status=self._status(news))]
        if news.occasion is Occasion.UPDATED and (news.public or _status_changed(news)):
            return [self._update(news)]
        return []

    # -- deciding -------------------------------------------------------------------

    def _opened(self, news: IncidentNews) -> bool:
        """Whether the public incident was open (or on its way) before this news.

        Judged by the timeline event that asked for the opening: planning the same news
        again (a replay) then plans the same deliveries, which the queue ignores."""
        return any(
            d.channel == CHANNEL
            and d.action == OPEN
            and d.state is not State.FAILED
            and int(d.payload.get("event_id", 0)) < news.event.id
            for d in deliveries.for_incident(self.store, news.incident.id)
        )

    def _goes_public(self, news: IncidentNews) -> bool:
        if news.occasion is Occasion.PUBLISHED or news.public:
            return True
        return (
            news.occasion is Occasion.DECLARED
            and news.incident.severity in self.settings.open_automatically
        )

    def _status(self, news: IncidentNews) -> Status:
        if news.occasion is Occasion.RESOLVED:
            return Status.RESOLVED
        chosen = news.details.get("status")
        return Status(chosen) if chosen in {s.value for s in Status} else news.incident.status

    # -- the deliveries ---------------------------------------------------------------

    def _components(self, news: IncidentNews, *, operational: bool = False) -> dict[str, str]:
        status = "operational" if operational else self._component_status(news.incident.severity)
        return {
            self.settings.components[service]: status
            for service in news.incident.services
            if service in self.settings.components
        }

    def _component_status(self, severity: Severity) -> str:
        return self.settings.component_status.get(severity, "major_outage")

    def _body(self, news: IncidentNews) -> str:
        if news.details.get("verbatim") and news.public:
            # The publish form showed the customer template's words and the person edited
            # them: what they submitted is the whole body.
            return _cut(news.public, BODY_LIMIT)
        return _cut(customer_text(news, self.templates).body, BODY_LIMIT)

    def _open(self, news: IncidentNews) -> Outgoing:
        text = customer_text(news, self.templates)
        status = self._status(news)
        # A public incident opened at resolution (`resolve --public`) tells what happened.
        components = self._components(news, operational=status is Status.RESOLVED)
        payload: dict[str, Any] = {
            "incident_id": news.incident.id,
            "event_id": news.event.id,
            "channel_id": news.incident.channel_id,
            "name": _cut(text.title, NAME_LIMIT),
            "status": status.value,
            "body": self._body(news),
            "components": components,
        }
        # Once per incident, whichever news asks first. After an opening that failed for
        # good, later words for customers (a publish, `--public`) are a new, deliberate try,
        # keyed by their own event (so a replay of that news still queues nothing new).
        retry = news.occasion is not Occasion.DECLARED and self._failed_open(news.incident.id)
        return Outgoing(CHANNEL, OPEN, key="open", payload=payload, once_per_incident=not retry)

    def _failed_open(self, incident_id: str) -> bool:
        return any(
            d.channel == CHANNEL and d.action == OPEN and d.state is State.FAILED
            for d in deliveries.for_incident(self.store, incident_id)
        )

    def _update(
        self,
        news: IncidentNews,
        *,
        status: Status | None = None,
        with_body: bool = True,
        components: bool = False,
        operational: bool = False,
    ) -> Outgoing:
        payload: dict[str, Any] = {
            "incident_id": news.incident.id,
            "status": (status or self._status(news)).value,
        }
        if with_body:
            payload["body"] = self._body(news)
        if components or operational:
            payload["components"] = self._components(news, operational=operational)
        action = RESOLVE if payload["status"] == Status.RESOLVED.value else UPDATE
        return Outgoing(CHANNEL, action, key="update", payload=payload)


def _status_changed(news: IncidentNews) -> bool:
    change = news.event.data.get("status")
    return isinstance(change, dict) and change.get("old") != change.get("new")
