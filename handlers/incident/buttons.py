"""Buttons and pickers on incident messages, for Slack and the console alike."""

from __future__ import annotations

from handlers.core.buttons import Button, ButtonPress
from handlers.core.context import CommandEnv
from handlers.core.replies import Reply
from handlers.incident.commands import declare_modal, modal, summary
from handlers.incident.lookup import find_incident
from services.incidents import lifecycle, playbook, reminders
from services.incidents.model import Role, Status
from services.incidents.presenting import incident_data


def _incident_of(env: CommandEnv, press: ButtonPress) -> str | None:
    """Incident id from the button's value or its block id ("incident:INC-3")."""
    if press.value.upper().startswith("INC-"):
        return press.value
    _, _, tail = press.block_id.partition(":")
    return tail.split(":")[0] if tail.upper().startswith("INC-") else None


def declare_button(env: CommandEnv, press: ButtonPress) -> Reply:
    # The App Home button says "declare"; a hotfix's button carries a title to prefill.
    return declare_modal(env, title="" if press.value == "declare" else press.value)


def post_update_button(env: CommandEnv, press: ButtonPress) -> Reply:
    incident = find_incident(env, _incident_of(env, press))
    statuses = [s.value for s in Status if s is not Status.RESOLVED]
    return modal(
        "modal_update",
        env,
        incident=incident_data(incident, now=env.deps.clock.now()),
        statuses=statuses,
    )


def resolve_button(env: CommandEnv, press: ButtonPress) -> Reply:
    incident = find_incident(env, _incident_of(env, press))
    return modal("modal_resolve", env, incident=incident_data(incident, now=env.deps.clock.now()))


def assign_commander(env: CommandEnv, press: ButtonPress) -> Reply:
    incident = find_incident(env, _incident_of(env, press))
    user = press.selected[0] if press.selected else press.value
    result = lifecycle.assign_role(
        incident,
        deps=env.war_room,
        actor=env.invocation.actor,
        role=Role.COMMANDER,
        user_id=user,
        request_key=env.invocation.trigger_id,
    )
    return summary(env, incident.id, f"Commander of {incident.id}: {user}", result.problems)


def snooze_button(env: CommandEnv, press: ButtonPress) -> Reply:
    incident = find_incident(env, _incident_of(env, press))
    updated = reminders.snooze(incident, deps=env.war_room, actor=env.invocation.actor)
    minutes = env.deps.settings.incidents.snooze_minutes
    return summary(env, updated.id, f"Reminder snoozed for {minutes} min.", [])


def playbook_tick(env: CommandEnv, press: ButtonPress) -> Reply:
    """A checklist of one phase changed; Slack sends that phase's ticked boxes."""
    incident = find_incident(env, _incident_of(env, press))
    phase_items = {
        item["item_id"]
        for item in playbook.items(env.deps.store, incident.id)
        if item["item_id"].startswith(f"p{press.block_id.rsplit(':', 1)[-1]}i")
    }
    already = {
        item["item_id"] for item in playbook.items(env.deps.store, incident.id) if item["done_by"]
    }
    checked = (already - phase_items) | set(press.selected)
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


BUTTONS = (
    Button("hotfix_declare", declare_button, inline=True),
    Button("hotfix_post_update", post_update_button, inline=True),
    Button("hotfix_resolve", resolve_button, inline=True),
    Button("hotfix_assign_commander", assign_commander),
    Button("hotfix_snooze", snooze_button),
    Button("hotfix_playbook_", playbook_tick, prefix=True),
)
