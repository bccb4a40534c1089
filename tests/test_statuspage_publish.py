"""The "Publish to status page" button: the header shows it when a status page is
configured, it opens the customer template prefilled, and submitting it goes public."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services import timeline
from services.clock import ManualClock
from services.incidents import records
from tests.harness.bot_actions import war_room
from tests.harness.running_bot import RunningBot
from tests.harness.slack_emulator import SlackEmulator
from tests.harness.statuspage_emulator import StatuspageEmulator

from .test_incidents_e2e import CREATE_SEV1, ibot, incident, select, text_input
from .test_statuspage import INTERNAL, PAGE, PAYMENTS, comms_events, page, resolve, spbot, update
from .test_statuspage import declare_incident as declare_with_services

pytestmark = pytest.mark.e2e

__all__ = ["ibot", "page", "spbot"]  # fixtures shared with those modules

JSON = dict[str, Any]


def header_buttons(bot: RunningBot) -> dict[str, JSON]:
    inc = incident(bot)
    assert inc.channel_id and inc.header_ts
    (header,) = [m for m in bot.slack.messages(inc.channel_id) if m["ts"] == inc.header_ts]
    return {
        element["action_id"]: element
        for block in header.get("blocks", [])
        if block["type"] == "actions"
        for element in block["elements"]
    }


def open_form(bot: RunningBot) -> JSON:
    inc = incident(bot)
    click = bot.driver.block_action(
        "hotfix_publish", value=inc.id, channel_id=inc.channel_id or "", message_ts=inc.header_ts
    )
    assert click.status == 200
    opened = bot.slack.calls_to("views.open")[-1]
    assert opened.ok, opened.response
    return dict(opened.response["view"])


def form_field(view: JSON, block_id: str) -> JSON:
    (block,) = [b for b in view["blocks"] if b.get("block_id") == block_id]
    return dict(block["element"])


def test_the_header_has_no_publish_button_without_a_status_page(ibot: RunningBot) -> None:
    war_room(ibot, CREATE_SEV1)
    assert "hotfix_publish" not in header_buttons(ibot)


def test_publishing_from_the_war_room_opens_the_public_incident(
    spbot: RunningBot, page: StatuspageEmulator, slack: SlackEmulator
) -> None:
    declare_with_services(spbot)
    assert header_buttons(spbot)["hotfix_publish"]["value"] == "INC-1"
    assert page.requests == []

    view = open_form(spbot)
    assert view["callback_id"] == "hotfix_publish"
    prefilled = form_field(view, "customer_text")["initial_value"]
    # The Initial Notification's words (the customer template), nothing of the war room's.
    assert prefilled.startswith("We are investigating a service disruption affecting payments")
    assert "We will post an update as soon as we know more." in prefilled
    assert INTERNAL not in str(view)
    assert form_field(view, "status")["initial_option"]["value"] == "investigating"

    edited = "We are investigating failed card payments.\n\nNext update within 30 minutes."
    result = spbot.driver.view_submission(
        "hotfix_publish",
        {"status": select("identified"), "customer_text": text_input(edited)},
        view_id=view["id"],
    )
    assert result.status == 200
    spbot.settle()

    (opened,) = page.writes()
    assert (opened.method, opened.incident["status"], opened.incident["body"]) == (
        "POST",
        "identified",
        edited,  # exactly what the person submitted, not wrapped in the template again
    )
    assert opened.incident["components"] == {PAYMENTS: "major_outage"}
    published = timeline.latest(spbot.deps.store, incident_id="INC-1", kind="published")
    assert published is not None and published.actor == "U0ALICE"
    assert published.data == {"public": edited, "status": "identified"}
    assert [e.text for e in comms_events(spbot)] == ["Status page incident opened (Identified)"]
    room = incident(spbot).channel_id or ""
    (answer,) = slack.ephemerals(room, "U0ALICE")
    assert answer["text"] == "Published to the status page for INC-1."
    # The incident's own status is the war room's: publishing changes only the page.
    assert incident(spbot).status.value == "investigating"

    # Publishing again posts an update to the same public incident.
    again = open_form(spbot)
    spbot.driver.view_submission(
        "hotfix_publish",
        {"status": select("monitoring"), "customer_text": text_input("A fix is rolling out.")},
        view_id=again["id"],
    )
    spbot.settle()
    assert [(r.method, r.incident["status"]) for r in page.writes()] == [
        ("POST", "identified"),
        ("PATCH", "monitoring"),
    ]
    assert len(page.incidents(PAGE)) == 1


def test_a_replayed_submission_publishes_once(spbot: RunningBot, page: StatuspageEmulator) -> None:
    declare_with_services(spbot)
    view = open_form(spbot)
    values = {"status": select("investigating"), "customer_text": text_input("Payments fail.")}
    request = spbot.driver.view_submission_request("hotfix_publish", values, view_id=view["id"])
    spbot.driver.send(request)
    spbot.driver.send(request)  # Slack's retry of the same request
    spbot.settle()
    spbot.deps.comms.drain()
    assert len(page.writes()) == 1
    kinds = [e.kind for e in timeline.events(spbot.deps.store, incident_id="INC-1")]
    assert kinds.count("published") == 1


def test_an_empty_or_oversized_text_is_refused_next_to_the_field(
    spbot: RunningBot, page: StatuspageEmulator
) -> None:
    declare_with_services(spbot)
    view = open_form(spbot)
    empty = spbot.driver.view_submission(
        "hotfix_publish",
        {"status": select("investigating"), "customer_text": text_input("   ")},
        view_id=view["id"],
    )
    assert empty.json == {
        "response_action": "errors",
        "errors": {"customer_text": "Say what customers should read."},
    }
    huge = spbot.driver.view_submission(
        "hotfix_publish",
        {"status": select("investigating"), "customer_text": text_input("x" * 3001)},
        view_id=view["id"],
    )
    assert huge.json is not None and "customers get at most 3000" in str(huge.json)
    mention = spbot.driver.view_submission(
        "hotfix_publish",
        {"status": select("investigating"), "customer_text": text_input("Ask <@U0BOB> <!here>")},
        view_id=view["id"],
    )
    assert mention.json is not None and "mentions someone" in str(mention.json)
    assert page.requests == []


def test_a_resolved_incident_cannot_be_published(
    spbot: RunningBot, page: StatuspageEmulator
) -> None:
    inc = declare_with_services(spbot)
    update(spbot, inc.id, message="internal only", key="u1")
    resolve(spbot, inc.id)
    result = spbot.driver.view_submission(
        "hotfix_publish",
        {"status": select("investigating"), "customer_text": text_input("Hello")},
        private_metadata=inc.id,
    )
    assert result.status == 200
    spbot.settle()
    assert page.requests == []
    room = records.get(spbot.deps.store, inc.id).channel_id or ""
    assert any("is resolved" in e["text"] for e in spbot.slack.ephemerals(room, "U0ALICE"))


def test_the_console_presses_the_same_button_and_answers_the_form(
    tmp_path: Path,
    clock: ManualClock,
    page: StatuspageEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    from bot.console import Console
    from bot.wiring import build_deps, build_router, close_deps
    from handlers.console.chat import ConsoleChat
    from services.settings import Settings

    from .test_console_buttons import number_of
    from .test_statuspage import KEY, statuspage_settings

    monkeypatch.setenv("STATUSPAGE_API_KEY", KEY)
    printed = io.StringIO()
    settings = Settings.model_validate(
        {"store": {"path": str(tmp_path / "bot.db")}, "statuspage": statuspage_settings(page)}
    )
    deps = build_deps(
        settings,
        clock=clock,
        chat=lambda renderer, _store, _clock: ConsoleChat(renderer, out=printed),
    )
    try:
        alice = Console(deps, build_router(settings), actor="console:alice")
        alice.handle('incident create --severity=sev2 --title="Payments failing"')
        asked = alice.handle(number_of(printed.getvalue(), "Publish to status page"))
        assert "Publish to status page (a form" in asked
        assert "Status shown to customers (required):" in asked
        text_question = alice.handle("")  # Enter keeps Investigating
        assert "We are investigating a service disruption" in text_question
        said = alice.handle("Some card payments fail; we are on it.")
        assert "Published to the status page for INC-1." in said
        deps.worker.drain(30)
        deps.comms.drain()
        (opened,) = page.writes()
        assert (opened.incident["status"], opened.incident["body"]) == (
            "investigating",
            "Some card payments fail; we are on it.",
        )
        published = timeline.latest(deps.store, incident_id="INC-1", kind="published")
        assert published is not None and published.actor == "console:alice"
    finally:
        close_deps(deps)
