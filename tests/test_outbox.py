"""Slack down: the flow carries on, messages wait in the outbox, and arrive in order once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.scheduler import ReminderScheduler
from services import outbox, timeline
from services.clock import ManualClock
from services.incidents import lifecycle, records
from services.incidents.model import Status
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def obot(slack: SlackEmulator, tmp_path: Path, clock: ManualClock) -> Iterator[RunningBot]:
    slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
    running = start_bot(
        slack=slack,
        store_path=tmp_path / "bot.db",
        clock=clock,
        extra_settings={"incidents": {"announcement_channel": "C0INCIDENTS"}},
    )
    yield running
    running.stop()


def texts(slack: SlackEmulator, channel: str) -> list[str]:
    return [m["text"] for m in slack.messages(channel)]


def test_messages_wait_in_the_outbox_and_arrive_in_order_when_slack_is_back(
    obot: RunningBot,
) -> None:
    declared = obot.driver.slash('incident create --severity=sev2 --title="Queue test"')
    obot.slack.wait_for_response(declared.response_id)
    obot.settle()
    incident = records.get(obot.deps.store, "INC-1")
    room = incident.channel_id
    assert room is not None

    obot.slack.outage(503)  # Slack stays away past the client's retries
    for status, message in (
        (Status.IDENTIFIED, "Bad deploy found"),
        (Status.MONITORING, "Rolled back"),
    ):
        current = records.get(obot.deps.store, "INC-1")
        result = lifecycle.post_update(
            current,
            deps=obot.deps.war_room,
            actor="U0ALICE",
            status=status,
            message=message,
            eta=None,
            broadcast=False,
        )
        assert result.changed  # the change stands: state and timeline are written
    assert records.get(obot.deps.store, "INC-1").status is Status.MONITORING
    assert [
        e.text
        for e in timeline.events(obot.deps.store, incident_id="INC-1")
        if e.kind == "status_update"
    ] == [
        "Bad deploy found",
        "Rolled back",
    ]
    queued = outbox.depth(obot.deps.store)
    assert queued >= 4  # two updates in the room and the thread, plus header/announcement edits
    before = texts(obot.slack, room)

    scheduler = ReminderScheduler(obot.deps)
    scheduler.run_tick()  # still down: nothing is sent, nothing is lost
    assert outbox.depth(obot.deps.store) == queued

    obot.slack.end_outage()
    scheduler.run_tick()
    assert outbox.depth(obot.deps.store) == 0
    after = texts(obot.slack, room)[len(before) :]
    updates = [t for t in after if "status update" in t.lower() or t.startswith("INC-1 ")]
    assert [t for t in after if t.startswith("INC-1 Identified")] == [
        "INC-1 Identified: Bad deploy found"
    ]
    assert [t for t in after if t.startswith("INC-1 Monitoring")] == [
        "INC-1 Monitoring: Rolled back"
    ]
    assert after.index("INC-1 Identified: Bad deploy found") < after.index(
        "INC-1 Monitoring: Rolled back"
    )
    assert after[-1].startswith("While Slack was unreachable")
    assert updates
    # The header was edited to the latest state once Slack was back.
    header = obot.slack.message(room, records.get(obot.deps.store, "INC-1").header_ts or "")
    assert header is not None and "Monitoring" in header["text"]
    # The thread under the announcement got the updates too, once each.
    thread = obot.slack.thread("C0INCIDENTS", incident.announcement_ts or "")
    assert [m["text"] for m in thread if m["text"].startswith("INC-1 ")] == [
        "INC-1 Identified: Bad deploy found",
        "INC-1 Monitoring: Rolled back",
    ]
    scheduler.run_tick()  # nothing is posted twice
    assert len(texts(obot.slack, room)) == len(before) + len(after)


def test_a_post_sent_later_keeps_its_key(obot: RunningBot) -> None:
    """A resumed flow finds its messages by their metadata key: the outbox must keep it."""
    from services.chat import Message

    obot.slack.outage(503)
    key = "INC-7:header \u202e<@U0ALICE> " + "k" * 200
    placeholder = obot.deps.chat.post(
        "C0INCIDENTS", Message("flow_problems", {"incident_id": "INC-7", "problems": []}, key=key)
    )
    assert outbox.is_pending(placeholder.ts)
    obot.slack.end_outage()
    assert obot.deps.chat.drain_outbox() == ["C0INCIDENTS"]
    (sent,) = [m for m in obot.slack.messages("C0INCIDENTS") if m.get("metadata")]
    assert sent["metadata"] == {"event_type": "hotfix_bot_message", "event_payload": {"key": key}}
    assert obot.deps.chat.find_message("C0INCIDENTS", key) == sent["ts"]


def test_messages_queued_by_an_earlier_version_go_out_with_gaps_or_not_at_all(
    obot: RunningBot, clock: ManualClock
) -> None:
    """An upgrade while Slack was away: a queued message whose data lacks what this version's
    template reads goes out with the gap left empty; one whose template is gone is dropped
    (and logged). Neither holds the messages queued after it."""
    from services.chat import Message

    store = obot.deps.store
    with store.transaction():
        for message in (
            Message("flow_problems", {"incident_id": "INC-9"}),  # no `problems` back then
            Message("retired_template", {"incident_id": "INC-8"}),
        ):
            outbox.enqueue(store, clock=clock, channel_id="C0INCIDENTS", op="post", message=message)
    obot.slack.outage(503)
    later = obot.deps.chat.post(
        "C0INCIDENTS", Message("flow_problems", {"incident_id": "INC-7", "problems": []})
    )
    assert outbox.is_pending(later.ts) and outbox.depth(store) == 3
    obot.slack.end_outage()
    assert obot.deps.chat.drain_outbox() == ["C0INCIDENTS"]
    assert outbox.depth(store) == 0
    sent = [m["text"] for m in obot.slack.messages("C0INCIDENTS")]
    assert [text for text in sent if "INC-9" in text]  # sent, with its gap
    assert not [text for text in sent if "INC-8" in text]  # dropped
    assert [text for text in sent if "INC-7" in text]  # not held behind them
