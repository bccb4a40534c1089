"""Status-update reminders: due from the store, sent once, escalated, and surviving restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.scheduler import ReminderScheduler
from services import timeline
from services.clock import ManualClock, isoformat
from services.incidents import records
from tests.harness.bot_actions import war_room
from tests.harness.bot_process import BotProcess
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator

pytestmark = pytest.mark.e2e

INCIDENT_SETTINGS = {
    "incidents": {
        "announcement_channel": "C0INCIDENTS",
        "escalation_channel": "C0EXEC",
        "escalation_usergroup": "S0ONCALL",
    }
}

DECLARE = 'incident create --severity=sev1 --title="Payment Gateway Down"'


@pytest.fixture
def room_bot(slack: SlackEmulator, tmp_path: Path, clock: ManualClock) -> RunningBot:
    slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
    slack.add_channel("exec", channel_id="C0EXEC", members=("UBOT",))
    running = start_bot(
        slack=slack, store_path=tmp_path / "bot.db", clock=clock, extra_settings=INCIDENT_SETTINGS
    )
    yield running
    running.stop()


def reminders_in(slack: SlackEmulator, channel: str) -> list[dict]:
    return [
        m
        for m in slack.messages(channel)
        if "status update for" in m.get("text", "") or "is due" in m.get("text", "")
    ]


def test_reminder_is_sent_when_due_once_and_mentions_the_commander(
    room_bot: RunningBot, clock: ManualClock
) -> None:
    channel = war_room(room_bot, DECLARE)
    scheduler = ReminderScheduler(room_bot.deps)
    clock.advance(timedelta(minutes=14))
    assert scheduler.run_tick().reminders == []
    clock.advance(timedelta(minutes=2))
    assert scheduler.run_tick().reminders == ["INC-1"]
    assert scheduler.run_tick().reminders == []  # the same reminder is never sent twice
    (reminder,) = reminders_in(room_bot.slack, channel)
    assert "<@U0ALICE>" in reminder["blocks"][0]["text"]["text"]
    buttons = [e["action_id"] for e in reminder["blocks"][1]["elements"]]
    assert buttons == ["hotfix_post_update", "hotfix_snooze"]
    events = [
        e
        for e in timeline.events(room_bot.deps.store, incident_id="INC-1")
        if e.kind == "reminder_sent"
    ]
    assert len(events) == 1 and events[0].data["missed"] == 1


def test_two_missed_reminders_escalate(room_bot: RunningBot, clock: ManualClock) -> None:
    channel = war_room(room_bot, DECLARE)
    scheduler = ReminderScheduler(room_bot.deps)
    exec_before = len(room_bot.slack.messages("C0EXEC"))  # SEV1 declaration escalates once already
    clock.advance(timedelta(minutes=16))
    assert scheduler.run_tick().escalations == []
    clock.advance(timedelta(minutes=15))
    report = scheduler.run_tick()
    assert report.escalations == ["INC-1"]
    warning = room_bot.slack.messages(channel)[-1]
    assert (
        "no status update for 2 reminders" in warning["text"]
        or "2 status updates missed" in warning["text"]
    )
    exec_messages = room_bot.slack.messages("C0EXEC")[exec_before:]
    assert len(exec_messages) == 1
    assert "<!subteam^S0ONCALL>" in exec_messages[0]["blocks"][0]["text"]["text"]


def test_a_status_update_resets_the_clock(room_bot: RunningBot, clock: ManualClock) -> None:
    channel = war_room(room_bot, DECLARE)
    scheduler = ReminderScheduler(room_bot.deps)
    clock.advance(timedelta(minutes=16))
    scheduler.run_tick()
    room_bot.driver.slash('incident update --message="Rolling back"', channel_id=channel)
    room_bot.settle()
    incident = records.get(room_bot.deps.store, "INC-1")
    assert incident.reminders_missed == 0
    assert incident.next_update_due_at == clock.now() + timedelta(minutes=15)
    clock.advance(timedelta(minutes=14))
    assert scheduler.run_tick().reminders == []


def test_snooze_button_postpones_the_next_reminder(
    room_bot: RunningBot, clock: ManualClock
) -> None:
    channel = war_room(room_bot, DECLARE)
    scheduler = ReminderScheduler(room_bot.deps)
    clock.advance(timedelta(minutes=16))
    scheduler.run_tick()
    reminder = reminders_in(room_bot.slack, channel)[-1]
    room_bot.driver.block_action(
        "hotfix_snooze", value="INC-1", channel_id=channel, message_ts=reminder["ts"]
    )
    room_bot.settle()
    incident = records.get(room_bot.deps.store, "INC-1")
    assert incident.next_update_due_at == clock.now() + timedelta(minutes=15)
    kinds = [e.kind for e in timeline.events(room_bot.deps.store, incident_id="INC-1")]
    assert "reminder_snoozed" in kinds


def test_resolved_incidents_get_no_reminders_but_one_postmortem_reminder(
    room_bot: RunningBot, clock: ManualClock
) -> None:
    channel = war_room(room_bot, DECLARE)
    scheduler = ReminderScheduler(room_bot.deps)
    room_bot.driver.slash('incident resolve --root-cause="bad config"', channel_id=channel)
    room_bot.settle()
    clock.advance(timedelta(hours=47))
    report = scheduler.run_tick()
    assert report.reminders == [] and report.postmortem_reminders == []
    clock.advance(timedelta(hours=2))
    assert scheduler.run_tick().postmortem_reminders == ["INC-1"]
    assert scheduler.run_tick().postmortem_reminders == []
    assert "time to write the postmortem" in room_bot.slack.messages(channel)[-1]["text"]


def write_clock(path: Path, moment: datetime) -> None:
    path.write_text(isoformat(moment))


def test_reminders_survive_a_crash_and_restart_of_the_bot_process(
    slack: SlackEmulator, tmp_path: Path
) -> None:
    """Declare with process A, SIGKILL it, let 40 minutes pass, start process B."""
    slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
    clock_file = tmp_path / "clock"
    start = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
    write_clock(clock_file, start)
    config = tmp_path / "hotfix.yml"
    config.write_text(
        f"store:\n  path: {tmp_path / 'bot.db'}\n"
        "incidents:\n  announcement_channel: C0INCIDENTS\n  reminder_tick_seconds: 0.1\n"
    )
    log = tmp_path / "bot.log"
    first = BotProcess(config=config, slack=slack, clock_file=clock_file, log=log)
    try:
        result = first.driver.slash(
            'incident create --severity=sev1 --title="Payment Gateway Down"'
        )
        slack.wait_for_response(result.response_id, timeout=15)
    finally:
        first.kill()
    channel = slack.channel_by_name("inc-1-payment-gateway-down")["id"]
    assert reminders_in(slack, channel) == []

    write_clock(clock_file, start + timedelta(minutes=40))  # two intervals passed while down
    second = BotProcess(config=config, slack=slack, clock_file=clock_file, log=log)
    try:
        assert slack.wait_for(lambda: len(reminders_in(slack, channel)) == 1, timeout=15)
        write_clock(clock_file, start + timedelta(minutes=40 + 15))  # the cadence continues
        assert slack.wait_for(lambda: len(reminders_in(slack, channel)) == 2, timeout=15)
    finally:
        second.stop()
    from services.store import Store

    store = Store(tmp_path / "bot.db")
    sent = [e for e in timeline.events(store, incident_id="INC-1") if e.kind == "reminder_sent"]
    store.close()
    # Once for the 40 minutes down (not once per missed interval), then on cadence.
    assert [e.at - start for e in sent] == [timedelta(minutes=40), timedelta(minutes=55)]
    assert len(reminders_in(slack, channel)) == 2
