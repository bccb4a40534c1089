"""/hotfix note, /hotfix timeline and /hotfix postmortem."""

from __future__ import annotations

import click

from handlers.core.commands import CommandList, chat_command
from handlers.core.context import CommandEnv
from handlers.core.replies import Reply
from handlers.incident.lookup import INCIDENT_OPTION, find_incident, named_once, split_incident
from services import timeline as timeline_store
from services.chat import ChatError
from services.errors import UserFacingError
from services.incidents import lifecycle
from services.incidents.postmortem import postmortem_data
from services.incidents.presenting import incident_data
from services.incidents.timeline_text import describe, in_zones

COMMANDS = CommandList()


@chat_command(
    COMMANDS,
    "note",
    example="/hotfix note Rolled back the cache config; error rate falling  (elsewhere: /hotfix note --incident INC-42 …)",
    short_help="Add a note to the war room's timeline.",
    raw_text="text",
    on_worker=False,
)
@click.argument("text")
def note(env: CommandEnv, text: str) -> Reply:
    """Add a line to the incident's timeline: in its war room, or anywhere as `note INC-n …`."""
    incident_id, text = split_incident(text)
    incident = find_incident(env, incident_id)
    if not text.strip():
        raise click.UsageError("The note is empty.")
    added = lifecycle.add_note(
        incident,
        deps=env.war_room,
        actor=env.invocation.actor,
        text=text.strip(),
        request_key=env.invocation.trigger_id,
    )
    return Reply(
        "incident_ack",
        {
            "incident": incident_data(incident, now=env.deps.clock.now()),
            "text": "Noted on the timeline." if added else "Already noted.",
            "problems": [],
        },
    )


@chat_command(
    COMMANDS,
    "timeline",
    example="/hotfix timeline --incident INC-42",
    short_help="Show an incident's timeline.",
    on_worker=False,
)
@click.argument("named", required=False, metavar="[INC-N]")
@INCIDENT_OPTION
def timeline(env: CommandEnv, named: str | None, incident_id: str | None) -> Reply:
    """Show the timeline (in a war room, of that incident by default)."""
    incident = find_incident(env, named_once(named, incident_id))
    events = timeline_store.events(env.deps.store, incident_id=incident.id)
    return Reply(
        "timeline",
        {
            "incident": incident_data(incident, now=env.deps.clock.now()),
            "zone": str(env.deps.settings.zone),
            "events": [
                {
                    "at": e.at.isoformat(),
                    "when": in_zones(e.at, env.deps.settings.zone, "%H:%M:%S"),
                    "actor": e.actor,
                    "who": env.deps.people.who(e.actor),
                    "kind": e.kind,
                    "text": describe(e, env.deps.people),
                }
                for e in events[-40:]
            ],
            "omitted": max(0, len(events) - 40),
        },
    )


@chat_command(
    COMMANDS,
    "postmortem",
    example="/hotfix postmortem --incident INC-42",
    short_help="Write the postmortem draft and upload it to the war room.",
)
@click.argument("named", required=False, metavar="[INC-N]")
@INCIDENT_OPTION
def postmortem(env: CommandEnv, named: str | None, incident_id: str | None) -> Reply:
    """Draft the postmortem (Markdown) from the timeline and upload it to the war room."""
    incident = find_incident(env, named_once(named, incident_id))
    deps = env.deps
    data = postmortem_data(
        deps.store, incident, now=deps.clock.now(), zone=deps.settings.zone, names=deps.people
    )
    markdown = deps.renderer.render_text("postmortem", data)
    if env.invocation.source == "cli":
        return Reply("plain", {"text": markdown})
    if incident.channel_id is None:
        raise UserFacingError(
            f"{incident.id} has no war room to upload to.",
            hint="Use `hotfix-bot postmortem` in a terminal.",
        )
    try:
        deps.chat.upload_file(
            incident.channel_id,
            filename=f"{incident.id.lower()}-postmortem.md",
            content=markdown,
            title=f"{incident.id} postmortem draft",
            comment=f"Postmortem draft for {incident.id}, written from the timeline. Edit freely.",
        )
    except ChatError as exc:
        raise UserFacingError(
            f"The postmortem draft could not be uploaded (`{exc.error}`).",
            hint=f"Run `hotfix-bot postmortem {incident.id}` in a terminal to get it.",
        ) from exc
    return Reply(
        "incident_ack",
        {
            "incident": incident_data(incident, now=deps.clock.now()),
            "text": "Postmortem draft uploaded to the war room.",
            "problems": [],
        },
    )
