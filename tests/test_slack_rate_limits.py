"""Slack's rate limits, honestly: the emulator enforces the published tiers, the bot waits.

The emulator (``SlackEmulator(rate_limits=True)``) holds every method to its
tier from Slack's method pages and chat.postMessage to about one message per
second per channel; the bot's WebClient waits out a 429 for exactly as long as
``Retry-After`` says, on its own clock, and the war room completes. Everyone is
invited to a war room in one ``conversations.invite`` whose ``errors`` name each
person Slack could not invite.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.scheduler import ReminderScheduler
from handlers.slack.gateway import SlackChat
from services import timeline
from services.clock import ManualClock
from services.incidents import records
from tests.harness import slack_rate_limits as limits
from tests.harness.bot_actions import declare
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator

pytestmark = pytest.mark.e2e

TOKEN = "xoxb-test-token"

DECLARE = 'incident create --severity=sev2 --title="Payments down"'


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_773_480_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def limited() -> Iterator[tuple[SlackEmulator, FakeTime, WebClient]]:
    now = FakeTime()
    emulator = SlackEmulator(rate_limits=True, clock=now)
    emulator.add_user("U0ALICE", "alice")
    emulator.add_channel("general", channel_id="C0GENERAL", members=("UBOT", "U0ALICE"))
    emulator.add_channel("random", channel_id="C0RANDOM", members=("UBOT",))
    with emulator:
        # No retry handlers: the test sees each 429 itself.
        yield emulator, now, WebClient(base_url=emulator.api_url, token=TOKEN, retry_handlers=[])


def refused(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value


# == the emulator ==================================================================


def test_a_tier_2_method_takes_20_calls_a_minute_then_answers_429_with_retry_after(
    limited: tuple[SlackEmulator, FakeTime, WebClient],
) -> None:
    slack, now, client = limited
    for n in range(20):
        client.conversations_create(name=f"room-{n}")
        now.now += 1.0  # the first call was at 0 s, the 20th at 19 s
    error = refused(lambda: client.conversations_create(name="room-20"))
    assert error.response.status_code == 429
    assert error.response.headers["Retry-After"] == "40"  # the first call leaves the window at 60 s
    assert error.response.data == {"ok": False, "error": "ratelimited"}
    assert slack.channel_by_name("room-20") is None  # nothing done
    # Another method of the same app has its own window.
    assert client.users_info(user="U0ALICE")["ok"]
    now.now += 39.0
    assert (
        refused(lambda: client.conversations_create(name="room-20")).response.headers["Retry-After"]
        == "1"
    )
    now.now += 1.0
    assert client.conversations_create(name="room-20")["ok"]
    # The refused calls did not use up the window: the next slot is the second call's.
    assert refused(lambda: client.conversations_create(name="room-21")).response.status_code == 429


@pytest.mark.parametrize(
    ("method", "per_minute"),
    [("conversations.invite", 50), ("users.info", 100), ("conversations.setTopic", 20)],
)
def test_each_method_is_held_to_its_own_tier(
    limited: tuple[SlackEmulator, FakeTime, WebClient], method: str, per_minute: int
) -> None:
    slack, _, client = limited
    assert limits.per_minute(method) == per_minute
    args = {
        "conversations.invite": {"channel": "C0GENERAL", "users": "U0ALICE", "force": True},
        "users.info": {"user": "U0ALICE"},
        "conversations.setTopic": {"channel": "C0GENERAL", "topic": "SEV1"},
    }[method]
    for _ in range(per_minute):
        client.api_call(method, params=args)
    error = refused(lambda: client.api_call(method, params=args))
    assert error.response.status_code == 429
    assert error.response.headers["Retry-After"] == "60"
    statuses = [c.status for c in slack.calls_to(method)]
    assert statuses.count(429) == 1 and len(statuses) == per_minute + 1


def test_chat_post_message_allows_one_message_a_second_per_channel_after_a_short_burst(
    limited: tuple[SlackEmulator, FakeTime, WebClient],
) -> None:
    slack, now, client = limited
    for n in range(limits.POST_BURST):
        client.chat_postMessage(channel="C0GENERAL", text=f"burst {n}")
    error = refused(lambda: client.chat_postMessage(channel="C0GENERAL", text="too soon"))
    assert (error.response.status_code, error.response.headers["Retry-After"]) == (429, "1")
    # Per channel: another channel is not held back.
    assert client.chat_postMessage(channel="C0RANDOM", text="elsewhere")["ok"]
    now.now += 1.0
    assert client.chat_postMessage(channel="C0GENERAL", text="a second later")["ok"]
    assert refused(lambda: client.chat_postMessage(channel="C0GENERAL", text="x")).response
    texts = [m["text"] for m in slack.messages("C0GENERAL")]
    assert texts == ["burst 0", "burst 1", "burst 2", "burst 3", "a second later"]


def test_without_rate_limits_the_emulator_answers_every_call() -> None:
    with SlackEmulator() as slack:
        client = WebClient(base_url=slack.api_url, token=TOKEN, retry_handlers=[])
        for n in range(30):
            client.conversations_create(name=f"room-{n}")
        assert all(c.status == 200 for c in slack.calls)


def test_the_tier_table_is_the_one_on_slacks_method_pages() -> None:
    # Spot checks against docs.slack.dev/reference/methods/<method> ("Rate limits").
    assert limits.METHOD_TIERS["conversations.create"] == 2
    assert limits.METHOD_TIERS["conversations.setTopic"] == 2
    assert limits.METHOD_TIERS["bookmarks.add"] == 2
    assert limits.METHOD_TIERS["usergroups.users.list"] == 2
    assert limits.METHOD_TIERS["conversations.invite"] == 3
    assert limits.METHOD_TIERS["chat.update"] == 3
    assert limits.METHOD_TIERS["users.info"] == 4
    assert limits.METHOD_TIERS["views.open"] == 4
    assert limits.TIER_PER_MINUTE == {1: 1, 2: 20, 3: 50, 4: 100}
    with SlackEmulator() as slack:  # the emulator refuses to start with a method left out
        assert slack.calls == []


def test_the_checker_finds_calls_over_a_tier_and_the_physical_limit_is_computed() -> None:
    fine = [limits.Admitted("conversations.create", t * 3.0) for t in range(40)]
    assert limits.over_limit(fine) == []
    burst = [limits.Admitted("conversations.create", 0.5 * t) for t in range(21)]
    assert limits.over_limit(burst) == ["conversations.create: 21 calls within 60s from 0.0"]
    posts = [limits.Admitted("chat.postMessage", 0.0, "C1") for _ in range(limits.POST_BURST + 1)]
    assert limits.over_limit(posts) == ["chat.postMessage in C1: 5 posts too fast"]
    assert limits.minimum_seconds({"conversations.create": 50}) == 120.0
    assert limits.minimum_seconds({"bookmarks.add": 100, "users.info": 100}) == 240.0
    assert limits.minimum_seconds({}, posts_per_channel=[50]) == 46.0


# == the bot =======================================================================


def start_war_room_bot(
    slack: SlackEmulator, tmp_path: Path, clock: ManualClock, responders: list[str]
) -> RunningBot:
    slack.clock = lambda: clock.now().timestamp()  # one time line for the bot and Slack
    slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
    return start_bot(
        slack=slack,
        store_path=tmp_path / "bot.db",
        clock=clock,
        extra_settings={
            "incidents": {
                "announcement_channel": "C0INCIDENTS",
                "bookmarks": [{"title": "Runbook", "link": "https://runbooks.example/x"}],
                "severities": {"sev2": {"responders": responders, "update_every_minutes": 30}},
            }
        },
    )


@pytest.fixture
def rbot(slack: SlackEmulator, tmp_path: Path, clock: ManualClock) -> Iterator[RunningBot]:
    running = start_war_room_bot(slack, tmp_path, clock, ["U0BOB"])
    yield running
    running.stop()


def failed_steps(bot: RunningBot) -> list[timeline.TimelineEvent]:
    return [
        e for e in timeline.events(bot.deps.store, incident_id="INC-1") if e.kind == "step_failed"
    ]


def test_a_rate_limited_step_waits_as_long_as_slack_says_and_the_war_room_completes(
    rbot: RunningBot, slack: SlackEmulator
) -> None:
    slack.rate_limit("conversations.setTopic", times=2, retry_after=7)
    declare(rbot, DECLARE)
    calls = slack.calls_to("conversations.setTopic")
    assert [c.status for c in calls] == [429, 429, 200]  # asked again only when told, not hammered
    assert calls[1].time - calls[0].time >= 7 and calls[2].time - calls[1].time >= 7
    incident = records.get(rbot.deps.store, "INC-1")
    assert incident.channel_id is not None
    assert slack.channel(incident.channel_id)["topic"]["value"].startswith("SEV2")  # type: ignore[index]
    assert failed_steps(rbot) == []
    row = rbot.deps.store.query_one("SELECT war_room_done_at FROM incidents WHERE id = 'INC-1'")
    assert row is not None and row["war_room_done_at"] is not None


def test_a_limit_longer_than_the_bot_waits_is_left_to_the_tick_which_finishes_the_step(
    rbot: RunningBot, slack: SlackEmulator, clock: ManualClock
) -> None:
    slack.rate_limit("conversations.setTopic", times=1, retry_after=900)  # past MAX_WAIT_SECONDS
    declare(rbot, DECLARE)
    assert [c.status for c in slack.calls_to("conversations.setTopic")] == [429]
    (failed,) = failed_steps(rbot)
    assert failed.data == {
        "step": "topic",
        "error": "ratelimited",
        "method": "conversations.setTopic",
    }
    clock.advance(timedelta(minutes=15))
    ReminderScheduler(rbot.deps).run_tick()
    rbot.settle()
    incident = records.get(rbot.deps.store, "INC-1")
    assert incident.channel_id is not None
    assert slack.channel(incident.channel_id)["topic"]["value"].startswith("SEV2")  # type: ignore[index]
    assert [c.status for c in slack.calls_to("conversations.setTopic")] == [429, 200]


def test_everyone_is_invited_in_one_call_and_each_person_slack_refused_is_named(
    slack: SlackEmulator, tmp_path: Path, clock: ManualClock
) -> None:
    slack.add_user("U0GONE", "gone", deleted=True)
    slack.add_user("U0CAROL", "carol")
    bot = start_war_room_bot(slack, tmp_path, clock, ["U0GONE", "U0BOB", "U0NOBODY", "U0CAROL"])
    try:
        declare(bot, DECLARE)
        (invite,) = slack.calls_to("conversations.invite")
        assert invite.args["users"] == "U0ALICE,U0GONE,U0BOB,U0NOBODY,U0CAROL"
        assert invite.args["force"] == "1"
        room = records.get(bot.deps.store, "INC-1").channel_id
        assert room is not None
        assert set(slack.members(room)) == {"UBOT", "U0ALICE", "U0BOB", "U0CAROL"}
        named = [
            "Could not invite <@U0GONE>: `cant_invite`",
            "Could not invite <@U0NOBODY>: `user_not_found`",
        ]
        (failed,) = failed_steps(bot)
        assert failed.data == {"step": "invite", "problems": named}
        (report,) = [m for m in slack.messages(room) if "step(s) failed" in m["text"]]
        assert all(line in report["blocks"][0]["text"]["text"] for line in named)
    finally:
        bot.stop()


def test_a_refused_invite_call_names_everyone_it_was_for(
    rbot: RunningBot, slack: SlackEmulator
) -> None:
    slack.fail("conversations.invite", "restricted_action")
    declare(rbot, DECLARE)
    (failed,) = failed_steps(rbot)
    assert failed.data["problems"] == [
        "Could not invite <@U0ALICE>: `restricted_action`",
        "Could not invite <@U0BOB>: `restricted_action`",
    ]


def test_more_than_a_thousand_people_take_one_call_per_thousand(slack: SlackEmulator) -> None:
    people = [slack.add_user(f"U{n:07d}", f"user{n}") for n in range(1001)]
    room = slack.add_channel("big-room", members=("UBOT",))
    chat = SlackChat(WebClient(base_url=slack.api_url, token=TOKEN), renderer=None)  # type: ignore[arg-type]
    assert chat.invite(room, people) == []
    calls = slack.calls_to("conversations.invite")
    assert [len(c.args["users"].split(",")) for c in calls] == [1000, 1]
    assert len(slack.members(room)) == 1002


def test_a_form_is_not_waited_for_past_its_trigger_window(
    rbot: RunningBot, slack: SlackEmulator
) -> None:
    # Slack's trigger id lives 3 s: waiting 7 s for views.open could never open the form and
    # would hold one of Bolt's listener threads meanwhile.
    slack.rate_limit("views.open", times=1, retry_after=7)
    asked = rbot.driver.slash("incident create")
    assert asked.status == 200
    rbot.settle(30)
    assert [c.status for c in slack.calls_to("views.open")] == [429]
