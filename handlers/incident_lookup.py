"""Which incident a command is about: the one named, or the war room's own."""

from __future__ import annotations

from handlers.context import CommandEnv
from services.errors import UserFacingError
from services.incidents import repository
from services.incidents.model import Incident, parse_incident_id


def incident_here(env: CommandEnv) -> Incident | None:
    """The incident whose war room this is, if any."""
    channel = env.invocation.channel_id
    return repository.by_channel(env.deps.store, channel) if channel else None


def find_incident(env: CommandEnv, incident_id: str | None) -> Incident:
    store = env.deps.store
    if incident_id:
        return repository.get(store, parse_incident_id(incident_id))
    incident = incident_here(env)
    if incident is None:
        raise UserFacingError(
            "This channel is not an incident's war room.",
            hint="Run the command in the war room, or name the incident with --incident INC-n.",
        )
    return incident
