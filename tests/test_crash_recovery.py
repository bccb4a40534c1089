"""Named crash points: what a restarted bot does with work the dead one left half done.

tests/test_chaos.py kills the bot at random points; these are the points
worth reading about, each killed exactly there through the Slack emulator's
call hook, with a real bot process and a real SQLite file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from handlers.core.context import Deps
from services import timeline
from services.store import Store
from tests.harness.bot_process import BotProcess
from tests.harness.slack_emulator import SlackEmulator
from tests.harness.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DECLARE = 'incident create --severity=sev2 --title="Checkout slow"'


@pytest.fixture(name="config")
def crash_points_config(slack: SlackEmulator, tmp_path: Path) -> Path:
    slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
    path = tmp_path / "hotfix.yml"
    path.write_text(
        f"store:\n  path: {tmp_path / 'bot.db'}\nincidents:\n  announcement_channel: C0INCIDENTS\n"
    )
    return path


@pytest.fixture(name="store")
def crash_points_store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "bot.db")
    yield opened
    opened.close()


def kill_at(
    slack: SlackEmulator, bot: BotProcess, method: str, phase: str, send: Callable[[], Any]
) -> Any:
    """Send a request, then SIGKILL the bot around its first `method` call (before Slack sees
    it, or after it acted).

    The kill waits until the bot's answer to `send` has arrived: on a busy machine the worker
    can reach `method` before the ack is written, and a bot killed then never acknowledged the
    request at all (Slack would retry it: tests/test_chaos.py covers that case).
    """
    acknowledged = threading.Event()

    def hook(called: str, when: str) -> bool:
        if called == method and when == phase and bot.process.poll() is None:
            acknowledged.wait(timeout=30)
            bot.process.kill()
            return True  # "before": Slack never sees the call
        return False

    slack.call_hook = hook
    try:
        return send()
    finally:
        acknowledged.set()


def war_room_ready(store: Store) -> bool:
    row = store.query_one("SELECT war_room_done_at FROM incidents WHERE id = 'INC-1'")
    return bool(row and row["war_room_done_at"])


def keyed(messages: list[dict], key: str) -> list[dict]:
    return [
        m for m in messages if (m.get("metadata") or {}).get("event_payload", {}).get("key") == key
    ]


def test_a_crash_after_slack_created_the_channel_adopts_it_instead_of_opening_a_second(
    slack: SlackEmulator, config: Path, store: Store, tmp_path: Path
) -> None:
    log = tmp_path / "bot.log"
    first = BotProcess(config=config, slack=slack, clock_file=None, log=log)
    acked = kill_at(
        slack, first, "conversations.create", "after", lambda: first.driver.slash(DECLARE)
    )
    assert acked.status == 200  # acknowledged, then the bot died in the flow
    assert wait_until(lambda: first.process.poll() is not None, timeout=10)
    first.kill()
    slack.call_hook = None
    assert slack.channel_by_name("inc-1-checkout-slow") is not None
    assert store.query_one("SELECT channel_id FROM incidents")["channel_id"] is None

    second = BotProcess(config=config, slack=slack, clock_file=None, log=log)
    try:
        assert wait_until(lambda: war_room_ready(store), timeout=15)
    finally:
        second.stop()
    created = [c for c in slack.calls_to("conversations.create") if c.ok]
    assert [c.args["name"] for c in created] == ["inc-1-checkout-slow"]
    room = created[0].response["channel"]["id"]
    assert store.query_one("SELECT channel_id FROM incidents")["channel_id"] == room
    assert [c.args["types"] for c in slack.calls_to("conversations.list")] == [
        "public_channel,private_channel"
    ]
    kinds = [e.kind for e in timeline.events(store, incident_id="INC-1")]
    assert kinds.count("war_room_created") == 1 and kinds.count("announced") == 1
    headers = [m for m in slack.messages(room) if "Checkout slow" in m.get("text", "")]
    assert len(headers) == 1


def test_a_crash_after_a_post_finds_that_post_instead_of_posting_again(
    slack: SlackEmulator, config: Path, store: Store, tmp_path: Path
) -> None:
    log = tmp_path / "bot.log"
    first = BotProcess(config=config, slack=slack, clock_file=None, log=log)
    # the header is posted, never recorded
    kill_at(slack, first, "chat.postMessage", "after", lambda: first.driver.slash(DECLARE))
    assert wait_until(lambda: first.process.poll() is not None, timeout=10)
    first.kill()
    slack.call_hook = None

    second = BotProcess(config=config, slack=slack, clock_file=None, log=log)
    try:
        assert wait_until(lambda: war_room_ready(store), timeout=15)
    finally:
        second.stop()
    room = store.query_one("SELECT channel_id, header_ts FROM incidents")
    header_keys = keyed(slack.messages(room["channel_id"]), "INC-1:header")
    assert [m["ts"] for m in header_keys] == [room["header_ts"]]
    history = slack.calls_to("conversations.history")
    assert history and history[0].args.get("include_all_metadata") in (True, "true", "1")


def test_an_acknowledged_command_lost_with_the_bot_is_run_again_on_start(
    slack: SlackEmulator, config: Path, store: Store, tmp_path: Path
) -> None:
    log = tmp_path / "bot.log"
    first = BotProcess(config=config, slack=slack, clock_file=None, log=log)
    # users.info is the first Slack call of a declaration
    acked = kill_at(slack, first, "users.info", "before", lambda: first.driver.slash(DECLARE))
    assert acked.status == 200 and "Working on" in acked.body
    assert wait_until(lambda: first.process.poll() is not None, timeout=10)
    first.kill()
    slack.call_hook = None
    journaled = store.query("SELECT request_key, kind, finished_at FROM command_journal")
    assert journaled == [{"request_key": acked.trigger_id, "kind": "command", "finished_at": None}]
    assert "token" not in store.query_one("SELECT payload FROM command_journal")["payload"]

    second = BotProcess(config=config, slack=slack, clock_file=None, log=log)
    try:
        (answer,) = slack.wait_for_response(acked.response_id or "", timeout=15)
        assert wait_until(lambda: war_room_ready(store), timeout=15)
        assert wait_until(
            lambda: store.query("SELECT outcome FROM command_journal") == [{"outcome": "done"}],
            timeout=15,
        )
    finally:
        second.stop()
    assert "INC-1" in answer["text"]  # "declared", or "already declared" when the row had landed
    assert len(store.query("SELECT id FROM incidents")) == 1


def killed_before_posting(
    slack: SlackEmulator, config: Path, store: Store, log: Path, text: str
) -> tuple[str, str | None]:
    """Declare, then run `text` in the war room with the bot killed before its first post.

    Returns the war room and the command's response id, after a new bot has answered it.
    """
    first = BotProcess(config=config, slack=slack, clock_file=None, log=log)
    declared = first.driver.slash(DECLARE)
    slack.wait_for_response(declared.response_id or "", timeout=15)
    assert wait_until(lambda: war_room_ready(store), timeout=15)
    room = store.query_one("SELECT channel_id FROM incidents")["channel_id"]
    # in the store, not yet in Slack
    sent = kill_at(
        slack,
        first,
        "chat.postMessage",
        "before",
        lambda: first.driver.slash(text, channel_id=room),
    )
    assert wait_until(lambda: first.process.poll() is not None, timeout=10)
    first.kill()
    slack.call_hook = None
    posted_before = len(slack.messages(room))
    second = BotProcess(config=config, slack=slack, clock_file=None, log=log)
    try:
        slack.wait_for_response(sent.response_id or "", timeout=15)
    finally:
        second.stop()
    assert len(slack.messages(room)) > posted_before
    return room, sent.trigger_id


def war_room_and_thread(slack: SlackEmulator, store: Store, room: str) -> list[list[dict]]:
    incident = store.query_one("SELECT * FROM incidents")
    thread = slack.thread(incident["announcement_channel_id"], incident["announcement_ts"])
    return [slack.messages(room), thread]


def test_a_status_update_recorded_but_never_posted_is_posted_once_after_a_restart(
    slack: SlackEmulator, config: Path, store: Store, tmp_path: Path
) -> None:
    room, trigger_id = killed_before_posting(
        slack,
        config,
        store,
        tmp_path / "bot.log",
        'incident update --status=identified --message="Bad config rolled out"',
    )
    for messages in war_room_and_thread(slack, store, room):
        (update,) = keyed(messages, f"update:{trigger_id}")
        assert "Bad config rolled out" in update["text"]
    updates = [e for e in timeline.events(store, incident_id="INC-1") if e.kind == "status_update"]
    assert [e.data["message"] for e in updates] == ["Bad config rolled out"]


def test_a_resolution_recorded_but_never_announced_is_announced_once_after_a_restart(
    slack: SlackEmulator, config: Path, store: Store, tmp_path: Path
) -> None:
    room, _ = killed_before_posting(
        slack,
        config,
        store,
        tmp_path / "bot.log",
        'incident resolve --root-cause="expired certificate"',
    )
    assert store.query_one("SELECT status FROM incidents")["status"] == "resolved"
    (event,) = [e for e in timeline.events(store, incident_id="INC-1") if e.kind == "resolved"]
    for messages in war_room_and_thread(slack, store, room):
        assert len(keyed(messages, f"resolved:{event.id}")) == 1


def test_a_crash_between_recording_the_channel_and_its_event_is_repaired_on_resume(
    deps: Deps,
) -> None:
    from services.incidents import records
    from services.incidents.model import Severity
    from services.incidents.war_room import resume_war_rooms

    incident, _ = records.create(
        deps.store,
        clock=deps.clock,
        new=records.NewIncident(
            title="Checkout slow",
            severity=Severity.SEV2,
            impact="high",
            description="",
            commander="console:oncall",
            declared_by="console:oncall",
            origin_channel_id=None,
            next_update_due_at=deps.clock.now(),
            request_key=None,
        ),
    )
    # What a crash right after recording the channel leaves: the id, no event, not done.
    records.set_if_unset(
        deps.store, incident.id, channel_id="console:#inc-1-checkout-slow", channel_name="inc-1"
    )
    for _ in range(2):  # a second restart changes nothing
        resume_war_rooms(deps.war_room)
    kinds = [e.kind for e in timeline.events(deps.store, incident_id=incident.id)]
    assert kinds.count("war_room_created") == 1
    assert records.get(deps.store, incident.id).channel_id == "console:#inc-1-checkout-slow"
