"""Buttons and pickers on incident messages, for Slack and the console alike."""

from __future__ import annotations

from handlers.core.buttons import Click, action
from handlers.core.context import CommandEnv
from handlers.core.replies import Reply
from handlers.incident.commands import declare_modal, modal, summary
from handlers.incident.lookup import find_incident
from services.incidents import lifecycle, playbook, reminders
from services.incidents.model import Role, Status
from services.incidents.presenting import incident_data


def _incident_of(env: CommandEnv, click: Click) -> str | None:
    """Incident id from the button's value or its block id ("incident:INC-3")."""
    if click.value.upper().startswith("INC-"):
        return click.value
    _, _, tail = click.block_id.partition(":")
    return tail.split(":")[0] if tail.upper().startswith("INC-") else None


@action("hotfix_declare", inline=True)
def declare_button(env: CommandEnv, click: Click) -> Reply:
    # The App Home button says "declare"; a hotfix's button carries a title to prefill.
    return declare_modal(env, title="" if click.value == "declare" else click.value)


@action("hotfix_post_update", inline=True)
def post_update_button(env: CommandEnv, click: Click) -> Reply:
    incident = find_incident(env, _incident_of(env, click))
    statuses = [s.value for s in Status if s is not Status.RESOLVED]
    return modal(
        "modal_update",
        env,
        incident=incident_data(incident, now=env.deps.clock.now()),
        statuses=statuses,
    )


@action("hotfix_resolve", inline=True)
def resolve_button(env: CommandEnv, click: Click) -> Reply:
    incident = find_incident(env, _incident_of(env, click))
    return modal("modal_resolve", env, incident=incident_data(incident, now=env.deps.clock.now()))


@action("hotfix_assign_commander")
def assign_commander(env: CommandEnv, click: Click) -> Reply:
    incident = find_incident(env, _incident_of(env, click))
    user = click.selected[0] if click.selected else click.value
    result = lifecycle.assign_role(
        incident,
        deps=env.war_room,
        actor=env.invocation.actor,
        role=Role.COMMANDER,
        user_id=user,
        request_key=env.invocation.trigger_id,
    )
    return summary(env, incident.id, f"Commander of {incident.id}: {user}", result.problems)


@action("hotfix_snooze")
def snooze_button(env: CommandEnv, click: Click) -> Reply:
    incident = find_incident(env, _incident_of(env, click))
    updated = reminders.snooze(incident, deps=env.war_room, actor=env.invocation.actor)
    minutes = env.deps.settings.incidents.snooze_minutes
    return summary(env, updated.id, f"Reminder snoozed for {minutes} min.", [])


@action("hotfix_playbook_", prefix=True)
def playbook_tick(env: CommandEnv, click: Click) -> Reply:
    """A checklist of one phase changed; Slack sends that phase's ticked boxes."""
    incident = find_incident(env, _incident_of(env, click))
    phase_items = {
        item["item_id"]
        for item in playbook.items(env.deps.store, incident.id)
        if item["item_id"].startswith(f"p{click.block_id.rsplit(':', 1)[-1]}i")
    }
    already = {
        item["item_id"] for item in playbook.items(env.deps.store, incident.id) if item["done_by"]
    }
    checked = (already - phase_items) | set(click.selected)
    changed = playbook.set_checked(
        env.deps.store,
        clock=env.deps.clock,
        incident_id=incident.id,
        checked=checked,
        actor=env.invocation.actor,
    )
    return summary(
        env,
        incident.id,
        "Checklist updated: " + "; ".join(changed) if changed else "Checklist unchanged.",
        [],
    )
