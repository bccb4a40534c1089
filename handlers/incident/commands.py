"""/hotfix incident …: declare, update, assign roles, change severity, list, resolve."""

from __future__ import annotations

from typing import Any

import click

from handlers.core.commands import ChatGroup, chat_command
from handlers.core.context import CommandEnv
from handlers.core.form_limits import LIMITS, TITLE
from handlers.core.params import PUBLIC, PUBLIC_HELP, SERVICE, SEVERITY, SLACK_USER
from handlers.core.people import mention_people
from handlers.core.replies import Reply
from handlers.incident.lookup import INCIDENT_OPTION, find_incident
from services.errors import UserFacingError
from services.incidents import lifecycle, records
from services.incidents.declare import Declaration, declare
from services.incidents.model import IMPACTS, Role, Severity, Status
from services.incidents.presenting import incident_data
from services.incidents.war_room import open_war_room

INCIDENT = ChatGroup("incident", help="Declare and run incidents.")

STATUS = click.Choice([s.value for s in Status if s is not Status.RESOLVED], case_sensitive=False)


def _has_flags(ctx: click.Context) -> bool:
    """Were any options typed? (Defaults don't count: no flags means "open the form".)"""
    return any(
        ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
        for name in ctx.params
    )


def summary(env: CommandEnv, incident_id: str, text: str, problems: list[str]) -> Reply:
    incident = records.get(env.deps.store, incident_id)
    return Reply(
        "incident_ack",
        {
            "incident": incident_data(incident, now=env.deps.clock.now()),
            "text": text,
            "problems": problems,
        },
    )


def _cut_title(title: str) -> str:
    """A title longer than the declare form accepts, cut visibly rather than silently."""
    return title if len(title) <= TITLE else title[: TITLE - 1] + "…"


def modal(template: str, env: CommandEnv, **data: Any) -> Reply:
    # Slack opens the form; the console asks its fields one by one (bot/console.py).
    if env.invocation.source == "cli":
        raise UserFacingError(
            "That opens a form in Slack and the console; here, give the values as flags.",
            hint="Add --help to the command to see its flags.",
        )
    origin = {"origin_channel_id": env.invocation.channel_id, "limits": LIMITS}
    return Reply(template, {**origin, **data}, modal=True)


@chat_command(
    INCIDENT,
    "create",
    example='/hotfix incident create --severity=sev1 --title="Payment Gateway Down" --impact=high',
    short_help="Declare an incident and open its war room (no flags: a form).",
    on_worker=_has_flags,
)
@click.option(
    "--severity", type=SEVERITY, help="sev0 … sev3, or critical (SEV1), high, medium, low."
)
@click.option("--title", help="What is broken, in a few words.")
@click.option(
    "--impact",
    type=click.Choice(IMPACTS, case_sensitive=False),
    default="medium",
    show_default=True,
)
@click.option("--description", default="", help="What is known so far.")
@click.option("--commander", type=SLACK_USER, help="Incident commander (default: you).")
@click.option(
    "--service",
    "services",
    type=SERVICE,
    multiple=True,
    help="An affected service, as configured under `services:` (repeat for several).",
)
@click.option("--public", type=PUBLIC, help=PUBLIC_HELP)
def create(
    env: CommandEnv,
    severity: Severity | None,
    title: str | None,
    impact: str,
    description: str,
    commander: str | None,
    services: tuple[str, ...],
    public: str | None,
) -> Reply:
    """Declare an incident: record it, open the war room, invite the responders, announce it."""
    if severity is None and title is None and not services and public is None:
        return declare_modal(env, title="")
    if severity is None or not title or not title.strip():
        missing = "--severity" if severity is None else "--title"
        raise click.UsageError(f"Missing option '{missing}'.")
    return run_declaration(
        env,
        Declaration(
            title=_cut_title(title.strip()),
            severity=severity,
            impact=impact.lower(),
            description=description.strip(),
            commander=commander,
            declared_by=env.invocation.actor,
            origin_channel_id=env.invocation.channel_id,
            request_key=env.invocation.trigger_id,
            services=tuple(dict.fromkeys(services)),  # `--service a --service a`: once
            public=public,
        ),
    )


