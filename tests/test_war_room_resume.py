"""After a Slack outage the scheduler's tick finishes incomplete war rooms, once, without a restart."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.scheduler import ReminderScheduler
from services.clock import ManualClock
from services.incidents import records
from tests.harness.bot_actions import declare
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

WRITES = ("conversations.create", "conversations.invite", "conversations.setTopic", "bookmarks.add")

DECLARE = 'incident create --severity=sev2 --title="Payments down"'


@pytest.fixture
def rbot(slack: SlackEmulator, tmp_path: Path, clock: ManualClock) -> Iterator[RunningBot]:
    slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
    running = start_bot(
        slack=slack,
        store_path=tmp_path / "bot.db",
        clock=clock,
        extra_settings={
            "incidents": {
                "announcement_channel": "C0INCIDENTS",
                "bookmarks": [
                    {"title": "Runbook", "link": "https://runbooks.example/{incident_id}"}
                ],
                "severities": {
                    "sev2": {"responders": ["U0BOB"], "update_every_minutes": 30, "escalate": False}
                },
            }
        },
    )
    yield running
    running.stop()


def counts(slack: SlackEmulator) -> dict[str, int]:
    return {m: len([c for c in slack.calls_to(m) if c.ok]) for m in WRITES}


def done_at(rbot: RunningBot) -> str | None:
    row = rbot.deps.store.query_one("SELECT war_room_done_at FROM incidents WHERE id = 'INC-1'")
    return row["war_room_done_at"] if row else None


def assert_war_room_complete(slack: SlackEmulator, rbot: RunningBot) -> str:
    incident = records.get(rbot.deps.store, "INC-1")
    assert incident.channel_id is not None
    room = incident.channel_id
    assert {"U0ALICE", "U0BOB"} <= set(slack.members(room))
    assert slack.channel(room)["topic"]["value"].startswith("SEV2")  # type: ignore[index]
    assert [b["title"] for b in slack.bookmarks(room)] == ["Runbook"]
    keys = [
        (m.get("metadata") or {}).get("event_payload", {}).get("key") for m in slack.messages(room)
    ]
    assert keys.count("INC-1:header") == 1 and keys.count("INC-1:playbook") == 1
    return room


def test_a_war_room_whose_channel_could_not_be_created_is_finished_by_the_tick(
    rbot: RunningBot, slack: SlackEmulator, clock: ManualClock
) -> None:
    slack.outage(503)
    declare(rbot, DECLARE)
    assert records.get(rbot.deps.store, "INC-1").channel_id is None
    scheduler = ReminderScheduler(rbot.deps)

    clock.advance(timedelta(minutes=1))
    scheduler.run_tick()  # still down: tried, nothing created
    tried = len(slack.calls_to("conversations.create"))
    scheduler.run_tick()  # backoff: not tried again at once
    assert len(slack.calls_to("conversations.create")) == tried

    slack.end_outage()
    clock.advance(timedelta(minutes=5))
    scheduler.run_tick()
    rbot.settle()
    assert_war_room_complete(slack, rbot)
    assert done_at(rbot) is not None
    before = counts(slack)
    clock.advance(timedelta(hours=1))
    scheduler.run_tick()
    assert counts(slack) == before  # done: nothing is repeated


def test_steps_that_failed_during_an_outage_are_retried_by_the_tick(
    rbot: RunningBot, slack: SlackEmulator, clock: ManualClock
) -> None:
    # The channel is created, then Slack goes away for the invites, topic and bookmarks.
    slack.call_hook = lambda method, when: (
        slack.outage(503) if (method, when) == ("conversations.create", "after") else None
    )
    declare(rbot, DECLARE)
    slack.call_hook = None
    room = records.get(rbot.deps.store, "INC-1").channel_id
    assert room is not None and slack.members(room) == ["UBOT"]
    assert done_at(rbot) is None

    slack.end_outage()
    clock.advance(timedelta(minutes=5))
    scheduler = ReminderScheduler(rbot.deps)
    scheduler.run_tick()
    rbot.settle()
    assert assert_war_room_complete(slack, rbot) == room
    assert counts(slack)["conversations.create"] == 1
    before = counts(slack)
    clock.advance(timedelta(hours=1))
    scheduler.run_tick()
    assert counts(slack) == before


def test_a_channel_slack_refuses_for_good_is_not_retried_by_every_tick(
    rbot: RunningBot, slack: SlackEmulator, clock: ManualClock
) -> None:
    slack.fail("conversations.create", "restricted_action", times=1)
    declare(rbot, DECLARE)
    assert records.get(rbot.deps.store, "INC-1").channel_id is None
    scheduler = ReminderScheduler(rbot.deps)
    slack.fail("conversations.create", "restricted_action", times=1)
    clock.advance(timedelta(minutes=1))
    scheduler.run_tick()  # tried once: refused again
    tried = len(slack.calls_to("conversations.create"))
    for _ in range(3):
        clock.advance(timedelta(hours=1))
        scheduler.run_tick()
    assert len(slack.calls_to("conversations.create")) == tried
