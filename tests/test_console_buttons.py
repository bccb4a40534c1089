"""The console works like Slack: every printed button has a number, forms ask their fields.

A real store, the real console chat printing into a buffer, real deploy scripts;
presses go through the same action handlers and authorisation as Slack clicks.
"""

from __future__ import annotations

import io
import re
import time

import pytest

from bot.console import Console
from bot.wiring import build_router
from handlers.core.context import Deps
from services import timeline
from services.audit import search
from services.clock import ManualClock
from services.deploy import deployments
from services.deploy.model import IN_FLIGHT, State
from services.incidents import playbook, records
from tests.harness.deploy_target import DeployTarget

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CREATE = 'incident create --severity=sev1 --title="Payments failing"'


def console(deps: Deps, name: str = "alice") -> Console:
    return Console(deps, build_router(deps.settings), actor=f"console:{name}")


@pytest.fixture
def alice(cdeps: Deps) -> Console:
    """alice's console, in the war room of the incident she just declared."""
    shell = console(cdeps)
    shell.handle(CREATE)
    return shell


def number_of(text: str, label: str) -> str:
    """The number printed in front of a button's label (the last one printed)."""
    found = re.findall(r"\[(\d+)\] " + re.escape(label), text)
    assert found, f"no button {label!r} in:\n{text}"
    return found[-1]


def answer(shell: Console, *lines: str) -> str:
    """Type each line in turn (a form's answers); what the last one printed."""
    return [shell.handle(line) for line in lines][-1]


def settled(deps: Deps, deployment_id: str) -> State:
    deadline = time.monotonic() + 60
    while (state := deployments.get(deps.store, deployment_id).state) in IN_FLIGHT:
        assert time.monotonic() < deadline, "the deployment did not finish"
        time.sleep(0.05)
    return state


def test_a_deployment_cards_approve_button_is_pressed_by_number_with_the_two_person_rule(
    cdeps: Deps, printed: io.StringIO, target: DeployTarget
) -> None:
    alice, bob = console(cdeps, "alice"), console(cdeps, "bob")
    alice.handle(CREATE)
    alice.handle("deploy --service=payments --target=production --version=v2.1.1")
    approve = number_of(printed.getvalue(), "Approve")

    refused = alice.handle(approve)  # the requester, as the button in Slack would refuse
    assert "someone else must approve it (two-person rule)" in refused
    assert deployments.get(cdeps.store, "DEP-1").state is State.REQUESTED

    bob.handle(approve)  # the same number, pressed in another console on the same board
    assert settled(cdeps, "DEP-1") is State.SUCCEEDED
    assert target.live == "v2.1.1"
    clicks = [r for r in search(cdeps.store) if r["action"] == "click:hotfix_deploy_approve"]
    assert {(r["actor"], r["outcome"]) for r in clicks} == {
        ("console:alice", "refused"),
        ("console:bob", "ok"),
    }
    # The card no longer shows Approve: its number stops working, and says why.
    assert "its message changed" in bob.handle(approve)


def test_playbook_checkboxes_and_the_commander_picker_have_numbers(
    cdeps: Deps, printed: io.StringIO, alice: Console
) -> None:
    tick = number_of(printed.getvalue(), "[ ] Open the call bridge")
    said = alice.handle(tick)
    assert "Checklist updated" in said
    done = {i["text"]: i["done_by"] for i in playbook.items(cdeps.store, "INC-1")}
    assert done["Open the call bridge"] == "console:alice"

    picker = number_of(printed.getvalue(), "Assign commander…")
    assert "who?" in alice.handle(picker)
    assert "Nobody here goes by" not in (said := alice.handle("@bob"))
    assert "Commander of INC-1: console:bob" in said
    assert records.get(cdeps.store, "INC-1").commander == "console:bob"