# Slack's multi_static_select takes at most 100 options.
MAX_SERVICE_CHOICES = 100


def declare_modal(env: CommandEnv, *, title: str) -> Reply:
    """The declare form, `title` prefilled; a service picker when services are configured."""
    return modal(
        "modal_declare",
        env,
        title=title,
        severities=[{"value": s.value, "label": s.label, "meaning": s.meaning} for s in Severity],
        services=sorted(env.deps.settings.services)[:MAX_SERVICE_CHOICES],
    )


def unpublished(env: CommandEnv, public: str | None) -> list[str]:
    """Customer words given where no status page and no customer email audience is configured
    reach no customer (paging alone is internal): say so."""
    settings = env.deps.settings
    email = settings.email
    to_customers = settings.statuspage is not None or (
        email is not None and any(a.messages == "customer" for a in email.audiences.values())
    )
    if public and not to_customers:
        return [
            "The public message reached no customer: no status page and no customer email"
            " audience is configured (`statuspage:` / `email:` in hotfix.yml). The war room"
            " has it."
        ]
    return []


def run_declaration(env: CommandEnv, declaration: Declaration) -> Reply:
    result = declare(declaration, deps=env.war_room)
    incident = result.report.incident
    if not result.created:
        return summary(env, incident.id, f"{incident.id} was already declared by this request.", [])
    problems = result.report.problems + unpublished(env, declaration.public)
    return summary(env, incident.id, f"{incident.id} declared.", problems)


@chat_command(
    INCIDENT,
    "update",
    example='/hotfix incident update --status=identified --eta="15 minutes" --message="Bad deploy, rolling back"',
    short_help="Post a status update (no flags: a form).",
    on_worker=_has_flags,
)
@click.option("--status", type=STATUS, help="New status (resolve with `incident resolve`).")
@click.option("--message", default="", help="What changed, for the war room and the announcement.")
@click.option("--eta", help='When the next milestone is expected, e.g. "15 minutes".')
@click.option("--broadcast", is_flag=True, help="Also post the update to the announcement channel.")
@click.option("--public", type=PUBLIC, help=PUBLIC_HELP)
@INCIDENT_OPTION
def update(
    env: CommandEnv,
    status: str | None,
    message: str,
    eta: str | None,
    broadcast: bool,
    public: str | None,
    incident_id: str | None,
) -> Reply:
    """Post a status update in the war room and the announcement thread; resets the reminder."""
    incident = find_incident(env, incident_id)
    if status is None and not message and eta is None and public is None:
        return modal(
            "modal_update",
            env,
            incident=incident_data(incident, now=env.deps.clock.now()),
            statuses=[s.value for s in Status if s is not Status.RESOLVED],
        )
    result = lifecycle.post_update(
        incident,
        deps=env.war_room,
        actor=env.invocation.actor,
        status=Status(status.lower()) if status else None,
        message=message.strip(),
        eta=eta,
        broadcast=broadcast,
        request_key=env.invocation.trigger_id,
        public=public,
    )
    if not result.changed:
        return summary(env, incident.id, "This update was already posted.", [])
    problems = result.problems + unpublished(env, public)
    return summary(env, incident.id, f"Update posted for {incident.id}.", problems)


def _role_command(role: Role) -> None:
    @chat_command(
        INCIDENT,
        role.value,
        example=f"/hotfix incident {role.value} @alice",
        short_help=f"Assign the {role.label.lower()}.",
    )
    @click.argument("user", type=SLACK_USER)
    @INCIDENT_OPTION
    def assign(env: CommandEnv, user: str, incident_id: str | None) -> Reply:
        incident = find_incident(env, incident_id)
        result = lifecycle.assign_role(
            incident,
            deps=env.war_room,
            actor=env.invocation.actor,
            role=role,
            user_id=user,
            request_key=env.invocation.trigger_id,
        )
        text = (
            f"{role.label} of {incident.id}: {user}"
            if result.changed
            else f"{user} already is the {role.label.lower()}."
        )
        return summary(env, incident.id, text, result.problems)

    assign.help = (
        f"Assign the {role.label.lower()}; they are invited and get a DM explaining the role."
    )


