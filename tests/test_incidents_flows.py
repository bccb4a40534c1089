"""Running an incident from its war room: updates, roles, severity, notes, pins,
the playbook, listings, resolution and the postmortem, through the Slack emulator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.scheduler import ReminderScheduler
from services.clock import ManualClock
from services.incidents import records
from tests.harness.bot_actions import command, events, kinds
from tests.harness.running_bot import RunningBot
from tests.harness.slack_emulator import SlackEmulator

from .test_incidents_e2e import (
    ANNOUNCE,
    CREATE_SEV1,
    ESCALATE,
    EXEC_GROUP,
    JSON,
    ROOM_NAME,
    TITLE,
    block_text,
    checkbox_click,
    find_message,
    incident,
    shown,
    start_incident_bot,
    topic_of,
    writes,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DECLARED_KINDS = ["declared", "war_room_created", "announced", "escalated"]


@dataclass
class WarRoom:
    bot: RunningBot
    slack: SlackEmulator
    clock: ManualClock
    room: str
    header_ts: str
    announcement_ts: str
    declared_at: datetime

    def run(self, text: str, *, user_id: str = "U0ALICE") -> JSON:
        return command(self.bot, text, channel_id=self.room, user_id=user_id)


def open_war_room(bot: RunningBot, slack: SlackEmulator, clock: ManualClock) -> WarRoom:
    reply = command(bot, CREATE_SEV1)
    assert "INC-1 declared." in reply["text"], reply
    inc = incident(bot)
    assert inc.channel_id and inc.header_ts and inc.announcement_ts
    assert kinds(bot) == DECLARED_KINDS
    return WarRoom(
        bot=bot,
        slack=slack,
        clock=clock,
        room=inc.channel_id,
        header_ts=inc.header_ts,
        announcement_ts=inc.announcement_ts,
        declared_at=inc.declared_at,
    )


@pytest.fixture
def war(slack: SlackEmulator, tmp_path: Path, clock: ManualClock) -> Iterator[WarRoom]:
    bot = start_incident_bot(slack, tmp_path, clock)
    yield open_war_room(bot, slack, clock)
    bot.stop()


# == 4. In the war room =============================================================


def test_status_update_is_posted_broadcast_and_edits_header_and_announcement(
    war: WarRoom,
) -> None:
    war.clock.advance(timedelta(minutes=7))
    since = len(war.slack.calls)
    reply = war.run(
        'incident update --status=identified --eta="15 minutes"'
        ' --message="Bad deploy of payments-api 4.2; rolling back" --broadcast'
    )
    assert "Update posted for INC-1." in reply["text"]
    assert reply["response_type"] == "ephemeral"

    # The timeline has the change with old and new values.
    event = events(war.bot)[-1]
    assert (event.kind, event.actor, event.at) == ("status_update", "U0ALICE", war.clock.now())
    assert event.text == "Bad deploy of payments-api 4.2; rolling back"
    assert event.data == {
        "status": {"old": "investigating", "new": "identified"},
        "eta": {"old": None, "new": "15 minutes"},
        "message": "Bad deploy of payments-api 4.2; rolling back",
        "broadcast": True,
    }
    inc = incident(war.bot)
    assert (inc.status.value, inc.eta) == ("identified", "15 minutes")
    assert inc.next_update_due_at == war.clock.now() + timedelta(minutes=15)
    assert inc.last_update_at == war.clock.now()
    assert inc.acknowledged_at == war.clock.now()

    # Posted in the war room and, broadcast, in the announcement's thread.
    (in_room,) = [c for c in writes(war.slack, since) if c.args.get("channel") == war.room][:1]
    assert in_room.method == "chat.postMessage" and "thread_ts" not in in_room.args
    update = find_message(war.slack, war.room, "status update: Identified")
    body = block_text(update["blocks"])
    assert "*INC-1 status update: Identified* (was Investigating)" in body
    assert "Bad deploy of payments-api 4.2; rolling back" in body
    assert "*ETA:* 15 minutes" in body
    assert "Posted by <@U0ALICE>" in body
    (threaded,) = [
        c
        for c in writes(war.slack, since)
        if c.method == "chat.postMessage" and c.args["channel"] == ANNOUNCE
    ]
    assert threaded.args["thread_ts"] == war.announcement_ts
    assert threaded.args["reply_broadcast"] is True
    thread = war.slack.thread(ANNOUNCE, war.announcement_ts)
    assert [m["text"] for m in thread[1:]] == [
        "INC-1 Identified: Bad deploy of payments-api 4.2; rolling back"
    ]
    assert thread[1]["subtype"] == "thread_broadcast"

    # The header and the announcement were edited in place.
    edits = {(c.args["channel"], c.args["ts"]) for c in war.slack.calls_to("chat.update")}
    assert edits == {(war.room, war.header_ts), (ANNOUNCE, war.announcement_ts)}
    header = war.slack.message(war.room, war.header_ts)
    assert header is not None
    assert "*Status*\nIdentified" in shown(header) and "*ETA*\n15 minutes" in shown(header)
    announcement = war.slack.message(ANNOUNCE, war.announcement_ts)
    assert announcement is not None and "*Status*\nIdentified" in shown(announcement)
    assert topic_of(war.slack, war.room) == "SEV1 · Identified · IC: @alice"


def test_update_without_broadcast_stays_inside_the_thread(war: WarRoom) -> None:
    war.run('incident update --message="Still looking at the load balancer"')
    threaded = [c for c in war.slack.calls_to("chat.postMessage") if c.args["channel"] == ANNOUNCE]
    assert threaded[-1].args["thread_ts"] == war.announcement_ts
    assert "reply_broadcast" not in threaded[-1].args
    event = events(war.bot)[-1]
    assert event.data["status"] == {"old": "investigating", "new": "investigating"}
    assert event.data["broadcast"] is False


def test_assigning_the_commander_records_dms_and_invites(war: WarRoom) -> None:
    war.slack.add_user("U0ERIN", "erin", real_name="Erin Lead")
    since = len(war.slack.calls)
    reply = war.run("incident commander <@U0ERIN|erin>")
    assert "Incident commander of INC-1: U0ERIN" in reply["text"]

    event = events(war.bot)[-1]
    assert (event.kind, event.actor) == ("role_assigned", "U0ALICE")
    assert event.data == {"role": "commander", "old": "U0ALICE", "new": "U0ERIN"}
    assert incident(war.bot).commander == "U0ERIN"

    methods = [c.method for c in writes(war.slack, since)]
    assert methods[:3] == ["conversations.invite", "conversations.open", "chat.postMessage"]
    invite = war.slack.calls_to("conversations.invite")[-1]
    assert invite.args == {"channel": war.room, "users": "U0ERIN", "force": "1"}
    assert "U0ERIN" in war.slack.members(war.room)
    (opened,) = war.slack.calls_to("conversations.open")
    assert opened.args["users"] == "U0ERIN"
    dm = war.slack.dm_channel("U0ERIN")
    assert dm is not None and dm.startswith("D")
    (message,) = war.slack.messages(dm)
    assert message["text"] == "You are the Incident commander of INC-1"
    assert "<@U0ALICE> made you the *Incident commander* of *INC-1" in block_text(message["blocks"])
    assert f"War room: <#{war.room}>" in block_text(message["blocks"])

    header = war.slack.message(war.room, war.header_ts)
    assert header is not None and "*Commander*\n<@U0ERIN>" in shown(header)
    assert topic_of(war.slack, war.room) == "SEV1 · Investigating · IC: @erin"

    # Assigning the same person again changes nothing.
    before = events(war.bot)
    again = war.run("incident commander <@U0ERIN|erin>")
    assert "U0ERIN already is the incident commander." in again["text"]
    assert events(war.bot) == before


def test_scribe_and_comms_roles(war: WarRoom) -> None:
    war.run("incident scribe <@U0BOB|bob>")
    war.run("incident comms <@U0CAROL|carol>")
    roles = [e.data for e in events(war.bot) if e.kind == "role_assigned"]
    assert roles == [
        {"role": "scribe", "old": None, "new": "U0BOB"},
        {"role": "comms", "old": None, "new": "U0CAROL"},
    ]
    inc = incident(war.bot)
    assert (inc.scribe, inc.comms, inc.commander) == ("U0BOB", "U0CAROL", "U0ALICE")
    carol_dm = war.slack.dm_channel("U0CAROL")
    assert carol_dm is not None
    assert war.slack.messages(carol_dm)[0]["text"] == "You are the Communications lead of INC-1"
    assert "U0CAROL" in war.slack.members(war.room)


def test_assign_commander_with_the_header_picker(war: WarRoom) -> None:
    result = war.bot.driver.block_action(
        "hotfix_assign_commander",
        channel_id=war.room,
        message_ts=war.header_ts,
        selected_user="U0BOB",
        user_id="U0DAVE",
    )
    assert result.status == 200
    assert result.response_id is not None
    (reply,) = war.slack.wait_for_response(result.response_id)
    war.bot.settle()
    assert reply["text"] == "Commander of INC-1: U0BOB"
    assert reply["replace_original"] is False and reply["response_type"] == "ephemeral"
    event = events(war.bot)[-1]
    assert (event.kind, event.actor, event.data) == (
        "role_assigned",
        "U0DAVE",
        {"role": "commander", "old": "U0ALICE", "new": "U0BOB"},
    )
    bob_dm = war.slack.dm_channel("U0BOB")
    assert bob_dm is not None and war.slack.messages(bob_dm)
    header = war.slack.message(war.room, war.header_ts)
    assert header is not None and "*Commander*\n<@U0BOB>" in shown(header)


def test_raising_the_severity_reannounces_escalates_and_pulls_in_responders(
    war: WarRoom,
) -> None:
    war.clock.advance(timedelta(minutes=2))
    reply = war.run("incident severity sev0")
    assert "INC-1 is now SEV0." in reply["text"]

    event = events(war.bot)[-2]
    assert (event.kind, event.actor) == ("severity_changed", "U0ALICE")
    assert event.data == {"severity": {"old": "sev1", "new": "sev0"}}
    inc = incident(war.bot)
    assert inc.severity.value == "sev0"
    # SEV0's 10-minute cadence is stricter than what was due: it applies at once.
    assert inc.next_update_due_at == war.clock.now() + timedelta(minutes=10)

    notice = find_message(war.slack, war.room, "severity changed")
    assert "*INC-1* severity changed *SEV1 → SEV0* by <@U0ALICE>" in block_text(notice["blocks"])
    thread = war.slack.thread(ANNOUNCE, war.announcement_ts)
    assert [m["text"] for m in thread[1:]] == ["INC-1 severity changed SEV1 → SEV0"]
    # SEV0's responders are invited; SEV0 escalates.
    assert "U0CAROL" in war.slack.members(war.room)
    escalation = war.slack.messages(ESCALATE)[-1]
    assert f"<!subteam^{EXEC_GROUP}>" in block_text(escalation["blocks"])
    assert "(raised to SEV0)" in block_text(escalation["blocks"])
    assert events(war.bot)[-1].kind == "escalated"
    assert events(war.bot)[-1].data["reason"] == "raised to SEV0"

    header = war.slack.message(war.room, war.header_ts)
    assert header is not None and header["text"].startswith("INC-1 SEV0")
    announcement = war.slack.message(ANNOUNCE, war.announcement_ts)
    assert announcement is not None and announcement["text"] == f"SEV0 incident INC-1: {TITLE}"
    assert topic_of(war.slack, war.room).startswith("SEV0 · Investigating")

    # The same severity again is answered, not recorded.
    before = events(war.bot)
    assert "INC-1 already is SEV0." in war.run("incident severity sev0")["text"]
    assert events(war.bot) == before


def test_lowering_the_severity_does_not_escalate(war: WarRoom) -> None:
    war.run("incident severity sev2")
    assert events(war.bot)[-1].kind == "severity_changed"
    assert len(war.slack.messages(ESCALATE)) == 1  # only the declaration's
    # A laxer cadence waits for the next update: what was due stays due.
    assert incident(war.bot).next_update_due_at == war.declared_at + timedelta(minutes=15)


def test_a_note_keeps_its_apostrophes_and_quotes(war: WarRoom) -> None:
    before_calls = len(war.slack.calls)
    reply = war.run('note it\'s getting better, the "retry storm" is over')
    assert reply["text"] == "Noted on the timeline."
    assert reply["response_type"] == "ephemeral"
    event = events(war.bot)[-1]
    assert (event.kind, event.actor, event.text) == (
        "note",
        "U0ALICE",
        'it\'s getting better, the "retry storm" is over',
    )
    assert writes(war.slack, before_calls) == []


def test_a_note_from_outside_the_war_room_names_the_incident(war: WarRoom) -> None:
    reply = command(war.bot, "note INC-1 status page updated by support", user_id="U0BOB")
    assert reply["text"] == "Noted on the timeline."
    event = events(war.bot)[-1]
    assert (event.kind, event.actor, event.text) == (
        "note",
        "U0BOB",
        "status page updated by support",
    )
    before = events(war.bot)
    unknown = command(war.bot, "note INC-99 wrong incident")
    assert unknown["text"] == "There is no incident INC-99."
    empty = command(war.bot, "note INC-1")
    assert "The note is empty." in empty["text"]
    assert events(war.bot) == before


def test_pushpin_reaction_puts_the_message_on_the_timeline_once(war: WarRoom) -> None:
    said_at = war.clock.now()
    ts = war.slack.add_message(war.room, "Gateway vendor confirms a TLS cert expiry", user="U0BOB")
    war.clock.advance(timedelta(minutes=5))

    reaction = {
        "type": "reaction_added",
        "user": "U0ALICE",
        "reaction": "pushpin",
        "item": {"type": "message", "channel": war.room, "ts": ts},
        "item_user": "U0BOB",
    }
    result = war.bot.driver.event(reaction, event_id="Ev0PIN1")
    assert result.status == 200
    war.bot.settle()
    pinned = [e for e in events(war.bot) if e.kind == "pinned_message"]
    assert len(pinned) == 1
    event = pinned[0]
    assert event.text == "Gateway vendor confirms a TLS cert expiry"
    assert event.actor == "U0BOB"  # the author, not who pinned it
    assert event.at == datetime.fromtimestamp(float(ts), tz=UTC)
    assert abs(event.at - said_at) < timedelta(seconds=1)  # when it was said, not pinned
    assert event.data == {"channel_id": war.room, "ts": ts, "pinned_by": "U0ALICE"}
    history = war.slack.calls_to("conversations.history")[-1]
    assert history.args["channel"] == war.room

    # A retried delivery, a second 📌 by someone else: still one entry.
    war.bot.driver.event(reaction, event_id="Ev0PIN1")
    war.bot.driver.event({**reaction, "user": "U0DAVE", "reaction": "round_pushpin"})
    war.bot.settle()
    assert kinds(war.bot).count("pinned_message") == 1


def test_pins_elsewhere_and_other_reactions_are_ignored(war: WarRoom) -> None:
    in_general = war.slack.add_message("C0GENERAL", "lunch?", user="U0BOB")
    in_room = war.slack.add_message(war.room, "checking dashboards", user="U0BOB")
    for channel, ts, reaction in (
        ("C0GENERAL", in_general, "pushpin"),
        (war.room, in_room, "eyes"),
    ):
        result = war.bot.driver.event(
            {
                "type": "reaction_added",
                "user": "U0ALICE",
                "reaction": reaction,
                "item": {"type": "message", "channel": channel, "ts": ts},
            }
        )
        assert result.status == 200
    war.bot.settle()
    assert kinds(war.bot) == DECLARED_KINDS
    assert war.slack.calls_to("conversations.history") == []


def test_pinning_a_thread_reply(war: WarRoom) -> None:
    parent = war.slack.add_message(war.room, "what changed at 09:20?", user="U0ALICE")
    reply_ts = war.slack.add_message(
        war.room, "payments-api 4.2 went out at 09:19", user="U0BOB", thread_ts=parent
    )
    war.bot.driver.event(
        {
            "type": "reaction_added",
            "user": "U0ALICE",
            "reaction": "pushpin",
            "item": {"type": "message", "channel": war.room, "ts": reply_ts},
        }
    )
    war.bot.settle()
    event = events(war.bot)[-1]
    assert (event.kind, event.actor, event.text) == (
        "pinned_message",
        "U0BOB",
        "payments-api 4.2 went out at 09:19",
    )


def test_playbook_checkboxes_tick_and_untick_on_the_timeline(war: WarRoom) -> None:
    playbook_ts = incident(war.bot).playbook_ts
    assert playbook_ts is not None
    war.clock.advance(timedelta(minutes=1))

    def tick(phase: int, values: list[str], user_id: str = "U0BOB") -> JSON:
        result = checkbox_click(
            war.bot,
            f"hotfix_playbook_{phase}",
            block_id=f"playbook:INC-1:{phase}",
            channel_id=war.room,
            message_ts=playbook_ts,
            values=values,
            user_id=user_id,
        )
        assert result.status == 200 and result.response_id is not None
        (reply,) = war.slack.wait_for_response(result.response_id)
        war.bot.settle()
        return dict(reply)

    reply = tick(0, ["p0i1"])
    assert reply["text"] == "Checklist updated: Assign an incident commander"
    event = events(war.bot)[-1]
    assert (event.kind, event.actor, event.text) == (
        "playbook_checked",
        "U0BOB",
        "Done: Assign an incident commander",
    )
    assert event.data == {"item_id": "p0i1", "phase": "Immediate (0-5 min)"}
    # Ticking a box counts as acknowledging the incident.
    assert incident(war.bot).acknowledged_at == war.clock.now()

    # Another phase's click keeps this phase's ticks; a repeated click changes nothing.
    tick(1, ["p1i0"])
    assert tick(1, ["p1i0"])["text"] == "Checklist unchanged."
    checked = [e.data["item_id"] for e in events(war.bot) if e.kind == "playbook_checked"]
    assert checked == ["p0i1", "p1i0"]

    # Unticking is recorded too.
    tick(0, [], user_id="U0ALICE")
    event = events(war.bot)[-1]
    assert (event.kind, event.actor, event.data["item_id"]) == (
        "playbook_unchecked",
        "U0ALICE",
        "p0i1",
    )


def test_reminder_when_an_update_is_overdue_and_snooze(war: WarRoom) -> None:
    scheduler = ReminderScheduler(war.bot.deps)  # its tick, without the background timer
    war.clock.advance(timedelta(minutes=14))
    assert scheduler.run_tick().reminders == []
    war.clock.advance(timedelta(minutes=2))
    assert scheduler.run_tick().reminders == ["INC-1"]
    assert scheduler.run_tick().reminders == []  # sent once, not on every tick
    reminder = find_message(war.slack, war.room, "a status update is due")
    assert "<@U0ALICE>, a status update for *INC-1* is due" in block_text(reminder["blocks"])
    assert events(war.bot)[-1].kind == "reminder_sent"

    result = war.bot.driver.block_action(
        "hotfix_snooze", value="INC-1", channel_id=war.room, message_ts=reminder["ts"]
    )
    assert result.response_id is not None
    (reply,) = war.slack.wait_for_response(result.response_id)
    war.bot.settle()
    assert reply["text"] == "Reminder snoozed for 15 min."
    assert events(war.bot)[-1].kind == "reminder_snoozed"
    assert incident(war.bot).next_update_due_at == war.clock.now() + timedelta(minutes=15)


# == 5. Listings ====================================================================


def test_incident_list_timeline_and_app_home(war: WarRoom) -> None:
    war.clock.advance(timedelta(minutes=3))
    war.run("note bridge open")
    listing = command(war.bot, "incident list")  # from anywhere, answered at once
    assert listing["response_type"] == "ephemeral"
    assert listing["text"] == "1 open incident(s)"
    line = block_text(listing["blocks"])
    assert f"*INC-1* SEV1 · Investigating · {TITLE}" in line
    assert "IC: <@U0ALICE> · open 3 min · next update 09:41 UTC" in line
    assert f"<#{war.room}>" in line

    shown_timeline = war.run("timeline")
    assert shown_timeline["text"] == "Timeline of INC-1 (5 entries)"
    rows = block_text(shown_timeline["blocks"]).splitlines()
    assert rows[0] == f"Timeline INC-1: {TITLE}"
    assert rows[1:] == [
        f"`09:26:53 UTC` @alice SEV1 incident declared: {TITLE}",
        f"`09:26:53 UTC` @alice War room #{ROOM_NAME} created",
        "`09:26:53 UTC` hotfix-bot Initial notification posted",
        "`09:26:53 UTC` hotfix-bot Escalated (declared)",
        "`09:29:53 UTC` @alice bridge open",
    ]
    # Outside the war room, by id.
    assert command(war.bot, "timeline INC-1")["text"] == "Timeline of INC-1 (5 entries)"

    war.bot.driver.event({"type": "app_home_opened", "user": "U0BOB", "tab": "home"})
    (publish,) = war.slack.wait_for_call("views.publish")
    war.bot.settle()
    assert publish.args["user_id"] == "U0BOB"
    home = war.slack.home_view("U0BOB")
    assert home is not None
    text = block_text(home["blocks"])
    assert "*Open incidents (1)*" in text
    assert f"*INC-1* SEV1 · Investigating · {TITLE}" in text
    assert "hotfix_declare" in [
        e["action_id"] for b in home["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]


def test_listing_with_nothing_open(war: WarRoom) -> None:
    war.run('incident resolve --root-cause="cert renewed"')
    listing = command(war.bot, "incident list")
    assert listing["text"] == "0 open incident(s)"
    assert "No open incidents." in block_text(listing["blocks"])
    war.bot.driver.event({"type": "app_home_opened", "user": "U0ALICE", "tab": "home"})
    war.slack.wait_for_call("views.publish")
    war.bot.settle()
    home = war.slack.home_view("U0ALICE")
    assert home is not None and "*Open incidents (0)*" in block_text(home["blocks"])


# == 6. Resolution and the postmortem =================================================


def test_resolving_posts_the_notice_and_schedules_the_postmortem(war: WarRoom) -> None:
    war.clock.advance(timedelta(minutes=42))
    reply = war.run(
        'incident resolve --root-cause="null pointer"'
        ' --action-items="add validation <@U0BOB|bob>; add alert"'
        ' --resolution="rolled back to 4.1"'
    )
    assert "INC-1 resolved." in reply["text"]

    now = war.clock.now()
    inc = incident(war.bot)
    assert (inc.status.value, inc.root_cause, inc.resolved_at) == ("resolved", "null pointer", now)
    assert inc.mitigated_at == now  # never marked as monitoring: mitigated when resolved
    assert inc.next_update_due_at is None
    assert inc.postmortem_due_at == now + timedelta(hours=48)
    assert records.action_items(war.bot.deps.store, "INC-1") == [
        {
            "text": "add validation",
            "owner": "U0BOB",
            "created_at": now.isoformat(timespec="microseconds"),
        },
        {"text": "add alert", "owner": None, "created_at": now.isoformat(timespec="microseconds")},
    ]
    event = events(war.bot)[-1]
    assert (event.kind, event.text) == ("resolved", "Resolved. Root cause: null pointer")
    assert event.data == {
        "status": {"old": "investigating", "new": "resolved"},
        "root_cause": "null pointer",
        "resolution": "rolled back to 4.1",
        "action_items": [
            {"text": "add validation", "owner": "U0BOB"},
            {"text": "add alert", "owner": None},
        ],
    }

    notice = find_message(war.slack, war.room, "resolved after")
    body = block_text(notice["blocks"])
    assert notice["text"] == f"INC-1 resolved after 42 min: {TITLE}"
    assert f":white_check_mark: *INC-1 resolved: {TITLE}*" in body
    assert "Duration: 42 min (09:26 \u2013 10:08 UTC)" in body
    assert "*Root cause:* null pointer" in body
    assert "*Resolution:* rolled back to 4.1" in body
    assert "• add validation (<@U0BOB>)" in body and "• add alert" in body
    thread = war.slack.thread(ANNOUNCE, war.announcement_ts)
    assert thread[-1]["text"] == notice["text"]

    announcement = war.slack.message(ANNOUNCE, war.announcement_ts)
    assert announcement is not None
    assert announcement["text"] == f"SEV1 incident INC-1 resolved: {TITLE}"
    assert ":large_green_circle:" in shown(announcement) and "— *Resolved*" in shown(announcement)
    header = war.slack.message(war.room, war.header_ts)
    assert header is not None and "*Status*\nResolved" in shown(header)
    assert not [b for b in header["blocks"] if b["type"] == "actions"]  # no buttons any more
    assert topic_of(war.slack, war.room) == "SEV1 · Resolved · IC: @alice"

    # A later update is refused and changes nothing.
    before_events = events(war.bot)
    before_calls = len(war.slack.calls)
    refused = war.run('incident update --status=monitoring --message="all good"')
    assert refused["response_type"] == "ephemeral"
    assert refused["text"] == "INC-1 is resolved; nothing was changed."
    assert events(war.bot) == before_events
    assert incident(war.bot) == inc
    assert writes(war.slack, before_calls) == []


def test_postmortem_reminder_after_resolution(war: WarRoom) -> None:
    war.run('incident resolve --root-cause="cert expiry"')
    scheduler = ReminderScheduler(war.bot.deps)
    war.clock.advance(timedelta(hours=47))
    assert scheduler.run_tick().postmortem_reminders == []
    war.clock.advance(timedelta(hours=2))
    assert scheduler.run_tick().postmortem_reminders == ["INC-1"]
    assert scheduler.run_tick().postmortem_reminders == []
    assert events(war.bot)[-1].kind == "postmortem_reminder"


@pytest.fixture
def berlin_war(slack: SlackEmulator, tmp_path: Path, clock: ManualClock) -> Iterator[WarRoom]:
    bot = start_incident_bot(slack, tmp_path, clock, timezone="Europe/Berlin")
    yield open_war_room(bot, slack, clock)
    bot.stop()


def test_postmortem_draft_is_uploaded_to_the_war_room(berlin_war: WarRoom) -> None:
    war = berlin_war
    war.clock.advance(timedelta(minutes=4))
    war.run("incident commander <@U0BOB|bob>")  # acknowledged at +4 min
    war.clock.advance(timedelta(minutes=16))
    war.run('incident update --status=monitoring --message="Rolled back | watching"')  # +20
    war.run("incident scribe <@U0CAROL|carol>")
    war.clock.advance(timedelta(minutes=75))
    war.run(
        'incident resolve --root-cause="null pointer in the payment client"'
        ' --action-items="add validation <@U0BOB|bob>; add alert"'
    )  # +1 h 35 min

    reply = war.run("postmortem")
    assert reply["text"] == "Postmortem draft uploaded to the war room."

    (get_url,) = war.slack.calls_to("files.getUploadURLExternal")
    assert get_url.args["filename"] == "inc-1-postmortem.md"
    (complete,) = war.slack.calls_to("files.completeUploadExternal")
    assert complete.args["channel_id"] == war.room
    assert complete.args["initial_comment"].startswith("Postmortem draft for INC-1")
    (shared,) = war.slack.files(war.room)
    assert (shared["name"], shared["title"]) == ("inc-1-postmortem.md", "INC-1 postmortem draft")
    content = war.slack.file_content(shared["id"])
    assert content is not None
    markdown = content.decode()

    assert markdown.startswith(f"# Postmortem: INC-1 — {TITLE}\n")
    for line in (
        "| Severity | SEV1 (Critical: a critical service is down for many customers) |",
        "| Impact | high |",
        "| Status | Resolved |",
        "| Declared | 2026-03-14 10:26 CET (2026-03-14 09:26 UTC) by @alice |",
        "| Resolved | 2026-03-14 12:01 CET (2026-03-14 11:01 UTC) |",
        "| Commander | @bob |",
        "| Scribe | @carol |",
        "| Communications | — |",
        f"| War room | #{ROOM_NAME} |",
        "| Time to acknowledge | 4 min |",
        "| Time to mitigate | 20 min |",
        "| Time to resolve | 1 h 35 min |",
        "null pointer in the payment client",
        "| UTC | Europe/Berlin | Who | What |",
        f"| 2026-03-14 09:26:53 | 2026-03-14 10:26:53 CET | @alice | SEV1 incident declared: {TITLE} |",
        "| 2026-03-14 09:30:53 | 2026-03-14 10:30:53 CET | @alice | Incident commander: @bob |",
        "| 2026-03-14 09:46:53 | 2026-03-14 10:46:53 CET | @alice"
        " | Status: Monitoring (was Investigating) — Rolled back \\| watching |",
        "| 2026-03-14 11:01:53 | 2026-03-14 12:01:53 CET | @alice"
        " | Resolved. Root cause: null pointer in the payment client |",
        "- [ ] add validation — owner: @bob",
        "- [ ] add alert",
    ):
        assert line in markdown, f"{line!r} not in:\n{markdown}"
    # The upload changed nothing on the incident or its timeline.
    assert events(war.bot)[-1].kind == "resolved"


def test_a_failed_upload_points_to_the_terminal(war: WarRoom) -> None:
    war.slack.fail("files.completeUploadExternal", "not_allowed")
    reply = war.run("postmortem")
    assert "The postmortem draft could not be uploaded (`not_allowed`)." in reply["text"]
    assert "hotfix-bot postmortem INC-1" in shown(reply)
    assert war.slack.files(war.room) == []
