"""The alert events the bot sends, built when they are planned (so a retry sends the very
event that was planned) and stored without the routing key: a delivery names the
environment variable holding it, read only when the event is sent.

Who is paged (`Target`): an incident's alert goes to each affected service's own routing
key (`service_routing_key_env`), and to the default key (`routing_key_env`) for services
without one or when the incident names none. PagerDuty deduplicates per routing key, so
the same `dedup_key` (the incident id) may be open on several services at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.clock import isoformat
from services.comms.pagerduty.settings import PagerDutySettings
from services.incidents.model import Incident, Severity
from services.timeline import TimelineEvent

SUMMARY_LIMIT = 1024  # payload.summary
DETAIL_LIMIT = 1000  # each text in custom_details: a pasted 10 KB title stays readable
WAR_ROOM_URL = "https://slack.com/app_redirect?channel={channel}"


@dataclass(frozen=True)
class Target:
    """Where an alert goes: `routing_key_env` names the key; `label` says who that is."""

    routing_key_env: str
    label: str  # "the on-call of payments", "<@U0DAVE>", "the on-call"


def incident_targets(settings: PagerDutySettings, incident: Incident) -> list[Target]:
    """The routing keys an incident's own alert goes to, one target per key."""
    by_env: dict[str, list[str]] = {}
    for service in incident.services:
        env = settings.service_routing_key_env.get(service, settings.routing_key_env)
        by_env.setdefault(env, []).append(service)
    if not by_env:
        by_env[settings.routing_key_env] = []
    return [Target(env, on_call_of(services)) for env, services in by_env.items()]


def on_call_of(services: list[str]) -> str:
    return f"the on-call of {', '.join(services)}" if services else "the on-call"


def cut(text: str, limit: int) -> str:
    """`text` within `limit` characters, cut visibly."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def trigger_event(
    settings: PagerDutySettings,
    incident: Incident,
    *,
    dedup_key: str,
    severity: Severity,
    headline: str,
    at: TimelineEvent,
    extra: dict[str, Any] | None = None,
    links: list[dict[str, str]] | None = None,
    component: str | None = None,
) -> dict[str, Any]:
    """A trigger for `incident`: its summary, PagerDuty severity and details."""
    details: dict[str, Any] = {
        "incident": incident.id,
        "title": cut(incident.title, DETAIL_LIMIT),
        "severity": severity.label,
        "status": incident.status.value,
        "impact": incident.impact,
        "commander": incident.commander,
        "declared_at": isoformat(incident.declared_at),
        "services": list(incident.services),
        **war_room_details(incident),
        **{k: cut(v, DETAIL_LIMIT) if isinstance(v, str) else v for k, v in (extra or {}).items()},
    }
    payload: dict[str, Any] = {
        "summary": cut(f"{incident.id} ({severity.label}): {headline}", SUMMARY_LIMIT),
        "source": settings.source,
        "severity": settings.severity_of(severity),
        "timestamp": isoformat(at.at),
        "class": "incident",
        "custom_details": details,
    }
    if component:
        payload["component"] = component
    event: dict[str, Any] = {
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": payload,
        "client": "hotfix-bot",
    }
    all_links = war_room_links(incident) + list(links or [])
    if all_links:
        event["links"] = all_links
    return event


def follow_up_event(action: str, dedup_key: str) -> dict[str, Any]:
    """An acknowledge or resolve of the alert `dedup_key`."""
    return {"event_action": action, "dedup_key": dedup_key}


def war_room_details(incident: Incident) -> dict[str, Any]:
    if not incident.channel_id:
        return {}
    return {
        "war_room": f"#{incident.channel_name}" if incident.channel_name else incident.channel_id,
        "war_room_url": WAR_ROOM_URL.format(channel=incident.channel_id),
    }


def war_room_links(incident: Incident) -> list[dict[str, str]]:
    if not incident.channel_id:
        return []
    name = f"#{incident.channel_name}" if incident.channel_name else incident.channel_id
    return [{"href": WAR_ROOM_URL.format(channel=incident.channel_id), "text": f"War room {name}"}]
