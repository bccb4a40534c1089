"""The postmortem and the `timeline` command read like documents: deployments as sentences,
people by display name (users.info, cached), times in the team's zone and UTC, status
names and ETAs on every update, checks by name and result, no stale ETA once resolved.

A real bot over HTTP, the Slack emulator, a real deploy script and check."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from services.clock import ManualClock
from services.incidents import records as incidents
from tests.harness.bot_actions import click, command
from tests.harness.deploy_target import DeployTarget
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HOSTILE = "<!channel> ```x``` | \u202eevil\n" + "A" * 300


@pytest.fixture
def target(tmp_path: Path) -> Iterator[DeployTarget]:
    deployed = DeployTarget(tmp_path / "target")
    (deployed.root / "smoke.py").write_text("print('smoke ok')\n")
    yield deployed
    deployed.stop()


@pytest.fixture
def pbot(
    slack: SlackEmulator, target: DeployTarget, tmp_path: Path, clock: ManualClock
) -> Iterator[RunningBot]:
    slack.add_user("U0CAROL", "carol")
    production = target.environment(
        approvals=1,
        checks=[{"name": "smoke", "argv": [sys.executable, str(target.root / "smoke.py")]}],
    )
    running = start_bot(
        slack=slack,
        store_path=tmp_path / "bot.db",
        clock=clock,
        extra_settings={
            "timezone": "Europe/Berlin",
            "services": {"payments": {"environments": {"production": production}}},
            "access": {"deployers": ["U0ALICE"]},
        },
    )
    yield running
    running.stop()


def run_incident(bot: RunningBot, clock: ManualClock) -> str:
    """Declared 09:26:53 UTC (10:26 CET); update, deploy, approve, resolve."""
    command(bot, 'incident create --severity=sev1 --title="Payments failing"')
    inc = incidents.by_id(bot.deps.store, "INC-1")
    assert inc is not None and inc.channel_id
    room = inc.channel_id
    clock.advance(timedelta(minutes=5))
    command(
        bot,
        'incident update --status=identified --eta="15 minutes" --message="Bad config"',
        channel_id=room,
    )
    clock.advance(timedelta(minutes=5))
    command(bot, "deploy --target=production --service=payments --version=v2.1.1", channel_id=room)
    clock.advance(timedelta(minutes=3))
    click(bot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    clock.advance(timedelta(minutes=20))
    command(bot, 'incident resolve --root-cause="config"', channel_id=room)
    return room


def test_the_postmortem_reads_like_a_document(
    pbot: RunningBot, slack: SlackEmulator, clock: ManualClock
) -> None:
    room = run_incident(pbot, clock)
    command(pbot, "postmortem", channel_id=room)
    (draft,) = slack.files(room)
    markdown = (slack.file_content(draft["id"]) or b"").decode()
    deployments = markdown.split("## Deployments during the incident")[1].split("## ")[0]
    # Verification watches the health check for 30 s of the (manual) clock.
    assert deployments.strip() == (
        "- DEP-1: payments v2.1.1 → production,"
        " requested by @alice at 10:36 CET (09:36 UTC),"
        " approved by @bob at 10:39 CET (09:39 UTC),"
        " checks: smoke succeeded,"
        " succeeded at 10:40 CET (09:40 UTC)."
    ), markdown
    assert (
        "| @alice | Status: Identified (was Investigating) · ETA 15 minutes — Bad config |"
        in markdown
    )
    assert "| hotfix-bot | DEP-1 validate ok: checks: smoke succeeded |" in markdown
    assert "| @bob | DEP-1 approved by @bob |" in markdown
    assert "{'" not in markdown
    for user_id in ("U0ALICE", "U0BOB"):
        assert user_id not in markdown, user_id


def test_the_timeline_command_names_people_and_gives_both_zones_with_users_info_cached(
    pbot: RunningBot, slack: SlackEmulator, clock: ManualClock
) -> None:
    room = run_incident(pbot, clock)
    before = len(slack.calls_to("users.info"))
    reply = command(pbot, "timeline", channel_id=room)
    text = reply["blocks"][1]["text"]["text"]
    assert (
        "`10:31:53 CET (09:31:53 UTC)` @alice Status: Identified (was Investigating)"
        " · ETA 15 minutes — Bad config" in text
    ), text
    assert "@bob DEP-1 approved by @bob" in text
    assert "<@" not in text and "U0BOB" not in text
    looked_up = [c.args["user"] for c in slack.calls_to("users.info")[before:]]
    assert sorted(set(looked_up)) == sorted(looked_up), looked_up  # each person once
    command(pbot, "timeline", channel_id=room)
    command(pbot, "postmortem", channel_id=room)
    assert len(slack.calls_to("users.info")) == before + len(looked_up)  # all from the cache


def test_the_resolved_header_has_no_stale_eta(
    pbot: RunningBot, slack: SlackEmulator, clock: ManualClock
) -> None:
    room = run_incident(pbot, clock)
    inc = incidents.by_id(pbot.deps.store, "INC-1")
    assert inc is not None and inc.header_ts and inc.eta == "15 minutes"
    header = slack.message(room, inc.header_ts)
    assert header is not None
    fields = [f["text"] for b in header["blocks"] for f in b.get("fields", [])]
    assert any(f.startswith("*Status*\nResolved") for f in fields), fields
    assert not any(f.startswith("*ETA*") for f in fields), fields


def test_hostile_text_stays_text_in_the_timeline_command(
    pbot: RunningBot, slack: SlackEmulator, clock: ManualClock
) -> None:
    room = run_incident(pbot, clock)
    command(pbot, f"note {HOSTILE}", channel_id=room)
    reply = command(pbot, "timeline", channel_id=room)
    text = reply["blocks"][1]["text"]["text"]
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text


def test_display_names_are_cached_a_slack_error_is_not_and_hostile_names_stay_text(
    pbot: RunningBot, slack: SlackEmulator, clock: ManualClock
) -> None:
    slack.add_user("U0EVE", "eve | <!channel> " + "E" * 200)
    room = run_incident(pbot, clock)
    names = pbot.deps.people
    slack.fail("users.info", "internal_error")
    assert names.who("U0EVE") == "U0EVE"  # Slack could not tell: the id, not cached
    assert names.who("U0EVE").startswith("@eve | <!channel>")  # asked again, then cached
    calls = len(slack.calls_to("users.info"))
    assert names.in_text("noted by <@U0EVE> and U0NOBODY at 10:00 UTC").startswith("noted by @eve")
    assert len(slack.calls_to("users.info")) == calls + 1  # U0NOBODY; U0EVE from the cache
    noted = command(pbot, "note from eve", channel_id=room, user_id="U0EVE")
    assert noted["text"] == "Noted on the timeline.", noted
    command(pbot, "postmortem", channel_id=room)
    (draft,) = slack.files(room)
    markdown = (slack.file_content(draft["id"]) or b"").decode()
    rows = [line for line in markdown.splitlines() if "| from eve |" in line]
    assert rows, markdown
    row = rows[0]
    assert row.count(" | ") == 3 and "@eve \\| <!channel>" in row, row  # one table row
    reply = command(pbot, "timeline", channel_id=room)
    text = reply["blocks"][1]["text"]["text"]
    assert "<!channel>" not in text and "@eve | &lt;!channel&gt;" in text


def test_a_failed_deployment_says_why_and_where_it_went_back_to(
    pbot: RunningBot, slack: SlackEmulator, target: DeployTarget, clock: ManualClock
) -> None:
    target.bad_versions.add("v2.1.1")
    room = run_incident(pbot, clock)
    command(pbot, "postmortem", channel_id=room)
    (draft,) = slack.files(room)
    markdown = (slack.file_content(draft["id"]) or b"").decode()
    deployments = markdown.split("## Deployments during the incident")[1].split("## ")[0]
    assert deployments.strip().replace(target.health_url, "URL") == (
        "- DEP-1: payments v2.1.1 → production,"
        " requested by @alice at 10:36 CET (09:36 UTC),"
        " approved by @bob at 10:39 CET (09:39 UTC),"
        " checks: smoke succeeded,"
        " failed (Verification failed: URL: HTTP 503, expected 200) at 10:39 CET (09:39 UTC),"
        " rolled back to v2.1.0 at 10:40 CET (09:40 UTC)."
    ), deployments
