"""The "Publish to status page" button and its form, for Slack and the console alike.

Like the header's other buttons, anyone in the war room may press it; every press and
submission is audited with who did it (handlers/core/guard.py), and the service refuses a
resolved incident. The form shows the customer template's words for the person to edit.
"""

from __future__ import annotations

from typing import Any

from handlers.core.buttons import Button, ButtonPress
from handlers.core.context import CommandEnv
from handlers.core.forms import Form
from handlers.core.replies import Reply
from handlers.incident.commands import modal, summary
from handlers.incident.lookup import find_incident
from services.comms.customer import public_words
from services.comms.statuspage.publish import PUBLISHABLE, prefill, publish
from services.errors import UserFacingError
from services.incidents import records
from services.incidents.model import Status, parse_incident_id
from services.incidents.presenting import incident_data

CALLBACK_ID = "hotfix_publish"


def _require_status_page(env: CommandEnv) -> None:
    if not env.deps.comms.delivers_to("statuspage"):
        raise UserFacingError(
            "No status page is configured.",
            hint="Add a statuspage: section to hotfix.yml (see the README) and restart the bot.",
        )


def publish_button(env: CommandEnv, press: ButtonPress) -> Reply:
    _require_status_page(env)
    incident = find_incident(env, press.value or None)  # the button's value: INC-n
    if not incident.is_open:
        raise UserFacingError(f"{incident.id} is resolved; there is nothing left to publish.")
    status = incident.status if incident.status in PUBLISHABLE else Status.INVESTIGATING
    return modal(
        "modal_publish",
        env,
        incident=incident_data(incident, now=env.deps.clock.now()),
        statuses=[s.value for s in PUBLISHABLE],
        status=status.value,
        status_label=status.label,
        text=prefill(incident, templates=env.deps.renderer, deps=env.war_room),
    )


def validate(values: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    words = str(values.get("customer_text") or "").strip()
    if not words:
        errors["customer_text"] = "Say what customers should read."
    else:
        # The same check as --public: no Slack mentions, no direction overrides, the length.
        try:
            public_words(words, flag="The text")
        except UserFacingError as exc:
            errors["customer_text"] = exc.message
    if values.get("status") not in {s.value for s in PUBLISHABLE}:
        errors["status"] = "Pick a status."
    return errors


def run(env: CommandEnv, values: dict[str, Any], metadata: str) -> Reply:
    _require_status_page(env)
    incident = records.get(env.deps.store, parse_incident_id(metadata))
    problems = publish(
        incident,
        deps=env.war_room,
        actor=env.invocation.actor,
        words=str(values.get("customer_text") or ""),
        status=Status(str(values["status"])),
        request_key=env.invocation.trigger_id,
    )
    return summary(env, incident.id, f"Published to the status page for {incident.id}.", problems)


BUTTONS = (Button("hotfix_publish", publish_button, inline=True),)


FORM = Form(CALLBACK_ID, validate, run, incident_of=lambda metadata: metadata)