def test_the_post_update_button_asks_the_forms_fields_in_the_terminal(
    cdeps: Deps, printed: io.StringIO, alice: Console
) -> None:
    asked = alice.handle(number_of(printed.getvalue(), "Post update"))
    assert "INC-1 update (a form" in asked and "Status (required):" in asked
    assert "'frozen' is not one of the choices for Status" in alice.handle("frozen")
    assert "What changed (required):" in alice.handle("identified")
    # "What changed" is required: an empty answer is asked again.
    assert "What changed is required." in alice.handle("")
    said = answer(alice, "Bad deploy, rolling back", "15 minutes", "", "")  # ETA, …, public
    assert "Update posted for INC-1." in said
    incident = records.get(cdeps.store, "INC-1")
    assert (incident.status.value, incident.eta) == ("identified", "15 minutes")
    update = timeline.latest(cdeps.store, incident_id="INC-1", kind="status_update")
    assert update is not None and update.actor == "console:alice"
    forms = [r for r in search(cdeps.store) if r["action"] == "form:hotfix_update"]
    assert forms and forms[0]["actor"] == "console:alice"


def test_resolve_asks_for_confirmation_then_the_form_with_owners_as_people(
    cdeps: Deps, printed: io.StringIO, alice: Console
) -> None:
    resolve = number_of(printed.getvalue(), "Resolve")
    assert "Resolve this incident?" in alice.handle(resolve)
    assert alice.handle("n") == "Not pressed; nothing was sent."
    assert records.get(cdeps.store, "INC-1").is_open

    alice.handle(resolve)
    assert "Root cause (required):" in alice.handle("y")
    said = answer(
        alice,
        "null pointer in the payment client",
        "rolled back",
        "add validation @bob; add alert",
        "",  # public message: optional
    )
    assert "INC-1 resolved." in said
    items = records.action_items(cdeps.store, "INC-1")
    assert [(a["text"], a["owner"]) for a in items] == [
        ("add validation", "console:bob"),
        ("add alert", None),
    ]


def test_the_declare_form_refuses_an_oversized_title_next_to_the_field_and_asks_again(
    cdeps: Deps,
) -> None:
    alice = console(cdeps)
    asked = alice.handle("incident create")  # no flags: the form, as in Slack
    assert "Declare incident (a form" in asked and "Title (required):" in asked
    hostile = "<!channel> \u202e" + "x" * 10_000
    assert "1) " in alice.handle(hostile)  # severity options follow
    alice.handle("2")  # sev1
    alice.handle("")  # impact: keeps medium
    alice.handle("")  # description: optional
    assert "Affected services:" in alice.handle("")  # commander: optional; then the picker
    alice.handle("")  # services: optional
    refused = alice.handle("")  # public message: optional -> submit -> validation
    assert refused.startswith("Title: ")
    assert "Title (required):" in refused
    assert records.open_incidents(cdeps.store) == []
    said = alice.handle("Payments failing")
    assert "INC-1 declared." in said
    assert said.endswith("(you are now in #inc-1-payments-failing; commands act on its incident)")
    assert records.get(cdeps.store, "INC-1").title == "Payments failing"


def test_cancel_closes_a_form_and_sends_nothing(cdeps: Deps) -> None:
    alice = console(cdeps)
    alice.handle("incident create")
    assert alice.handle("cancel") == "Cancelled; nothing was sent."
    assert alice.pending is None
    assert records.open_incidents(cdeps.store) == []


def test_a_reminder_printed_by_the_scheduler_has_numbers_too(
    cdeps: Deps, printed: io.StringIO, clock: ManualClock, alice: Console
) -> None:
    from datetime import timedelta

    from services.incidents import reminders

    clock.advance(timedelta(minutes=16))  # SEV1: an update every 15 minutes
    reminders.tick(deps=cdeps.war_room)
    assert "a status update for INC-1 is due" in printed.getvalue()
    said = alice.handle(number_of(printed.getvalue(), "Snooze"))
    assert "Reminder snoozed" in said
    snoozed = timeline.latest(cdeps.store, incident_id="INC-1", kind="reminder_snoozed")
    assert snoozed is not None and snoozed.actor == "console:alice"
