"""Keyed posts: each message the bot posts once, whatever crashes and retries come.

Each message a resumed flow might post a second time carries a key in Slack message
metadata; these tests kill a real bot process around its posts (through the Slack
emulator's call hook), restart it on the same SQLite file, and count what Slack holds:
role DMs and severity changes, a request Slack sends again while the restarted bot
replays it from its journal, and the lookup in a long announcement thread.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from handlers.slack.gateway import MESSAGE_KEY_EVENT, SlackChat
from handlers.slack.recovery import COMMAND
from services import journal, timeline
from services.clock import SystemClock
from services.store import Store
from tests.harness.bot_process import BotProcess
from tests.harness.running_bot import RunningBot
from tests.harness.slack_emulator import SlackEmulator
from tests.harness.waiting import wait_until

# The crash points' `config` and `store` fixtures (named so by `name=`).
from tests.test_crash_recovery import (  # noqa: F401
    DECLARE,
    crash_points_config,
    crash_points_store,
    keyed,
    kill_at,
    war_room_and_thread,
    war_room_ready,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def killed_at_post(
    slack: SlackEmulator, config: Path, store: Store, log: Path, text: str, phase: str
) -> str:
    """Declare, then run `text` in the war room with the bot killed around its first post
    (before Slack sees it, or after Slack posted it); a new bot runs it again. The war room."""
    first = BotProcess(config=config, slack=slack, clock_file=None, log=log)
    declared = first.driver.slash(DECLARE)
    slack.wait_for_response(declared.response_id or "", timeout=15)
    assert wait_until(lambda: war_room_ready(store), timeout=15)
    room = store.query_one("SELECT channel_id FROM incidents")["channel_id"]
    # before: Slack never sees the post; after: Slack posted it, the bot never heard back
    sent = kill_at(
        slack, first, "chat.postMessage", phase, lambda: first.driver.slash(text, channel_id=room)
    )
    assert wait_until(lambda: first.process.poll() is not None, timeout=10)
    first.kill()
    slack.call_hook = None
    second = BotProcess(config=config, slack=slack, clock_file=None, log=log)
    try:
        slack.wait_for_response(sent.response_id or "", timeout=15)
        assert wait_until(
            lambda: (
                store.query("SELECT finished_at FROM command_journal WHERE finished_at IS NULL")
                == []
            ),
            timeout=15,
        )
    finally:
        second.stop()
    return str(room)


@pytest.mark.parametrize("phase", ["before", "after"])
def test_a_role_dm_cut_short_by_a_crash_is_sent_exactly_once(
    slack: SlackEmulator, config: Path, store: Store, tmp_path: Path, phase: str
) -> None:
    slack.add_user("U0CAROL", "carol")
    killed_at_post(
        slack, config, store, tmp_path / "bot.log", "incident scribe <@U0CAROL|carol>", phase
    )
    (event,) = [e for e in timeline.events(store, incident_id="INC-1") if e.kind == "role_assigned"]
    assert event.data["new"] == "U0CAROL"
    dm = slack.dm_channel("U0CAROL")
    assert dm is not None
    assert len(keyed(slack.messages(dm), f"INC-1:role:{event.id}")) == 1
    assert "U0CAROL" in slack.members(
        store.query_one("SELECT channel_id FROM incidents")["channel_id"]
    )


@pytest.mark.parametrize("phase", ["before", "after"])
def test_a_severity_change_cut_short_by_a_crash_is_posted_exactly_once(
    slack: SlackEmulator, config: Path, store: Store, tmp_path: Path, phase: str
) -> None:
    room = killed_at_post(
        slack, config, store, tmp_path / "bot.log", "incident severity sev1", phase
    )
    (event,) = [
        e for e in timeline.events(store, incident_id="INC-1") if e.kind == "severity_changed"
    ]
    for messages in war_room_and_thread(slack, store, room):
        assert len(keyed(messages, f"INC-1:severity:{event.id}")) == 1
    assert store.query_one("SELECT severity FROM incidents")["severity"] == "sev1"


def test_slack_sending_a_request_again_beside_its_journal_replay_posts_it_once(
    slack: SlackEmulator, config: Path, store: Store, tmp_path: Path
) -> None:
    """The dead bot journaled a status update and died before Slack had its ack; Slack sends
    it again to the restarted bot while that bot replays its journal. The two runs of the
    one request must not overlap: the replay found the retry's timeline row but not yet its
    posts (still on their way), and posted them a second time (issue 11, section 7)."""
    log = tmp_path / "bot.log"
    first = BotProcess(config=config, slack=slack, clock_file=None, log=log)
    declared = first.driver.slash(DECLARE)
    slack.wait_for_response(declared.response_id or "", timeout=15)
    assert wait_until(lambda: war_room_ready(store), timeout=15)
    room = store.query_one("SELECT channel_id FROM incidents")["channel_id"]
    first.kill()
    # What the dead bot left: its war room flow not marked done (the restarted bot resumes
    # it before replaying the journal), and the update journaled but never acknowledged.
    store.conn.execute("UPDATE incidents SET war_room_done_at = NULL")
    update = first.driver.slash_request(
        'incident update --status=identified --message="DNS fixed"', channel_id=room
    )
    journaled = {k: v for k, v in update.payload.items() if k != "token"}
    request_key = update.trigger_id or ""
    assert journal.accept(
        store, clock=SystemClock(), request_key=request_key, kind=COMMAND, payload=journaled
    )

    # The interleaving that lost: the retry's run records the update and starts posting
    # while the replay (held back by the resumed war room) has not looked yet; its post
    # then waits until the replay has looked in the war room (a few seconds at most).
    acked, looked, posting = threading.Event(), threading.Event(), threading.Event()

    def replay_started() -> bool:
        row = Store(tmp_path / "bot.db").query_one(
            "SELECT replays FROM command_journal WHERE request_key = ?", (request_key,)
        )
        return bool(row and row["replays"])

    def hook(method: str, when: str) -> bool:
        if when != "before" or method == "auth.test":
            return False
        if not acked.is_set():
            acked.wait(10)  # the resumed war room, before the journal's replay
        elif method == "conversations.history" and replay_started():
            looked.set()
        elif method == "chat.postMessage" and not posting.is_set():
            posting.set()
            looked.wait(3)
        return False

    slack.call_hook = hook
    second = BotProcess(config=config, slack=slack, clock_file=None, log=log)
    try:
        retried = second.driver.send(update, retry_num=1, retry_reason="http_timeout")
        acked.set()
        assert retried.status == 200
        answers = slack.wait_for_response(update.response_id or "", count=2, timeout=20)
    finally:
        slack.call_hook = None
        second.stop()
    # Both deliveries are answered; the work is done once.
    assert sorted(a["text"] for a in answers) == [
        "This update was already posted.",
        "Update posted for INC-1.",
    ]
    for messages in war_room_and_thread(slack, store, room):
        assert len(keyed(messages, f"update:{request_key}")) == 1
    updates = [e for e in timeline.events(store, incident_id="INC-1") if e.kind == "status_update"]
    assert [e.data["message"] for e in updates] == ["DNS fixed"]


def test_a_resumed_flow_finds_its_post_at_the_end_of_a_long_announcement_thread(
    bot: RunningBot, slack: SlackEmulator
) -> None:
    """conversations.replies answers oldest first: a first page of 200 of a thread with
    1,100 replies (a long incident's announcement thread) does not hold the newest ones,
    so the lookup must read the whole thread, not its first page."""
    slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
    chat = bot.deps.chat
    assert isinstance(chat, SlackChat)
    parent = chat.client.chat_postMessage(channel="C0INCIDENTS", text="INC-1 declared")["ts"]
    for n in range(1100):
        slack.add_message("C0INCIDENTS", f"reply {n}", user="U0BOB", thread_ts=parent)
    posted = chat.client.chat_postMessage(
        channel="C0INCIDENTS",
        thread_ts=parent,
        text="INC-1 Identified",
        metadata={"event_type": MESSAGE_KEY_EVENT, "event_payload": {"key": "update:T1"}},
    )["ts"]
    assert chat.find_message("C0INCIDENTS", "update:T1", thread_ts=parent) == posted
    assert chat.find_message("C0INCIDENTS", "update:T2", thread_ts=parent) is None
