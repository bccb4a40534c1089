"""Incidents end to end: declaring, war-room failures, forms, bad input, console mode.

The bot runs in HTTP mode against the Slack emulator; every test asserts what
Slack was asked to do (method and key arguments), what people see, and what
the timeline recorded. The lifecycle after the declaration is in
test_incidents_flows.py; pure functions are in test_incidents_units.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from services.clock import ManualClock
from services.incidents import records
from services.incidents.model import Incident
from tests.harness.bot_actions import command, events, kinds, war_room
from tests.harness.cli import run_cli
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_driver import DriverResult, SlackRequest
from tests.harness.slack_emulator import ApiCall, SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

JSON = dict[str, Any]

ANNOUNCE = "C0INCIDENTS"
ESCALATE = "C0EXEC"
ONCALL_GROUP = "S0ONCALL"
EXEC_GROUP = "S0EXEC"
TITLE = "Payment Gateway Down"
ROOM_NAME = "inc-1-payment-gateway-down"
CREATE_SEV1 = f'incident create --severity=sev1 --title="{TITLE}" --impact=high'

# Slack methods that change something people can see.
WRITES = (
    "conversations.create",
    "conversations.invite",
    "conversations.setTopic",
    "conversations.open",
    "bookmarks.add",
    "chat.postMessage",
    "chat.update",
    "files.completeUploadExternal",
)


def incident_settings(**overrides: Any) -> JSON:
    settings: JSON = {
        "announcement_channel": ANNOUNCE,
        "escalation_channel": ESCALATE,
        "escalation_usergroup": EXEC_GROUP,
        "bookmarks": [
            {"title": "Runbook", "link": "https://runbooks.example.com/{incident_id}"},
            {"title": "Dashboard", "link": "https://grafana.example.com/d/payments"},
        ],
        "severities": {
            "sev0": {"responders": ["U0CAROL"], "update_every_minutes": 10, "escalate": True},
            "sev1": {
                "responders": ["U0BOB", ONCALL_GROUP],
                "update_every_minutes": 15,
                "escalate": True,
            },
        },
    }
    settings.update(overrides)
    return settings


def start_incident_bot(
    slack: SlackEmulator,
    tmp_path: Path,
    clock: ManualClock,
    *,
    incidents: JSON | None = None,
    **top: Any,
) -> RunningBot:
    """The bot with incidents configured, in a workspace with the channels and groups it names.

    The emulator's clock follows the bot's, so message timestamps and timeline
    times are on one time line.
    """
    slack.clock = lambda: clock.now().timestamp()
    slack.add_user("U0CAROL", "carol", real_name="Carol Responder")
    slack.add_user("U0DAVE", "dave", real_name="Dave Oncall")
    slack.add_user("U0GONE", "gone", real_name="Gone Away", deleted=True)
    slack.add_channel("incidents", channel_id=ANNOUNCE, members=("UBOT", "U0ALICE"))
    slack.add_channel("exec-escalations", channel_id=ESCALATE, members=("UBOT",))
    slack.add_usergroup("oncall", ["U0DAVE"], usergroup_id=ONCALL_GROUP)
    slack.add_usergroup("execs", ["U0CAROL"], usergroup_id=EXEC_GROUP)
    return start_bot(
        slack=slack,
        store_path=tmp_path / "incidents.db",
        clock=clock,
        extra_settings={"incidents": incidents or incident_settings(), **top},
    )


@pytest.fixture
def ibot(slack: SlackEmulator, tmp_path: Path, clock: ManualClock) -> Iterator[RunningBot]:
    running = start_incident_bot(slack, tmp_path, clock)
    yield running
    running.stop()


# -- reading what happened ------------------------------------------------------


def block_text(blocks: list[JSON] | None) -> str:
    """Every piece of text in Block Kit blocks, in order."""
    parts: list[str] = []
    for block in blocks or []:
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(str(text.get("text", "")))
        for item in block.get("fields") or []:
            parts.append(str(item.get("text", "")))
        for element in block.get("elements") or []:
            if isinstance(element.get("text"), str):
                parts.append(element["text"])
            elif isinstance(element.get("text"), dict):
                parts.append(str(element["text"].get("text", "")))
    return "\n".join(parts)


def shown(message: JSON) -> str:
    """What a person sees of a message or a reply: fallback text plus the blocks."""
    return str(message.get("text", "")) + "\n" + block_text(message.get("blocks"))


def incident(bot: RunningBot, incident_id: str = "INC-1") -> Incident:
    return records.get(bot.deps.store, incident_id)


def writes(slack: SlackEmulator, since: int = 0) -> list[ApiCall]:
    return [c for c in slack.calls[since:] if c.method in WRITES]


def channel_info(slack: SlackEmulator, channel_id: str) -> JSON:
    info = slack.channel(channel_id)
    assert info is not None, f"no channel {channel_id}"
    return info


def topic_of(slack: SlackEmulator, channel_id: str) -> str:
    return str(channel_info(slack, channel_id)["topic"]["value"])


def find_message(slack: SlackEmulator, channel: str, text: str) -> JSON:
    found = [m for m in slack.messages(channel) if text in shown(m)]
    assert len(found) == 1, f"{len(found)} messages with {text!r} in {channel}: {found}"
    return found[0]


# -- doing things -----------------------------------------------------------------


def checkbox_click(
    bot: RunningBot,
    action_id: str,
    *,
    block_id: str,
    channel_id: str,
    message_ts: str,
    values: list[str],
    user_id: str = "U0ALICE",
) -> DriverResult:
    """A click on a checkboxes element: Slack sends every ticked box of that element."""
    request = bot.driver.block_action_request(
        action_id,
        user_id=user_id,
        channel_id=channel_id,
        message_ts=message_ts,
        block_id=block_id,
        action_type="checkboxes",
    )
    payload = request.payload
    payload["actions"][0]["selected_options"] = [
        {"text": {"type": "mrkdwn", "text": value}, "value": value} for value in values
    ]
    signed = SlackRequest(
        body=urlencode({"payload": json.dumps(payload)}).encode(),
        headers=request.headers,
        payload=payload,
        response_id=request.response_id,
        trigger_id=request.trigger_id,
    )
    return bot.driver.send(signed)


def text_input(value: str | None) -> JSON:
    return {"value": {"type": "plain_text_input", "value": value}}


def select(value: str | None) -> JSON:
    option = {"value": value} if value is not None else None
    return {"value": {"type": "static_select", "selected_option": option}}


# == 1. Declaring an incident ======================================================


@dataclass
class Declared:
    reply: JSON
    room: str


@pytest.fixture
def declared(ibot: RunningBot) -> Declared:
    reply = command(ibot, CREATE_SEV1)
    room = ibot.slack.channel_by_name(ROOM_NAME)
    assert room is not None, [c.args for c in ibot.slack.calls_to("conversations.create")]
    return Declared(reply=reply, room=room["id"])


def test_declaration_records_the_incident_and_answers_the_declarer(
    ibot: RunningBot, declared: Declared, clock: ManualClock
) -> None:
    inc = incident(ibot)
    assert (inc.title, inc.severity.value, inc.impact, inc.status.value) == (
        TITLE,
        "sev1",
        "high",
        "investigating",
    )
    assert (inc.declared_by, inc.commander, inc.origin_channel_id) == (
        "U0ALICE",
        "U0ALICE",
        "C0GENERAL",
    )
    assert inc.declared_at == clock.now()
    assert inc.next_update_due_at == clock.now() + timedelta(minutes=15)  # the SEV1 cadence
    first = events(ibot)[0]
    assert (first.kind, first.actor) == ("declared", "U0ALICE")
    assert first.data == {
        "title": TITLE,
        "severity": "sev1",
        "impact": "high",
        "description": "",
        "commander": "U0ALICE",
    }
    assert kinds(ibot) == ["declared", "war_room_created", "announced", "escalated"]
    # The declarer hears back through the command's response_url, privately.
    assert declared.reply["response_type"] == "ephemeral"
    answer = shown(declared.reply)
    assert "INC-1 declared." in answer
    assert f"War room: <#{declared.room}>" in answer
    assert ":warning:" not in answer


def test_declaration_creates_the_war_room_and_invites_the_responders(
    ibot: RunningBot, declared: Declared
) -> None:
    slack = ibot.slack
    (create,) = slack.calls_to("conversations.create")
    assert create.args["name"] == ROOM_NAME
    assert create.args["is_private"] in ("0", "false", False)
    room = slack.channel(declared.room)
    assert room is not None and room["is_private"] is False
    created = events(ibot)[1]
    assert created.kind == "war_room_created"
    assert created.data == {
        "channel_id": declared.room,
        "channel_name": ROOM_NAME,
        "private": False,
    }
    # The responder group is expanded; everyone is invited in one call (Tier 3 method).
    (group_call,) = slack.calls_to("usergroups.users.list")
    assert group_call.args["usergroup"] == ONCALL_GROUP
    (invite,) = slack.calls_to("conversations.invite")
    assert invite.args["users"] == "U0ALICE,U0BOB,U0DAVE"
    assert invite.args["channel"] == declared.room
    assert set(slack.members(declared.room)) == {"UBOT", "U0ALICE", "U0BOB", "U0DAVE"}


def test_declaration_sets_topic_bookmarks_header_and_playbook(
    ibot: RunningBot, declared: Declared
) -> None:
    slack = ibot.slack
    (topic,) = slack.calls_to("conversations.setTopic")
    assert topic.args == {"channel": declared.room, "topic": "SEV1 · Investigating · IC: @alice"}
    assert topic_of(slack, declared.room) == "SEV1 · Investigating · IC: @alice"
    assert [(b["title"], b["link"]) for b in slack.bookmarks(declared.room)] == [
        ("Runbook", "https://runbooks.example.com/INC-1"),
        ("Dashboard", "https://grafana.example.com/d/payments"),
    ]

    room_messages = slack.messages(declared.room)
    assert [m["text"] for m in room_messages] == [
        "INC-1 SEV1 · Investigating: Payment Gateway Down",
        "SEV1 playbook for INC-1",
    ]
    header = room_messages[0]
    assert header["ts"] == incident(ibot).header_ts
    assert header["blocks"][0]["text"]["text"] == f"INC-1: {TITLE}"
    fields = shown(header)
    for expected in ("*Severity*\nSEV1", "*Status*\nInvestigating", "*Commander*\n<@U0ALICE>"):
        assert expected in fields
    (actions,) = [b for b in header["blocks"] if b["type"] == "actions"]
    assert actions["block_id"] == "incident:INC-1"
    elements = {e["action_id"]: e for e in actions["elements"]}
    assert elements["hotfix_assign_commander"]["type"] == "users_select"
    assert elements["hotfix_post_update"]["value"] == "INC-1"
    resolve = elements["hotfix_resolve"]
    assert resolve["value"] == "INC-1" and resolve["style"] == "danger"
    assert resolve["confirm"]["title"]["text"] == "Resolve this incident?"

    playbook = room_messages[1]
    assert playbook["ts"] == incident(ibot).playbook_ts
    phases = [b for b in playbook["blocks"] if b.get("block_id", "").startswith("playbook:")]
    assert [b["block_id"] for b in phases] == [f"playbook:INC-1:{n}" for n in range(4)]
    first = phases[0]["accessory"]
    assert (first["type"], first["action_id"]) == ("checkboxes", "hotfix_playbook_0")
    assert first["options"][1] == {
        "text": {"type": "mrkdwn", "text": "Assign an incident commander"},
        "value": "p0i1",
    }


def test_declaration_announces_and_escalates_a_sev1(ibot: RunningBot, declared: Declared) -> None:
    slack = ibot.slack
    (announcement,) = slack.messages(ANNOUNCE)
    inc = incident(ibot)
    assert (inc.announcement_channel_id, inc.announcement_ts) == (ANNOUNCE, announcement["ts"])
    assert announcement["text"] == f"SEV1 incident INC-1: {TITLE}"
    body = shown(announcement)
    assert ":red_circle: *SEV1 incident INC-1: Payment Gateway Down*" in body
    assert f"War room: <#{declared.room}>. Updates follow in this thread." in body
    announced = events(ibot)[2]
    assert announced.data == {"channel_id": ANNOUNCE, "ts": announcement["ts"]}

    (escalation,) = slack.messages(ESCALATE)
    assert escalation["text"] == f"Escalation: SEV1 INC-1: {TITLE}"
    text = block_text(escalation["blocks"])
    assert text.startswith(f"<!subteam^{EXEC_GROUP}> :rotating_light: *SEV1 INC-1")
    assert f"War room: <#{declared.room}>" in text
    escalated = events(ibot)[3]
    assert escalated.data == {"channel_id": ESCALATE, "usergroup": EXEC_GROUP, "reason": "declared"}


def test_a_sev2_is_announced_but_not_escalated(ibot: RunningBot) -> None:
    room = war_room(ibot, 'incident create --severity=sev2 --title="Search is slow"')
    assert channel_info(ibot.slack, room)["name"] == "inc-1-search-is-slow"
    assert len(ibot.slack.messages(ANNOUNCE)) == 1
    assert ibot.slack.messages(ESCALATE) == []
    assert "escalated" not in kinds(ibot)
    # No responders are configured for SEV2: only the declarer is invited.
    assert [c.args["users"] for c in ibot.slack.calls_to("conversations.invite")] == ["U0ALICE"]


def test_a_title_cannot_ping_anyone(ibot: RunningBot) -> None:
    # Slack escapes &, < and > that people type in a slash command.
    room = war_room(
        ibot, 'incident create --severity=sev2 --title="Checkout &lt;!channel&gt; &amp; cart down"'
    )
    assert incident(ibot).title == "Checkout <!channel> & cart down"
    assert channel_info(ibot.slack, room)["name"] == "inc-1-checkout-channel-cart-down"
    (announcement,) = ibot.slack.messages(ANNOUNCE)
    body = block_text(announcement["blocks"])
    assert "Checkout &lt;!channel&gt; &amp; cart down" in body
    assert "<!channel>" not in body


def test_an_oversized_title_is_cut_visibly_and_the_war_room_still_opens(ibot: RunningBot) -> None:
    long_title = "Payments \u202edown " + "x" * 10_000
    room = war_room(ibot, f'incident create --severity=sev2 --title="{long_title}"')
    title = incident(ibot).title
    assert len(title) == 150 and title.endswith("…")
    assert title.startswith("Payments \u202edown xxx")
    assert len(channel_info(ibot.slack, room)["name"]) <= 80
    (announcement,) = ibot.slack.messages(ANNOUNCE)
    assert "…" in block_text(announcement["blocks"])


def test_a_taken_channel_name_gets_a_numbered_suffix(ibot: RunningBot) -> None:
    ibot.slack.add_channel(ROOM_NAME, members=("U0BOB",))
    reply = command(ibot, CREATE_SEV1)
    names = [(c.args["name"], c.error) for c in ibot.slack.calls_to("conversations.create")]
    assert names == [(ROOM_NAME, "name_taken"), (f"{ROOM_NAME}-2", None)]
    room = ibot.slack.channel_by_name(f"{ROOM_NAME}-2")
    assert room is not None
    assert incident(ibot).channel_name == f"{ROOM_NAME}-2"
    assert "INC-1 declared." in reply["text"]
    assert ":warning:" not in shown(reply)
    assert kinds(ibot) == ["declared", "war_room_created", "announced", "escalated"]
    assert len(ibot.slack.messages(room["id"])) == 2  # header and playbook


def test_private_war_room_when_configured(
    slack: SlackEmulator, tmp_path: Path, clock: ManualClock
) -> None:
    bot = start_incident_bot(
        slack, tmp_path, clock, incidents=incident_settings(private_channels=True)
    )
    try:
        room = war_room(bot, CREATE_SEV1)
        (create,) = slack.calls_to("conversations.create")
        assert create.args["is_private"] in ("1", "true", True)
        assert channel_info(slack, room)["is_private"] is True
        assert events(bot)[1].data["private"] is True
        # Everything else works in a private channel too.
        assert set(slack.members(room)) == {"UBOT", "U0ALICE", "U0BOB", "U0DAVE"}
        assert topic_of(slack, room).startswith("SEV1 · Investigating")
        assert len(slack.bookmarks(room)) == 2
        assert len(slack.messages(room)) == 2
    finally:
        bot.stop()


def test_a_responder_who_cannot_be_invited_is_reported_and_the_rest_completes(
    slack: SlackEmulator, tmp_path: Path, clock: ManualClock
) -> None:
    settings = incident_settings()
    settings["severities"]["sev1"]["responders"] = ["U0GONE", "U0BOB", ONCALL_GROUP]
    bot = start_incident_bot(slack, tmp_path, clock, incidents=settings)
    try:
        reply = command(bot, CREATE_SEV1)
        room = incident(bot).channel_id
        assert room is not None
        # One call for everyone; Slack's `errors` names the one it could not invite.
        (invite,) = slack.calls_to("conversations.invite")
        assert invite.args["users"] == "U0ALICE,U0GONE,U0BOB,U0DAVE"
        assert invite.ok and invite.response["errors"] == [
            {"user": "U0GONE", "ok": False, "error": "cant_invite"}
        ]
        assert set(slack.members(room)) == {"UBOT", "U0ALICE", "U0BOB", "U0DAVE"}
        problem = "Could not invite <@U0GONE>: `cant_invite`"
        report = find_message(slack, room, "step(s) failed")
        assert problem in block_text(report["blocks"])
        assert ":warning:" in shown(reply) and problem in shown(reply)
        # Everything after the invitations still happened.
        assert topic_of(slack, room) == "SEV1 · Investigating · IC: @alice"
        assert len(slack.bookmarks(room)) == 2
        assert len(slack.messages(ANNOUNCE)) == 1
        assert len(slack.messages(ESCALATE)) == 1
        assert incident(bot).playbook_ts is not None
    finally:
        bot.stop()


def test_a_retried_declaration_request_declares_nothing_new(ibot: RunningBot) -> None:
    first = ibot.driver.slash(CREATE_SEV1)
    again = ibot.driver.replay(first, retry_num=1, retry_reason="http_timeout")
    assert again.status == 200
    assert first.response_id is not None
    replies = ibot.slack.wait_for_response(first.response_id, count=2)
    ibot.settle()
    texts = sorted(r["text"] for r in replies)
    assert texts == ["INC-1 declared.", "INC-1 was already declared by this request."]
    assert [i.id for i in records.open_incidents(ibot.deps.store)] == ["INC-1"]
    assert len(ibot.slack.calls_to("conversations.create")) == 1
    assert len(ibot.slack.messages(ANNOUNCE)) == 1
    assert kinds(ibot).count("declared") == 1


# == 2. Slack errors in the middle of the flow =====================================


def test_a_failed_bookmark_is_reported_and_the_flow_goes_on(ibot: RunningBot) -> None:
    ibot.slack.fail("bookmarks.add", "invalid_link")
    reply = command(ibot, CREATE_SEV1)
    room = incident(ibot).channel_id
    assert room is not None
    failed = [e for e in events(ibot) if e.kind == "step_failed"]
    assert [(e.actor, e.data) for e in failed] == [
        ("hotfix-bot", {"step": "bookmarks", "error": "invalid_link", "method": "bookmarks.add"})
    ]
    report = find_message(ibot.slack, room, "step(s) failed")
    assert "Step `bookmarks` failed: `invalid_link`" in block_text(report["blocks"])
    assert "Step `bookmarks` failed: `invalid_link`" in shown(reply)
    # The bookmarks step stopped at its first failure; the steps after it ran.
    assert ibot.slack.bookmarks(room) == []
    find_message(ibot.slack, room, "INC-1 SEV1 · Investigating")  # the header
    find_message(ibot.slack, room, "SEV1 playbook for INC-1")
    assert len(ibot.slack.messages(ANNOUNCE)) == 1
    assert "announced" in kinds(ibot)


def test_a_war_room_that_cannot_be_created_keeps_the_declaration(ibot: RunningBot) -> None:
    ibot.slack.fail("conversations.create", "restricted_action")
    reply = command(ibot, CREATE_SEV1)
    answer = shown(reply)
    assert reply["response_type"] == "ephemeral"
    assert (
        "INC-1 is declared and recorded, but its war room channel could not be created"
        " (`restricted_action`)." in answer
    )
    assert "`/hotfix incident war-room --incident INC-1` once Slack answers" in answer
    assert [(e.kind, e.data.get("step")) for e in events(ibot)] == [
        ("declared", None),
        ("step_failed", "channel"),
    ]
    assert events(ibot)[1].data["error"] == "restricted_action"
    inc = incident(ibot)
    assert inc.is_open and inc.channel_id is None
    # Nothing was announced for a flow that could not start.
    assert ibot.slack.calls_to("chat.postMessage") == []


def test_the_war_room_can_be_repaired_once_slack_answers(ibot: RunningBot) -> None:
    ibot.slack.fail("conversations.create", "restricted_action")
    command(ibot, CREATE_SEV1)
    repaired = command(ibot, "incident war-room --incident INC-1")
    assert "War room of INC-1 checked." in repaired["text"], shown(repaired)
    room = incident(ibot).channel_id
    assert room is not None
    find_message(ibot.slack, room, "INC-1 SEV1 · Investigating")  # the header
    assert len(ibot.slack.messages(ANNOUNCE)) == 1
    # Running it again repeats nothing: one channel, one announcement, one escalation.
    command(ibot, "incident war-room --incident INC-1")
    assert len(ibot.slack.calls_to("conversations.create")) == 2  # the refused one and one more
    assert len(ibot.slack.messages(ANNOUNCE)) == 1
    assert kinds(ibot).count("escalated") == 1
    assert kinds(ibot).count("war_room_created") == 1


def test_the_advice_after_a_failed_war_room_can_be_followed(ibot: RunningBot) -> None:
    ibot.slack.fail("conversations.create", "restricted_action")
    reply = command(ibot, CREATE_SEV1)
    assert "keep the timeline with `/hotfix note INC-1 …`" in shown(reply)
    by_hand = ibot.slack.add_channel("inc-1-by-hand", members=("UBOT", "U0ALICE"))
    noted = command(ibot, "note INC-1 Gateway vendor confirms the outage", channel_id=by_hand)
    assert "Noted on the timeline." in noted["text"], shown(noted)
    event = events(ibot)[-1]
    assert (event.kind, event.actor, event.text) == (
        "note",
        "U0ALICE",
        "Gateway vendor confirms the outage",
    )


def test_a_failed_escalation_is_reported_as_such(
    slack: SlackEmulator, tmp_path: Path, clock: ManualClock
) -> None:
    # The escalation channel does not exist (or the bot was removed from it).
    bot = start_incident_bot(
        slack, tmp_path, clock, incidents=incident_settings(escalation_channel="C0NOSUCH")
    )
    try:
        reply = command(bot, CREATE_SEV1)
        assert len(slack.messages(ANNOUNCE)) == 1  # the announcement itself worked
        (failed,) = [e for e in events(bot) if e.kind == "step_failed"]
        assert failed.data["step"] != "announcement"
        assert "escalat" in shown(reply).lower()
    finally:
        bot.stop()


def test_a_sev1_is_escalated_even_without_an_announcement_channel(
    slack: SlackEmulator, tmp_path: Path, clock: ManualClock
) -> None:
    bot = start_incident_bot(
        slack, tmp_path, clock, incidents=incident_settings(announcement_channel=None)
    )
    try:
        war_room(bot, CREATE_SEV1)
        assert slack.messages(ANNOUNCE) == []
        (escalation,) = slack.messages(ESCALATE)
        assert f"<!subteam^{EXEC_GROUP}>" in block_text(escalation["blocks"])
        assert "escalated" in kinds(bot)
    finally:
        bot.stop()


# == 3. The declaration form ======================================================


def test_declare_button_on_app_home_opens_the_form(ibot: RunningBot) -> None:
    ibot.driver.event({"type": "app_home_opened", "user": "U0ALICE", "tab": "home"})
    ibot.slack.wait_for_call("views.publish")
    ibot.settle()
    home = ibot.slack.home_view("U0ALICE")
    assert home is not None
    result = ibot.driver.block_action("hotfix_declare", value="declare", view=home["id"])
    assert result.status == 200
    (opened,) = ibot.slack.calls_to("views.open")
    assert opened.ok and opened.args["trigger_id"] == result.trigger_id
    view = opened.args["view"]
    assert (view["type"], view["callback_id"]) == ("modal", "hotfix_declare")
    assert [b["block_id"] for b in view["blocks"]] == [
        "title",
        "severity",
        "impact",
        "description",
        "commander",
        "public",  # words for customers (no service picker: no services configured)
    ]
    severity = view["blocks"][1]["element"]
    assert [o["value"] for o in severity["options"]] == ["sev0", "sev1", "sev2", "sev3"]
    assert ibot.slack.open_views("U0ALICE")[0]["callback_id"] == "hotfix_declare"
    assert records.open_incidents(ibot.deps.store) == []


@pytest.mark.parametrize(
    ("text", "callback_id", "in_war_room"),
    [
        ("incident create", "hotfix_declare", False),
        ("incident update", "hotfix_update", True),
        ("incident resolve", "hotfix_resolve", True),
    ],
)
def test_a_command_without_flags_opens_its_form(
    ibot: RunningBot, text: str, callback_id: str, in_war_room: bool
) -> None:
    channel = war_room(ibot, CREATE_SEV1) if in_war_room else "C0GENERAL"
    before = len(ibot.slack.calls_to("views.open"))
    result = ibot.driver.slash(text, channel_id=channel)
    assert result.status == 200
    ibot.settle()
    assert "Working on" not in result.body
    opened = ibot.slack.calls_to("views.open")[before:]
    assert len(opened) == 1 and opened[0].ok
    assert opened[0].args["trigger_id"] == result.trigger_id
    assert opened[0].args["view"]["callback_id"] == callback_id


def test_submitting_the_declare_form_declares_the_incident(ibot: RunningBot) -> None:
    values = {
        "title": text_input("Checkout errors"),
        "severity": select("sev2"),
        "impact": select("high"),
        "description": text_input("5xx on /checkout since 09:20"),
        "commander": {"value": {"type": "users_select", "selected_user": "U0BOB"}},
    }
    result = ibot.driver.view_submission("hotfix_declare", values, private_metadata="C0GENERAL")
    assert result.status == 200 and result.body == ""
    ibot.settle()
    inc = incident(ibot)
    assert (inc.title, inc.severity.value, inc.impact, inc.commander) == (
        "Checkout errors",
        "sev2",
        "high",
        "U0BOB",
    )
    assert inc.description == "5xx on /checkout since 09:20"
    assert kinds(ibot)[:2] == ["declared", "war_room_created"]
    assert ibot.slack.channel_by_name("inc-1-checkout-errors") is not None
    (answer,) = ibot.slack.ephemerals("C0GENERAL", "U0ALICE")
    assert "INC-1 declared." in answer["text"]


def test_a_declare_form_without_title_is_answered_with_field_errors(ibot: RunningBot) -> None:
    values = {"title": text_input("   "), "severity": select(None)}
    result = ibot.driver.view_submission("hotfix_declare", values, private_metadata="C0GENERAL")
    assert result.status == 200
    assert result.json == {
        "response_action": "errors",
        "errors": {"title": "Give the incident a title.", "severity": "Pick a severity."},
    }
    ibot.settle()
    assert records.open_incidents(ibot.deps.store) == []


def test_submitting_the_update_form_from_the_header_posts_the_update(ibot: RunningBot) -> None:
    room = war_room(ibot, CREATE_SEV1)
    header_ts = incident(ibot).header_ts
    assert header_ts is not None
    click = ibot.driver.block_action(
        "hotfix_post_update", value="INC-1", channel_id=room, message_ts=header_ts
    )
    assert click.status == 200
    (opened,) = ibot.slack.calls_to("views.open")
    values = {
        "status": select("monitoring"),
        "message": text_input("Rolled back; error rate falling"),
        "eta": text_input(None),
        "broadcast": {
            "value": {"type": "checkboxes", "selected_options": [{"value": "broadcast"}]}
        },
    }
    result = ibot.driver.view_submission(
        "hotfix_update", values, view_id=opened.response["view"]["id"]
    )
    assert result.status == 200
    ibot.settle()
    assert incident(ibot).status.value == "monitoring"
    assert kinds(ibot)[-1] == "status_update"
    find_message(ibot.slack, room, "Rolled back; error rate falling")


def test_submitting_the_resolve_form_resolves_with_action_items(ibot: RunningBot) -> None:
    room = war_room(ibot, CREATE_SEV1)
    header_ts = incident(ibot).header_ts
    assert header_ts is not None
    ibot.driver.block_action("hotfix_resolve", value="INC-1", channel_id=room, message_ts=header_ts)
    (opened,) = ibot.slack.calls_to("views.open")
    view_id = opened.response["view"]["id"]

    empty = ibot.driver.view_submission(
        "hotfix_resolve", {"root_cause": text_input("  ")}, view_id=view_id
    )
    assert empty.json == {
        "response_action": "errors",
        "errors": {"root_cause": "Record the root cause (it can be refined in the postmortem)."},
    }
    assert incident(ibot).is_open

    values = {
        "root_cause": text_input("expired TLS certificate"),
        "resolution": text_input("renewed the cert"),
        "action_items": text_input("automate renewal <@U0BOB|bob>\nalert 14 days before expiry"),
    }
    result = ibot.driver.view_submission("hotfix_resolve", values, view_id=view_id)
    assert result.status == 200
    ibot.settle()
    inc = incident(ibot)
    assert (inc.status.value, inc.root_cause) == ("resolved", "expired TLS certificate")
    assert [(a["text"], a["owner"]) for a in records.action_items(ibot.deps.store, "INC-1")] == [
        ("automate renewal", "U0BOB"),
        ("alert 14 days before expiry", None),
    ]
    assert kinds(ibot)[-1] == "resolved"
    find_message(ibot.slack, room, "*Resolution:* renewed the cert")
    (answer,) = ibot.slack.ephemerals(room, "U0ALICE")
    assert answer["text"] == "INC-1 resolved."


def test_post_update_and_resolve_buttons_open_their_forms(ibot: RunningBot) -> None:
    room = war_room(ibot, CREATE_SEV1)
    header_ts = incident(ibot).header_ts
    assert header_ts is not None
    for action_id, callback_id in (
        ("hotfix_post_update", "hotfix_update"),
        ("hotfix_resolve", "hotfix_resolve"),
    ):
        click = ibot.driver.block_action(
            action_id, value="INC-1", channel_id=room, message_ts=header_ts
        )
        assert click.status == 200
        opened = ibot.slack.calls_to("views.open")[-1]
        assert opened.ok and opened.args["trigger_id"] == click.trigger_id
        view = opened.args["view"]
        assert (view["callback_id"], view["private_metadata"]) == (callback_id, "INC-1")
    ibot.settle()
    assert incident(ibot).is_open
    assert kinds(ibot) == ["declared", "war_room_created", "announced", "escalated"]


# == 7. Bad input: a clear private answer and no change ============================


@pytest.fixture
def one_incident(ibot: RunningBot) -> str:
    return war_room(ibot, CREATE_SEV1)


@pytest.mark.parametrize(
    ("text", "where", "expected"),
    [
        (
            "incident update --incident INC-99 --message=hello",
            "general",
            "There is no incident INC-99.",
        ),
        ("incident severity sev1 --incident INC-99", "general", "There is no incident INC-99."),
        ("timeline INC-99", "general", "There is no incident INC-99."),
        ("incident update --incident 99 --message=x", "general", "'99' is not an incident id."),
        (
            "incident update --message=hello",
            "general",
            "This channel is not an incident's war room.",
        ),
        ("note the cache is cold", "general", "This channel is not an incident's war room."),
        (
            "incident resolve --root-cause=x",
            "general",
            "This channel is not an incident's war room.",
        ),
        ("postmortem", "general", "This channel is not an incident's war room."),
        ("incident severity sev7", "room", "'sev7' is not a severity. Use sev0 … sev3, or"),
        (
            "incident create --severity=sev9 --title=x",
            "general",
            "Invalid value for '--severity': 'sev9' is not a severity.",
        ),
        ("incident update --status=resolved --message=x", "room", "'resolved' is not one of"),
        ("incident commander @nobody", "room", "Nobody here goes by @nobody."),
        ("incident commander <@U0NOBODY|nobody>", "room", "is not a member of this workspace."),
        ("incident commander <@U0GONE|gone>", "room", "is not a member of this workspace."),
        ("incident scribe <@U0NOBODY|nobody>", "room", "is not a member of this workspace."),
        ("incident resolve --action-items=x", "room", "Missing option '--root-cause'."),
    ],
)
def test_bad_input_is_answered_privately_and_changes_nothing(
    ibot: RunningBot, one_incident: str, text: str, where: str, expected: str
) -> None:
    channel = one_incident if where == "room" else "C0GENERAL"
    before_events = events(ibot)
    before_incident = incident(ibot)
    before_calls = len(ibot.slack.calls)
    reply = command(ibot, text, channel_id=channel)
    assert reply["response_type"] == "ephemeral"
    assert expected in reply["text"], reply
    assert events(ibot) == before_events
    assert incident(ibot) == before_incident
    assert records.by_id(ibot.deps.store, "INC-2") is None
    assert writes(ibot.slack, before_calls) == []


def test_the_unknown_member_error_shows_a_readable_name(
    ibot: RunningBot, one_incident: str
) -> None:
    reply = command(ibot, "incident commander <@U0NOBODY|nobody>", channel_id=one_incident)
    assert "&lt;@U0NOBODY&gt;" not in block_text(reply["blocks"])


def test_declaring_with_a_commander_outside_the_workspace_is_refused(ibot: RunningBot) -> None:
    reply = command(ibot, f"{CREATE_SEV1} --commander=<@U0NOBODY|nobody>")
    assert "is not a member of this workspace" in shown(reply)
    assert records.by_id(ibot.deps.store, "INC-1") is None
    assert ibot.slack.calls_to("conversations.create") == []


def test_a_resolved_incident_refuses_changes(ibot: RunningBot, one_incident: str) -> None:
    command(ibot, 'incident resolve --root-cause="config push"', channel_id=one_incident)
    before_events = events(ibot)
    before_calls = len(ibot.slack.calls)
    for text in (
        'incident update --message="still broken?"',
        "incident severity sev0",
        "incident commander <@U0BOB|bob>",
        "incident resolve --root-cause=again",
    ):
        reply = command(ibot, text, channel_id=one_incident)
        assert "INC-1 is resolved; nothing was changed." in reply["text"], (text, reply)
        assert "Declare a new incident if the problem is back." in shown(reply)
    assert events(ibot) == before_events
    assert writes(ibot.slack, before_calls) == []


# == 8. Console mode: the same flow with no Slack ==================================


def test_console_runs_the_incident_lifecycle(tmp_path: Path) -> None:
    config = tmp_path / "hotfix.yml"
    config.write_text(
        "store:\n  path: state/hotfix.db\n"
        f"incidents:\n  announcement_channel: {ANNOUNCE}\n"
        "  bookmarks:\n    - {title: Runbook, link: 'https://runbooks.example.com/{incident_id}'}\n"
    )
    lines = [
        CREATE_SEV1,
        'incident update --incident INC-1 --status=identified --eta="15 minutes"'
        ' --message="Bad deploy, rolling back" --broadcast',
        "note it's getting better",
        'incident resolve --incident INC-1 --root-cause="null pointer"'
        ' --action-items="add validation; add alert"',
        "incident update --incident INC-1 --message=again",
        "postmortem INC-1",
        "incident list",
        "quit",
    ]
    result = run_cli(
        "--config",
        str(config),
        "console",
        "--user",
        "alice",
        cwd=tmp_path,
        stdin="\n".join(lines) + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    out = result.stdout
    room = f"[#{ROOM_NAME}]"
    msg = f"[#{ROOM_NAME} · msg"
    expected_in_order = [
        "You are console:alice",
        f"{room} (channel #{ROOM_NAME} created)",
        f"{room} (topic: SEV1 · Investigating · IC: console:alice)",
        f"{room} (bookmark: Runbook https://runbooks.example.com/INC-1)",
        f"{msg} 1] INC-1: {TITLE}",
        f"[{ANNOUNCE} · msg 2] 🔴 SEV1 incident INC-1: {TITLE}",
        f"War room: #{ROOM_NAME}. Updates follow in this thread.",
        f"{msg} 3] SEV1 playbook",
        "INC-1 declared.",
        f"(you are now in #{ROOM_NAME}; commands act on its incident)",
        f"{msg} 4] INC-1 status update: Identified (was Investigating)",
        "Bad deploy, rolling back",
        "ETA: 15 minutes",
        f"[{ANNOUNCE} · msg 5] (in thread of msg 2)",
        "Update posted for INC-1.",
        "Noted on the timeline.",
        f"{msg} 6] ✅ INC-1 resolved: {TITLE}",
        "Root cause: null pointer",
        "• add validation",
        # The announcement's update: only the line that changed, under its reference.
        f"[{ANNOUNCE} · msg 2 updated]\n🟢 SEV1 incident INC-1: {TITLE} — Resolved",
        "INC-1 resolved.",
        "INC-1 is resolved; nothing was changed.",
        "--- inc-1-postmortem.md ---",
        f"# Postmortem: INC-1 — {TITLE}",
        "| UTC | UTC | Who | What |",
        f"| @alice | SEV1 incident declared: {TITLE} |",
        "| @alice | Status: Identified (was Investigating) · ETA 15 minutes"
        " — Bad deploy, rolling back |",
        "| @alice | it's getting better |",
        "| @alice | Resolved. Root cause: null pointer |",
        "- [ ] add validation",
        "- [ ] add alert",
        "Postmortem draft uploaded to the war room.",
        "Open incidents (0)",
    ]
    position = 0
    for expected in expected_in_order:
        found = out.find(expected, position)
        assert found >= 0, f"{expected!r} not found after position {position}:\n{out[position:]}"
        position = found + len(expected)

    # The terminal CLI reads the same store: the draft, as plain Markdown.
    draft = run_cli("--config", str(config), "postmortem", "INC-1", cwd=tmp_path)
    assert draft.returncode == 0, draft.stderr
    assert draft.stdout.startswith(f"# Postmortem: INC-1 — {TITLE}")
    assert "| Time to resolve |" in draft.stdout
