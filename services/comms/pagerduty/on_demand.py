"""`/hotfix page`: paging people or a service's on-call for an incident, on demand.

PagerDuty's Events API v2 routes an alert to a *service* (its routing key), whose
escalation policy decides who is woken; it cannot name a person. So:

- `@user` pages the person's own routing key from `people_routing_key_env` (the key of
  a PagerDuty service whose escalation policy pages exactly that person). A person
  without one is refused, saying so: paging "someone on call" while the asker believes
  Dave was woken would be the dishonest answer.
- `--service=payments` pages that service's routing key (`service_routing_key_env`), or
  the default key with `payload.component` set to the service, so a PagerDuty Event
  Orchestration can route it; the timeline says which.
- neither: the incident's own targets (its services' keys, or the default key).

The page is recorded on the timeline first (`paged`: who, whom, the message), once per
request, then told to comms (Occasion.PAGED), which queues one trigger per routing key
with the page's own `dedup_key` (`INC-n/page/<event id>`), not the incident's alert.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from services import timeline
from services.chat import ChatError, Message
from services.comms.news import Occasion
from services.comms.pagerduty.events import Target, incident_targets, on_call_of
from services.comms.pagerduty.settings import PagerDutySettings
from services.errors import ConflictError, UserFacingError
from services.incidents.model import Incident
from services.incidents.outside import tell_outside
from services.incidents.presenting import incident_data
from services.incidents.war_room import WarRoomDeps, post_once

MESSAGE_LIMIT = 1000  # the alert's summary holds 1024 characters with the incident's id
NOT_CONFIGURED_HINT = (
    "Add `paging: pagerduty:` to hotfix.yml (routing_key_env names the environment variable"
    " holding a PagerDuty Events API v2 integration key, PAGERDUTY_ROUTING_KEY by default),"
    " set that variable and restart the bot. README: Paging (PagerDuty)."
)


@dataclass
class PageResult:
    incident: Incident
    event: timeline.TimelineEvent
    created: bool
    problems: list[str] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [str(t["label"]) for t in self.event.data.get("targets", [])]


def page(
    incident: Incident,
    *,
    deps: WarRoomDeps,
    settings: PagerDutySettings | None,
    known_services: Collection[str],
    actor: str,
    people: list[str],
    services: list[str],
    message: str,
    request_key: str | None = None,
) -> PageResult:
    """Record the page and queue it; `request_key` makes a replayed request page once."""
    if settings is None:
        raise UserFacingError("Paging is not configured.", hint=NOT_CONFIGURED_HINT)
    if not incident.is_open:
        raise ConflictError(
            f"{incident.id} is resolved; nobody was paged.",
            hint="Declare a new incident if the problem is back.",
        )
    message = message.strip()
    if len(message) > MESSAGE_LIMIT:
        raise UserFacingError(
            f"The message is {len(message)} characters; PagerDuty shows about {MESSAGE_LIMIT}.",
            hint="Shorten --message; details belong in the war room.",
        )
    targets = _targets(settings, incident, people, services, known_services)
    event, created = timeline.append_once(
        deps.store,
        clock=deps.clock,
        incident_id=incident.id,
        actor=actor,
        kind="paged",
        text=f"Paged {' and '.join(t['label'] for t in targets)}"
        + (f": {message}" if message else ""),
        data={
            "people": people,
            "services": services,
            "message": message,
            "targets": targets,
        },
        dedup_key=f"page:{request_key}" if request_key else None,
    )
    result = PageResult(incident=incident, event=event, created=created)
    # Told again on a replay: every delivery is keyed by the event, so nothing is queued
    # twice, and a crash between recording and telling loses nothing.
    result.problems += tell_outside(Occasion.PAGED, incident, event, deps)
    if incident.channel_id:
        post = Message(
            "paged",
            {
                "incident": incident_data(incident, now=deps.clock.now()),
                "actor": actor,
                "people": people,
                "services": services,
                "message": message,
            },
            key=f"{incident.id}:paged:{event.id}",
        )
        try:
            if created or deps.resuming:
                post_once(incident.channel_id, post, deps)
        except ChatError as exc:
            result.problems.append(f"Could not tell the war room: `{exc.error}`")
    return result


def _targets(
    settings: PagerDutySettings,
    incident: Incident,
    people: list[str],
    services: list[str],
    known_services: Collection[str],
) -> list[dict[str, Any]]:
    """One target per routing key (PagerDuty takes one event per key and dedup_key)."""
    chosen: list[tuple[Target, str | None]] = []
    for user in people:
        env = settings.people_routing_key_env.get(user)
        if env is None:
            raise UserFacingError(
                f"<@{user}> has no PagerDuty routing key, so they cannot be paged directly:"
                " PagerDuty's Events API pages a service's on-call, not a person.",
                hint=f"Add `paging: pagerduty: people_routing_key_env: {{{user}:"
                " PAGERDUTY_KEY_…}` (a PagerDuty service whose escalation policy pages them),"
                " or page a service's on-call with --service.",
            )
        chosen.append((Target(env, f"<@{user}>"), None))
    known = set(known_services) | set(settings.service_routing_key_env)
    for service in services:
        if service not in known:
            raise UserFacingError(
                f"Unknown service {service[:40]!r}.", hint=_known_hint(service, known)
            )
        own = settings.service_routing_key_env.get(service)
        if own is not None:
            chosen.append((Target(own, on_call_of([service])), None))
        else:
            label = f"{on_call_of([service])} (through the default routing key)"
            chosen.append((Target(settings.routing_key_env, label), service))
    if not chosen:
        chosen = [(target, None) for target in incident_targets(settings, incident)]
    merged: dict[str, dict[str, Any]] = {}
    for target, component in chosen:
        found = merged.get(target.routing_key_env)
        if found is None:
            merged[target.routing_key_env] = {
                "routing_key_env": target.routing_key_env,
                "label": target.label,
                "component": component,
            }
        elif target.label not in found["label"]:
            found["label"] += f" and {target.label}"
            if found["component"] != component:
                found["component"] = None
    return list(merged.values())


def _known_hint(service: str, known: set[str]) -> str:
    close = difflib.get_close_matches(service, sorted(known), n=1)
    if close:
        return f"Did you mean {close[0]}? Known services: {', '.join(sorted(known))}."
    if known:
        return f"Known services: {', '.join(sorted(known))}."
    return "No services are configured: add them under `services:` in hotfix.yml."
