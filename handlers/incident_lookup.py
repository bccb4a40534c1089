"""Which incident a command is about: the one named, or the war room's own."""

from __future__ import annotations

from handlers.context import CommandEnv
from services.errors import UserFacingError
from services.incidents import repository
from services.incidents.model import Incident, parse_incident_id


def find_incident(env: CommandEnv, incident_id: str | None) -> Incident:
    store = env.deps.store
    if incident_id:
        return repository.get(store, parse_incident_id(incident_id))
    channel = env.invocation.channel_id
    incident = repository.by_channel(store, channel) if channel else None
    if incident is None:
        raise UserFacingError(
            "This channel is not an incident's war room.",
            hint="Run the command in the war room, or name the incident with --incident INC-n.",
        )
    return incident
