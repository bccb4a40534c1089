"""Which incident a command is about: the one named, or the war room's own."""

from __future__ import annotations

import re

import click

from handlers.core.context import CommandEnv
from services.errors import UserFacingError
from services.incidents import records
from services.incidents.model import INCIDENT_ID, Incident, parse_incident_id

# Every command about one incident takes this flag; outside a war room the hint below
# names it, so it must work wherever that hint can be shown.
INCIDENT_OPTION = click.option(
    "--incident", "incident_id", metavar="INC-N", help="Which incident (default: this war room's)."
)
_FLAG_PREFIX = re.compile(r"--incident(?:=|\s+)(\S+)\s*")


def incident_here(env: CommandEnv) -> Incident | None:
    """The incident whose war room this is, if any."""
    channel = env.invocation.channel_id
    return records.by_channel(env.deps.store, channel) if channel else None


def find_incident(env: CommandEnv, incident_id: str | None) -> Incident:
    store = env.deps.store
    if incident_id:
        return records.get(store, parse_incident_id(incident_id))
    incident = incident_here(env)
    if incident is None:
        raise UserFacingError(
            "This channel is not an incident's war room.",
            hint="Run the command in the war room, or name the incident with --incident INC-n.",
        )
    return incident


def named_once(argument: str | None, option: str | None) -> str | None:
    """The incident named as `INC-n` or as `--incident INC-n` (both: the same one)."""
    if argument and option and parse_incident_id(argument) != parse_incident_id(option):
        raise click.UsageError(
            f"Name one incident: {argument[:20]} or {option[:20]}, not both"
            " (either `INC-n` or `--incident INC-n`)."
        )
    return option or argument


def split_incident(text: str) -> tuple[str | None, str]:
    """Free text that may start with `INC-n` or `--incident INC-n`: (the id, the rest)."""
    flag = _FLAG_PREFIX.match(text)
    if flag:
        return flag.group(1), text[flag.end() :]
    words = text.split(None, 1)
    if words and INCIDENT_ID.fullmatch(words[0]):
        return words[0], words[1] if len(words) > 1 else ""
    return None, text
