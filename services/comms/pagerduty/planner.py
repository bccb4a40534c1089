"""What each piece of incident news owes PagerDuty.

The incident's own alert has the incident id as its `dedup_key`:

- declared with a severity in `page_on_declare` -> trigger (one per routing key, see
  events.py);
- severity changed -> the open alert is re-triggered with the new severity; with no
  alert yet, a raise to a paging severity triggers it;
- acknowledged (`incident.acknowledged_at`: the first action after the declaration) ->
  acknowledge, once in the incident's life, planned with the first news that sees it;
- resolved -> resolve, of the incident's alert and of every on-demand page.

`/hotfix page` (PAGED) triggers alerts of their own (`INC-n/page/<event id>`): paging
a person is not the incident's alert, and acknowledging the incident must not silence
the person just paged. They are resolved with the incident.
"""

from __future__ import annotations

import re
from typing import Any

from services.comms import deliveries
from services.comms.deliveries import Outgoing, State
from services.comms.news import IncidentNews, Occasion
from services.comms.pagerduty import events
from services.comms.pagerduty.events import Target
from services.comms.pagerduty.settings import PagerDutySettings
from services.incidents.model import Incident, Severity
from services.store import Store

CHANNEL = "pagerduty"
_SLACK_MENTION = re.compile(r"<@([UW][A-Z0-9]+)>")
INCIDENT_ALERT = "incident"
ON_DEMAND = "on_demand"


def page_dedup_key(incident_id: str, event_id: int) -> str:
    """An on-demand page's own alert: never the incident's (`INC-n`)."""
    return f"{incident_id}/page/{event_id}"


