"""Live CI status on the hotfix messages: a signed workflow_run for the hotfix branch (or the
release tag) arrives, and the war-room message is edited in place to show it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.clock import ManualClock
from tests.harness.bot_actions import command, war_room
from tests.harness.ci_bot import sender, start_ci_bot
from tests.harness.ci_payloads import CiSender, gitlab_pipeline, workflow_run
from tests.harness.git_repos import GitWorld
from tests.harness.running_bot import RunningBot
from tests.harness.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("isolated_git")]

BRANCH = "hotfix/PROD-2847-payment-null-pointer"
CREATE = '/hotfix create --issue=PROD-2847 --severity=critical --desc="payment null pointer"'


@pytest.fixture
def ci_bot(
    slack: SlackEmulator,
    world: GitWorld,
    tmp_path: Path,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[RunningBot]:
    running = start_ci_bot(
        slack=slack,
        tmp_path=tmp_path,
        clock=clock,
        monkeypatch=monkeypatch,
        payments={"git": world.settings().model_dump(mode="json")},
    )
    yield running
    running.stop()


@pytest.fixture
def ci(ci_bot: RunningBot) -> CiSender:
    return sender(ci_bot)


def ci_line(message: dict[str, Any]) -> str:
    (context,) = [b for b in message["blocks"] if b["type"] == "context"]
    return str(context["elements"][0]["text"])


def hotfix_message(bot: RunningBot, room: str, prefix: str) -> dict[str, Any]:
    (found,) = [m for m in bot.slack.messages(room) if m["text"].startswith(prefix)]
    return found


def test_the_hotfix_message_shows_the_branch_ci_live(
    ci_bot: RunningBot, ci: CiSender, world: GitWorld
) -> None:
    room = war_room(ci_bot)
    command(ci_bot, CREATE, channel_id=room)
    posted = hotfix_message(ci_bot, room, "Hotfix branch")
    assert ci_line(posted) == f"*CI* (branch {BRANCH}): :white_circle: no run yet"
    sha = world.remote_refs()[f"refs/heads/{BRANCH}"]

    running = workflow_run("in_progress", head_sha=sha, head_branch=BRANCH)
    assert ci.github("workflow_run", running).status == 202
    ci_bot.settle()
    (update,) = ci_bot.slack.calls_to("chat.update")
    assert (update.args["channel"], update.args["ts"]) == (room, posted["ts"])
    link = "<https://github.com/acme/payments/actions/runs/8812345678|CI>"
    assert ci_line(hotfix_message(ci_bot, room, "Hotfix branch")) == (
        f"*CI* (branch {BRANCH}): :large_yellow_circle: in progress"
        f" — :large_yellow_circle: {link} in progress"
    )

    passed = workflow_run(
        "completed",
        head_sha=sha,
        head_branch=BRANCH,
        conclusion="success",
        updated_at="2026-03-14T09:04:00Z",
    )
    assert ci.github("workflow_run", passed).status == 202
    ci_bot.settle()
    now = hotfix_message(ci_bot, room, "Hotfix branch")
    assert ci_line(now) == (
        f"*CI* (branch {BRANCH}): :large_green_circle: success"
        f" — :large_green_circle: {link} success"
    )
    # The rest of the message is as it was posted.
    assert now["blocks"][0] == posted["blocks"][0]
    # A redelivery changes nothing and edits nothing.
    ci.github("workflow_run", passed)
    ci_bot.settle()
    assert len(ci_bot.slack.calls_to("chat.update")) == 2


def test_hostile_names_ping_nobody_and_stay_short(
    ci_bot: RunningBot, ci: CiSender, world: GitWorld
) -> None:
    room = war_room(ci_bot)
    command(ci_bot, CREATE, channel_id=room)
    sha = world.remote_refs()[f"refs/heads/{BRANCH}"]
    hostile = "<!channel> <@U0BOB> \u202edeliaf\u202c\nsecond line " + "x" * 10_000
    run = workflow_run("completed", head_sha=sha, head_branch=BRANCH, conclusion="failure")
    run["workflow_run"]["name"] = hostile
    assert ci.github("workflow_run", run).status == 202
    # A 10 KB branch name is kept (clipped), matches no message, and breaks nothing.
    long_branch = workflow_run(
        "in_progress", run_id=99, head_sha=sha, head_branch="hotfix/" + "b" * 10_000
    )
    assert ci.github("workflow_run", long_branch).status == 202
    ci_bot.settle()
    line = ci_line(hotfix_message(ci_bot, room, "Hotfix branch"))
    assert "<!channel>" not in line and "<@U0BOB>" not in line
    assert "&lt;!channel&gt; &lt;@U0BOB&gt; deliaf second line" in line
    assert "\u202e" not in line and "\n" not in line
    assert len(line) < 500 and ":red_circle: failure" in line
    assert len(ci_bot.slack.calls_to("chat.update")) == 1
    kept = ci_bot.deps.store.query(
        "SELECT head_branch FROM ci_runs WHERE run_id = ?", ("workflow_run:99",)
    )
    assert len(kept[0]["head_branch"]) == 255


def test_the_finished_message_shows_the_release_tags_ci(
    ci_bot: RunningBot, ci: CiSender, world: GitWorld
) -> None:
    room = war_room(ci_bot)
    command(ci_bot, CREATE, channel_id=room)
    world.fix_on_hotfix(BRANCH)
    command(ci_bot, "/hotfix finish --issue=PROD-2847", channel_id=room)
    finished = hotfix_message(ci_bot, room, "Hotfix PROD-2847 finished")
    assert ci_line(finished) == "*CI* (tag v2.1.1): :white_circle: no run yet"
    tagged = world.rev(world.origin, "v2.1.1^{commit}")
    # GitHub names a tag push's run after the tag; GitLab flags the pipeline as a tag.
    ci.github(
        "workflow_run",
        workflow_run("completed", head_sha=tagged, head_branch="v2.1.1", conclusion="failure"),
    )
    ci.gitlab(gitlab_pipeline(ref="v2.1.1", tag=True, sha=tagged, status="running"))
    ci_bot.settle()
    line = ci_line(hotfix_message(ci_bot, room, "Hotfix PROD-2847 finished"))
    assert line.startswith("*CI* (tag v2.1.1): :red_circle: failure — ")
    assert "<https://github.com/acme/payments/actions/runs/8812345678|CI> failure" in line
    assert "<https://gitlab.example.com/acme/payments/-/pipelines/31|pipeline> in progress" in line
    updates = ci_bot.slack.calls_to("chat.update")
    assert {(u.args["channel"], u.args["ts"]) for u in updates} == {(room, finished["ts"])}


def test_a_message_posted_while_slack_was_away_is_still_kept_up_to_date(
    ci_bot: RunningBot, ci: CiSender, world: GitWorld
) -> None:
    from bot.scheduler import ReminderScheduler
    from services import outbox

    room = war_room(ci_bot)
    ci_bot.slack.outage(503)  # the hotfix message is queued with a placeholder ts
    ci_bot.driver.slash(CREATE, channel_id=room)
    ci_bot.settle()
    (watch,) = ci_bot.deps.store.query("SELECT ts FROM ci_watches")
    assert outbox.is_pending(watch["ts"])
    sha = world.remote_refs()[f"refs/heads/{BRANCH}"]
    passed = workflow_run("completed", head_sha=sha, head_branch=BRANCH, conclusion="success")
    assert ci.github("workflow_run", passed).status == 202
    ci_bot.settle()

    ci_bot.slack.end_outage()
    ReminderScheduler(ci_bot.deps).run_tick()  # the outbox is delivered, in order
    assert outbox.depth(ci_bot.deps.store) == 0
    posted = hotfix_message(ci_bot, room, "Hotfix branch")
    (watch,) = ci_bot.deps.store.query("SELECT ts FROM ci_watches")
    assert watch["ts"] == posted["ts"]
    assert ":large_green_circle: success" in ci_line(posted)
