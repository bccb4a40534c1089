"""/hotfix page: page people or a service's on-call through PagerDuty, for an incident."""

from __future__ import annotations

import click

from handlers.core.commands import CommandList, chat_command
from handlers.core.context import CommandEnv
from handlers.core.params import SLACK_USER
from handlers.core.replies import Reply
from handlers.incident.commands import summary
from handlers.incident.lookup import INCIDENT_OPTION, find_incident
from services.comms.pagerduty import on_demand

COMMANDS = CommandList()


@chat_command(
    COMMANDS,
    "page",
    example='/hotfix page @dave --service=payments --message="Checkout down, need a DB expert"',
    short_help="Page people or a service's on-call through PagerDuty.",
)
@click.argument("people", nargs=-1, type=SLACK_USER, metavar="[@USER]...")
@click.option(
    "--service",
    "services",
    multiple=True,
    help="Page this service's on-call (repeatable). Without @user or --service: the"
    " incident's own on-call.",
)
@click.option("--message", default="", help="What you need, shown in the PagerDuty alert.")
@INCIDENT_OPTION
def page_command(
    env: CommandEnv,
    people: tuple[str, ...],
    services: tuple[str, ...],
    message: str,
    incident_id: str | None,
) -> Reply:
    """Page through PagerDuty's Events API v2 for the incident: a person (their own routing
    key in `paging: pagerduty: people_routing_key_env`), a service's on-call, or without
    either the incident's on-call. Recorded on the timeline; resolved with the incident."""
    incident = find_incident(env, incident_id)
    settings = env.deps.settings
    result = on_demand.page(
        incident,
        deps=env.war_room,
        settings=settings.paging.pagerduty,
        known_services=settings.services.keys(),
        actor=env.invocation.actor,
        people=list(dict.fromkeys(people)),
        services=list(dict.fromkeys(s.strip().lower() for s in services)),
        message=message,
        request_key=env.invocation.trigger_id,
    )
    count = len(result.labels)
    keys = "routing key" if count == 1 else "routing keys"
    text = (
        f"{incident.id}: page queued for PagerDuty ({count} {keys}); the timeline says when"
        " PagerDuty accepts it."
        if result.created
        else "This page was already sent."
    )
    return summary(env, incident.id, text, result.problems)
