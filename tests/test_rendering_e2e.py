"""Slack's rules end to end: oversized and hostile text never gets a message refused.

The bot runs against the Slack emulator, which refuses blocks over Slack's documented
limits with `invalid_blocks` as Slack does; a refused `chat.update` would leave the
war-room header stale for the rest of the incident.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.clock import ManualClock
from services.incidents import records
from tests.harness.bot_actions import command
from tests.harness.running_bot import RunningBot
from tests.harness.slack_emulator import SlackEmulator

from .test_incidents_e2e import ANNOUNCE, incident, select, shown, start_incident_bot, text_input

pytestmark = pytest.mark.e2e

# As Slack sends it: what people type in a slash command arrives &-escaped.
HOSTILE_TITLE = "Checkout &lt;!channel&gt; &lt;!here&gt; &lt;https://evil.example|click&gt; down"
INJECTIONS = ("<!channel>", "<!here>", "<https://evil.example")


@pytest.fixture
def bot(slack: SlackEmulator, tmp_path: Path, clock: ManualClock) -> Iterator[RunningBot]:
    running = start_incident_bot(slack, tmp_path, clock)
    yield running
    running.stop()


def test_a_huge_eta_is_cut_and_the_header_keeps_being_edited(bot: RunningBot) -> None:
    reply = command(bot, f'incident create --severity=sev1 --title="{HOSTILE_TITLE}"')
    assert "declared" in reply["text"], reply
    inc = incident(bot)
    assert inc.channel_id and inc.header_ts and inc.announcement_ts
    room, header_ts = inc.channel_id, inc.header_ts

    eta = "after the failover " + "E" * 2400
    command(bot, f'incident update --eta="{eta}" --message="Failing over"', channel_id=room)
    assert incident(bot).eta == eta  # stored whole; only the message is cut
    command(bot, "incident update --status=monitoring --message=Recovering", channel_id=room)

    edits = bot.slack.calls_to("chat.update")
    assert len(edits) >= 4  # header and announcement, twice
    assert [c.error for c in edits] == [None] * len(edits)
    header = bot.slack.message(room, header_ts)
    assert header is not None
    seen = shown(header)
    assert "*Status*\nMonitoring" in seen
    assert "*ETA*\nafter the failover EEE" in seen and "E…" in seen
    for field in header["blocks"][1]["fields"]:
        assert len(field["text"]) <= 2000
    # The fallback text (notifications, screen readers) carries the title escaped.
    for call in edits + bot.slack.calls_to("chat.postMessage"):
        text = str(call.args.get("text", ""))
        for injection in INJECTIONS:
            assert injection not in text, (call.method, text)
    announcement = bot.slack.message(ANNOUNCE, inc.announcement_ts)
    assert announcement is not None
    assert "&lt;!channel&gt;" in announcement["text"]
    assert "*Status*\nMonitoring" in shown(announcement)


def test_every_text_input_of_every_form_declares_the_length_the_bot_accepts(
    bot: RunningBot,
) -> None:
    room = incident_room(bot)
    header_ts = incident(bot).header_ts
    for action in ("hotfix_post_update", "hotfix_resolve"):
        click = bot.driver.block_action(
            action, value="INC-1", channel_id=room, message_ts=header_ts
        )
        assert click.status == 200
    bot.driver.block_action("hotfix_declare", value="declare", channel_id="C0GENERAL")
    views = [c.args["view"] for c in bot.slack.calls_to("views.open")]
    assert sorted(v["callback_id"] for v in views) == [
        "hotfix_declare",
        "hotfix_resolve",
        "hotfix_update",
    ]
    inputs = {
        (view["callback_id"], block["block_id"]): block["element"]["max_length"]
        for view in views
        for block in view["blocks"]
        if block.get("element", {}).get("type") == "plain_text_input"
    }
    assert inputs == {
        ("hotfix_declare", "title"): 150,
        ("hotfix_declare", "description"): 3000,
        ("hotfix_update", "message"): 3000,
        ("hotfix_update", "eta"): 150,
        ("hotfix_resolve", "root_cause"): 3000,
        ("hotfix_resolve", "resolution"): 3000,
        ("hotfix_resolve", "action_items"): 3000,
        # Words for customers (services/comms/customer.py PUBLIC_LIMIT).
        ("hotfix_declare", "public"): 3000,
        ("hotfix_update", "public"): 3000,
        ("hotfix_resolve", "public"): 3000,
    }


def test_a_form_value_longer_than_its_field_allows_is_answered_next_to_the_field(
    bot: RunningBot,
) -> None:
    values = {
        "title": text_input("<!channel> " + "T" * 200),
        "severity": select("sev2"),
        "description": text_input("ok"),
    }
    result = bot.driver.view_submission("hotfix_declare", values, private_metadata="C0GENERAL")
    assert result.status == 200
    assert result.json == {
        "response_action": "errors",
        "errors": {"title": "At most 150 characters, this has 211: shorten it."},
    }
    bot.settle()
    assert records.open_incidents(bot.deps.store) == []


def incident_room(bot: RunningBot) -> str:
    command(bot, "incident create --severity=sev2 --title=Checkout")
    room = incident(bot).channel_id
    assert room is not None
    return room
