"""Everything sent outside Slack, on the timeline and in the postmortem, as sentences.

The dispatcher records each delivery as a `comms_sent` / `comms_failed` timeline row (data:
channel, action, audience, link; error). Here those rows are appended the way the
dispatcher writes them (services.timeline, with the test's clock), and the `timeline`
command and the postmortem draft, both through Slack, must read them as sentences with
times: "Status page incident opened 09:31 UTC; customers emailed 09:32; paged @dave
09:29, page acknowledged 09:34".
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services import timeline
from services.clock import ManualClock
from tests.harness.bot_actions import command, war_room
from tests.harness.running_bot import RunningBot
from tests.harness.slack_emulator import SlackEmulator

from .test_incidents_e2e import CREATE_SEV1, block_text, incident_settings, start_incident_bot

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]
STATUS_PAGE = "https://status.example.com/incidents/abc123"
START = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)  # the clock fixture's, when declared


@pytest.fixture
def cbot(slack: SlackEmulator, tmp_path: Path, clock: ManualClock) -> Iterator[RunningBot]:
    running = start_incident_bot(slack, tmp_path, clock, incidents=incident_settings())
    yield running
    running.stop()


def delivered(
    bot: RunningBot,
    clock: ManualClock,
    *,
    minutes: int,
    channel: str,
    action: str,
    audience: str | None = None,
    link: str | None = None,
    text: str = "",
    error: str | None = None,
    delivery: int,
) -> None:
    """A row as the dispatcher writes it, `minutes` after the declaration."""
    data: JSON = {
        "delivery": delivery,
        "channel": channel,
        "action": action,
        "audience": audience,
        "link": link,
    }
    if error is not None:
        data["error"] = error
    timeline.append(
        bot.deps.store,
        clock=clock,
        incident_id="INC-1",
        actor="hotfix-bot",
        kind="comms_failed" if error is not None else "comms_sent",
        text=text or (f"{channel} {action} failed: {error}" if error else f"{channel} {action}"),
        data=data,
        at=START + timedelta(minutes=minutes),
        dedup_key=f"delivery:{delivery}",
    )


@pytest.fixture
def history(cbot: RunningBot, clock: ManualClock) -> str:
    """A SEV1 and what went out for it; returns the war room."""
    room = war_room(cbot, CREATE_SEV1)
    rows: list[JSON] = [
        {"minutes": 3, "channel": "pagerduty", "action": "trigger", "audience": "U0DAVE"},
        {
            "minutes": 5,
            "channel": "statuspage",
            "action": "open_incident",
            "link": STATUS_PAGE,
            "text": "Status page incident opened",
        },
        {"minutes": 6, "channel": "email", "action": "send", "audience": "customers"},
        {"minutes": 8, "channel": "pagerduty", "action": "acknowledge"},
        {"minutes": 9, "channel": "email", "action": "send", "audience": "execs"},
        {
            "minutes": 12,
            "channel": "statuspage",
            "action": "update_incident",
            "error": "HTTP 503 from api.statuspage.io; retried 5 times\nsecond line",
        },
        {"minutes": 14, "channel": "carrier-pigeon", "action": "release", "text": "Pigeon sent"},
        {"minutes": 20, "channel": "statuspage", "action": "resolve_incident", "link": STATUS_PAGE},
        {"minutes": 21, "channel": "pagerduty", "action": "resolve"},
    ]
    for n, row in enumerate(rows, start=1):
        delivered(cbot, clock, delivery=n, **row)
    return room


def test_the_timeline_command_reads_each_delivery_as_a_sentence(
    cbot: RunningBot, history: str
) -> None:
    shown = command(cbot, "timeline", channel_id=history)
    rows = block_text(shown["blocks"]).splitlines()

    def row(minute: str) -> str:
        (found,) = [r for r in rows if r.startswith(f"`09:{minute}:53 UTC`")]
        return found

    assert row("29").endswith("hotfix-bot Paged @dave")
    assert row("31").endswith(f"hotfix-bot Status page incident opened ({STATUS_PAGE})")
    assert row("32").endswith("hotfix-bot Customers emailed")
    assert row("34").endswith("hotfix-bot Page acknowledged")
    assert row("35").endswith("hotfix-bot Execs emailed")
    assert row("38").endswith(
        "hotfix-bot Updating the status page failed: HTTP 503 from api.statuspage.io;"
        " retried 5 times"
    )
    assert row("40").endswith("hotfix-bot Pigeon sent")  # an action nobody worded: its text
    assert row("46").endswith(f"Status page incident resolved ({STATUS_PAGE})")
    assert row("47").endswith("Page resolved")


def test_the_postmortem_has_a_communications_section(cbot: RunningBot, history: str) -> None:
    reply = command(cbot, "postmortem", channel_id=history)
    assert reply["text"] == "Postmortem draft uploaded to the war room."
    (shared,) = cbot.slack.files(history)
    content = cbot.slack.file_content(shared["id"])
    assert content is not None
    markdown = content.decode()
    section = markdown.split("## Communications\n", 1)[1].split("\n## ", 1)[0]
    summary = section.strip().splitlines()[0]
    # Grouped by system in order of first use; the zone named once.
    assert summary == (
        "Paged @dave 09:29 UTC, page acknowledged 09:34, page resolved 09:47;"
        " status page incident opened 09:31, updating the status page failed 09:38"
        " (HTTP 503 from api.statuspage.io; retried 5 times),"
        " status page incident resolved 09:46;"
        " customers emailed 09:32, execs emailed 09:35;"
        " Pigeon sent 09:40."  # a channel's own words, as written
    )
    for line in (
        "| UTC | What was sent, to whom |",
        "| 09:29 UTC | Paged @dave |",
        f"| 09:31 UTC | Status page incident opened ({STATUS_PAGE}) |",
        "| 09:32 UTC | Customers emailed |",
        "| 09:38 UTC | **Failed:** Updating the status page failed: HTTP 503 from"
        " api.statuspage.io; retried 5 times |",
        "| 09:40 UTC | Pigeon sent |",
    ):
        assert line in section, (line, section)
    # And on the full timeline too.
    assert "| hotfix-bot | Customers emailed |" in markdown


def test_a_postmortem_with_nothing_sent_outside_slack_says_so(cbot: RunningBot) -> None:
    room = war_room(cbot, CREATE_SEV1)
    command(cbot, "postmortem", channel_id=room)
    (shared,) = cbot.slack.files(room)
    content = cbot.slack.file_content(shared["id"])
    assert content is not None
    assert "_Nothing was sent outside Slack (status page, paging, email) by hotfix-bot._" in (
        content.decode()
    )


def test_a_row_with_hostile_data_stays_one_table_row(cbot: RunningBot, clock: ManualClock) -> None:
    room = war_room(cbot, CREATE_SEV1)
    delivered(
        cbot,
        clock,
        minutes=1,
        delivery=1,
        channel="email",
        action="send",
        audience="cust|omers\n<@U0BOB>",
        error="550 <b>no</b> | rejected\nmore",
    )
    command(cbot, "postmortem", channel_id=room)
    (shared,) = cbot.slack.files(room)
    content = cbot.slack.file_content(shared["id"])
    assert content is not None
    (row,) = [r for r in content.decode().splitlines() if r.startswith("| 09:27 UTC | **Failed")]
    assert row.endswith("550 <b>no</b> \\| rejected |")
    assert "@bob" in row