class PagerDutyPlanner:
    def __init__(self, *, settings: PagerDutySettings, store: Store) -> None:
        self.settings = settings
        self.store = store

    def plan(self, news: IncidentNews) -> list[Outgoing]:
        incident = news.incident
        planned: list[Outgoing] = []
        if news.occasion is Occasion.DECLARED:
            # Told late (a war room finished after a crash) for a resolved incident: paging
            # now would open an alert that nothing resolves.
            if incident.is_open and incident.severity in self.settings.page_on_declare:
                planned += self._trigger(news, incident.severity, why="triggered")
        elif news.occasion is Occasion.RESOLVED:
            planned += self._resolve(incident)
        else:
            if news.occasion is Occasion.SEVERITY_CHANGED:
                planned += self._severity_changed(news)
            elif news.occasion is Occasion.PAGED:
                planned += self._page(news)
            planned += self._acknowledge(incident)
        return planned

    # -- the incident's alert ---------------------------------------------------

    def _trigger(self, news: IncidentNews, severity: Severity, *, why: str) -> list[Outgoing]:
        incident = news.incident
        pd_severity = self.settings.severity_of(severity)
        return [
            _outgoing(
                "trigger",
                target,
                kind=INCIDENT_ALERT,
                event=events.trigger_event(
                    self.settings,
                    incident,
                    dedup_key=incident.id,
                    severity=severity,
                    headline=incident.title,
                    at=news.event,
                ),
                said=(f"Paged {target.label} (PagerDuty alert {incident.id} {why}, {pd_severity})"),
                # Declared: the page links the war room if it opens within seconds.
                wait_for_war_room=news.occasion is Occasion.DECLARED,
            )
            for target in events.incident_targets(self.settings, incident)
        ]

    def _severity_changed(self, news: IncidentNews) -> list[Outgoing]:
        new = Severity(str(news.event.data["severity"]["new"]))
        open_alerts = self._alerts(news.incident, kind=INCIDENT_ALERT)
        if not open_alerts:
            if new not in self.settings.page_on_declare:
                return []
            return self._trigger(news, new, why=f"triggered: raised to {new.label}")
        planned = []
        for target in open_alerts:
            event = events.trigger_event(
                self.settings,
                news.incident,
                dedup_key=news.incident.id,
                severity=new,
                headline=news.incident.title,
                at=news.event,
            )
            pd_severity = self.settings.severity_of(new)
            planned.append(
                _outgoing(
                    "trigger",
                    target,
                    kind=INCIDENT_ALERT,
                    event=event,
                    said=(
                        f"PagerDuty alert {news.incident.id} re-triggered for {target.label}:"
                        f" now {new.label} ({pd_severity})"
                    ),
                )
            )
        return planned

    def _acknowledge(self, incident: Incident) -> list[Outgoing]:
        if incident.acknowledged_at is None:
            return []
        return [
            _outgoing(
                "acknowledge",
                target,
                kind=INCIDENT_ALERT,
                event=events.follow_up_event("acknowledge", incident.id),
                said=f"PagerDuty alert {incident.id} acknowledged ({target.label})",
                once_per_incident=True,
            )
            for target in self._alerts(incident, kind=INCIDENT_ALERT)
        ]

    def _resolve(self, incident: Incident) -> list[Outgoing]:
        planned = []
        for delivery in self._triggers(incident):
            dedup_key = str(delivery.payload["event"]["dedup_key"])
            target = Target(
                str(delivery.payload["routing_key_env"]), str(delivery.payload["target"])
            )
            planned.append(
                _outgoing(
                    "resolve",
                    target,
                    kind=str(delivery.payload["kind"]),
                    event=events.follow_up_event("resolve", dedup_key),
                    said=f"PagerDuty alert {dedup_key} resolved ({target.label})",
                    # One resolve per alert: the key names the alert, not only the target.
                    key=f"resolve:{target.routing_key_env}:{dedup_key}",
                )
            )
        return planned

    # -- on-demand pages ----------------------------------------------------------

    def _page(self, news: IncidentNews) -> list[Outgoing]:
        incident = news.incident
        data = news.event.data
        message = str(data.get("message") or "")
        dedup_key = page_dedup_key(incident.id, news.event.id)
        planned = []
        for raw in data.get("targets", []):
            target = Target(str(raw["routing_key_env"]), str(raw["label"]))
            event = events.trigger_event(
                self.settings,
                incident,
                dedup_key=dedup_key,
                severity=incident.severity,
                headline=message or f"{news.event.actor} asks for help with {incident.title}",
                at=news.event,
                extra={
                    "paged_by": news.event.actor,
                    # PagerDuty is not Slack: a mention reads as the user id there.
                    "paged": _SLACK_MENTION.sub(r"Slack user \1", target.label),
                    "message": message,
                },
                component=raw.get("component"),
            )
            planned.append(
                _outgoing(
                    "trigger",
                    target,
                    kind=ON_DEMAND,
                    event=event,
                    said=f"Paged {target.label} (PagerDuty alert {dedup_key} triggered)",
                )
            )
        return planned

    # -- what was sent before -----------------------------------------------------

    def _triggers(self, incident: Incident) -> list[deliveries.Delivery]:
        """The alerts planned for `incident` (not refused), one per routing key and key."""
        seen: set[tuple[str, str]] = set()
        found = []
        for delivery in deliveries.for_incident(self.store, incident.id):
            if delivery.channel != CHANNEL or delivery.action != "trigger":
                continue
            if delivery.state is State.FAILED:
                continue
            alert = (
                str(delivery.payload["routing_key_env"]),
                str(delivery.payload["event"]["dedup_key"]),
            )
            if alert not in seen:
                seen.add(alert)
                found.append(delivery)
        return found

    def _alerts(self, incident: Incident, *, kind: str) -> list[Target]:
        return [
            Target(str(d.payload["routing_key_env"]), str(d.payload["target"]))
            for d in self._triggers(incident)
            if d.payload.get("kind") == kind
        ]


def _outgoing(
    action: str,
    target: Target,
    *,
    kind: str,
    event: dict[str, Any],
    said: str,
    once_per_incident: bool = False,
    key: str | None = None,
    wait_for_war_room: bool = False,
) -> Outgoing:
    return Outgoing(
        channel=CHANNEL,
        action=action,
        key=key or f"{action}:{target.routing_key_env}",
        payload={
            "routing_key_env": target.routing_key_env,
            "target": target.label,
            "kind": kind,
            "event": event,
            "said": said,
        },
        once_per_incident=once_per_incident,
        wait_for_war_room=wait_for_war_room,
    )