for _role in Role:
    _role_command(_role)


@chat_command(
    INCIDENT,
    "severity",
    example="/hotfix incident severity sev0",
    short_help="Change the severity.",
)
@click.argument("severity", type=SEVERITY)
@INCIDENT_OPTION
def severity_command(env: CommandEnv, severity: Severity, incident_id: str | None) -> Reply:
    """Change the severity: re-announces, invites that severity's responders, adjusts the cadence."""
    incident = find_incident(env, incident_id)
    result = lifecycle.change_severity(
        incident,
        deps=env.war_room,
        actor=env.invocation.actor,
        severity=severity,
        request_key=env.invocation.trigger_id,
    )
    text = (
        f"{incident.id} is now {severity.label}."
        if result.changed
        else f"{incident.id} already is {severity.label}."
    )
    return summary(env, incident.id, text, result.problems)


@chat_command(
    INCIDENT,
    "list",
    example="/hotfix incident list",
    short_help="Show the open incidents.",
    on_worker=False,
)
def list_command(env: CommandEnv) -> Reply:
    """Show the open incidents: severity, status, commander, age, next update due."""
    # Rebuilt only when an open incident's row or shown age changes; the snapshot's
    # version names it, so the renderer renders each snapshot once.
    snapshot = env.deps.open_incidents.get(env.deps.store, now=env.deps.clock.now())
    return Reply(
        "incident_list",
        {"incidents": snapshot.incidents},
        cache_key=f"incident_list:{snapshot.version}",
    )


@chat_command(
    INCIDENT,
    "resolve",
    example='/hotfix incident resolve --root-cause="null pointer in payment client" --action-items="add validation @bob; add alert"',
    short_help="Resolve: root cause, action items, resolution notice (no flags: a form).",
    on_worker=_has_flags,
)
@click.option("--root-cause", help="What caused it.")
@click.option(
    "--action-items",
    default="",
    help='Follow-ups separated by ";", each optionally with an @owner.',
)
@click.option("--resolution", default="", help="What fixed it.")
@click.option("--public", type=PUBLIC, help=PUBLIC_HELP)
@INCIDENT_OPTION
def resolve(
    env: CommandEnv,
    root_cause: str | None,
    action_items: str,
    resolution: str,
    public: str | None,
    incident_id: str | None,
) -> Reply:
    """Resolve the incident: stops reminders, posts the resolution notice, schedules the postmortem."""
    incident = find_incident(env, incident_id)
    if root_cause is None and not action_items and not resolution and public is None:
        return modal(
            "modal_resolve", env, incident=incident_data(incident, now=env.deps.clock.now())
        )
    if not root_cause or not root_cause.strip():
        raise click.UsageError("Missing option '--root-cause'.")
    result = lifecycle.resolve(
        incident,
        deps=env.war_room,
        actor=env.invocation.actor,
        root_cause=root_cause.strip(),
        action_items=lifecycle.parse_action_items(mention_people(env.deps.chat, action_items)),
        resolution=resolution.strip(),
        public=public,
    )
    problems = result.problems + unpublished(env, public)
    return summary(env, incident.id, f"{incident.id} resolved.", problems)


@chat_command(
    INCIDENT,
    "war-room",
    example="/hotfix incident war-room --incident INC-42",
    short_help="Create or repair an incident's war room (after a Slack failure).",
)
@INCIDENT_OPTION
def war_room_command(env: CommandEnv, incident_id: str | None) -> Reply:
    """Run the war-room steps that did not complete: channel, invites, topic, bookmarks, header,
    announcement, playbook. Steps already done are not repeated."""
    incident = find_incident(env, incident_id)
    if not incident.is_open:
        raise UserFacingError(f"{incident.id} is resolved.", hint="Declare a new incident instead.")
    report = open_war_room(incident, deps=env.war_room, actor=env.invocation.actor)
    return summary(env, incident.id, f"War room of {incident.id} checked.", report.problems)
