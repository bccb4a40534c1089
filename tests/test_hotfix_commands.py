"""/hotfix create, finish and status from Slack, against real git repositories."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services import timeline
from services.clock import ManualClock
from tests.harness.bot_actions import command, war_room
from tests.harness.git_repos import APP_PY, GitWorld, git
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator

BRANCH = "hotfix/PROD-2847-payment-null-pointer"


pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("isolated_git")]


@pytest.fixture
def git_bot(
    slack: SlackEmulator, world: GitWorld, tmp_path: Path, clock: ManualClock
) -> Iterator[RunningBot]:
    slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
    settings = {
        "services": {"payments": {"git": world.settings().model_dump(mode="json")}},
        "access": {"deployers": ["U0ALICE"]},
        "incidents": {"announcement_channel": "C0INCIDENTS"},
    }
    running = start_bot(
        slack=slack, store_path=tmp_path / "bot.db", clock=clock, extra_settings=settings
    )
    yield running
    running.stop()


def test_create_in_a_war_room_cuts_the_branch_and_reports_it(
    git_bot: RunningBot, world: GitWorld
) -> None:
    room = war_room(git_bot)
    reply = command(
        git_bot,
        '/hotfix create --issue=PROD-2847 --severity=critical --desc="payment null pointer"',
        channel_id=room,
    )
    assert (
        reply["text"]
        == "Hotfix branch hotfix/PROD-2847-payment-null-pointer created; next version v2.1.1"
    )
    remote = world.remote_refs()
    assert remote[f"refs/heads/{BRANCH}"] == world.rev(world.origin, "v2.1.0^{commit}")
    posted = git_bot.slack.messages(room)[-1]
    text = posted["blocks"][0]["text"]["text"]
    assert "Baseline: `v2.1.0`" in text and "`v2.1.0` → `v2.1.1`" in text
    assert "<https://tracker.example.com/browse/PROD-2847|PROD-2847>" in text
    event = [
        e
        for e in timeline.events(git_bot.deps.store, incident_id="INC-1")
        if e.kind == "hotfix_created"
    ][-1]
    assert event.data["branch"] == BRANCH and event.data["next_tag"] == "v2.1.1"
    assert event.data["service"] == "payments"


def test_only_deployers_may_create_and_refusals_are_audited(
    git_bot: RunningBot, world: GitWorld
) -> None:
    before = world.remote_refs()
    reply = command(git_bot, "/hotfix create --issue=PROD-2847", user_id="U0BOB")
    assert reply["text"] == "Only deployers may create hotfix branches."
    assert world.remote_refs() == before
    audit = git_bot.audit()[-1]
    assert (audit["actor"], audit["action"], audit["outcome"]) == (
        "U0BOB",
        "command:create",
        "refused",
    )


def test_create_outside_an_incident_offers_to_declare_one(git_bot: RunningBot) -> None:
    reply = command(
        git_bot, "/hotfix create --issue=PROD-2847 --severity=critical", channel_id="C0GENERAL"
    )
    assert reply["text"].startswith("Hotfix branch hotfix/PROD-2847 created")
    posted = git_bot.slack.messages("C0GENERAL")[-1]
    button = posted["blocks"][-1]["elements"][0]
    assert (button["action_id"], button["value"]) == ("hotfix_declare", "PROD-2847: hotfix")


def test_finish_merges_tags_and_reports_in_the_war_room(
    git_bot: RunningBot, world: GitWorld
) -> None:
    room = war_room(git_bot)
    command(
        git_bot, '/hotfix create --issue=PROD-2847 --desc="payment null pointer"', channel_id=room
    )
    world.fix_on_hotfix(BRANCH)
    reply = command(git_bot, "/hotfix finish --issue=PROD-2847", channel_id=room)
    assert reply["text"] == "Hotfix PROD-2847 finished: v2.1.1"
    remote = world.remote_refs()
    assert f"refs/heads/{BRANCH}" not in remote
    assert "refs/tags/v2.1.1" in remote
    tag_message = git(world.origin, "tag", "-l", "--format=%(contents)", "v2.1.1")
    assert "Resolves: PROD-2847" in tag_message and "Incident: INC-1" in tag_message
    assert "Severity: SEV1" in tag_message
    kinds = [e.kind for e in timeline.events(git_bot.deps.store, incident_id="INC-1")]
    assert "hotfix_finished" in kinds
    assert (
        "finished* for *payments*: tagged `v2.1.1`"
        in git_bot.slack.messages(room)[-1]["blocks"][0]["text"]["text"]
    )


def test_a_conflict_leaves_the_remote_untouched_and_says_what_to_do(
    git_bot: RunningBot, world: GitWorld
) -> None:
    room = war_room(git_bot)
    command(
        git_bot, '/hotfix create --issue=PROD-2847 --desc="payment null pointer"', channel_id=room
    )
    world.commit(
        "production",
        {"app.py": APP_PY.replace('"Hello, " + name', '"Hi, " + name')},
        "Direct change",
    )
    world.fix_on_hotfix(BRANCH)
    before = world.remote_refs()
    reply = command(git_bot, "/hotfix finish", channel_id=room)
    text = reply["blocks"][0]["text"]["text"]
    assert "app.py" in text and "production" in text and "nothing was pushed" in text
    assert world.remote_refs() == before
    world.assert_bot_clean()
    failed = [
        e
        for e in timeline.events(git_bot.deps.store, incident_id="INC-1")
        if e.kind == "hotfix_finish_failed"
    ]
    assert failed and failed[0].data["error"] == "MergeConflictError"
    assert git_bot.audit()[-1]["outcome"] == "failed"


def test_status_lists_open_hotfix_branches(git_bot: RunningBot, world: GitWorld) -> None:
    command(git_bot, '/hotfix create --issue=PROD-2847 --desc="payment null pointer"')
    world.fix_on_hotfix(BRANCH)
    reply = command(git_bot, "/hotfix status")
    text = reply["blocks"][1]["text"]["text"]
    assert f"`{BRANCH}`: 1 ahead / 0 behind production" in text and "open" in text


def test_an_unknown_service_is_named(git_bot: RunningBot) -> None:
    reply = command(git_bot, "/hotfix create --issue=PROD-1 --service=billing")
    assert reply["text"] == "There is no service 'billing' with a repository."


def test_trunk_hotfix_from_the_console(trunk: GitWorld, tmp_path: Path) -> None:
    from tests.harness.cli import run_cli

    config = tmp_path / "hotfix.yml"
    config.write_text(
        f"store:\n  path: {tmp_path / 'console.db'}\n"
        f"services:\n  payments:\n    git:\n      repository: {trunk.bot}\n      branch_model: trunk\n"
    )
    created = run_cli(
        "--config",
        str(config),
        "console",
        "--user",
        "alice",
        cwd=tmp_path,
        stdin="create --issue=PROD-2847\n",
    )
    assert "Hotfix branch hotfix/PROD-2847" in created.stdout, created.stdout + created.stderr
    trunk.fix_on_hotfix("hotfix/PROD-2847")
    finished = run_cli("--config", str(config), "finish", "--issue=PROD-2847", cwd=tmp_path)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "Hotfix PROD-2847 finished for payments: tagged v2.1.1" in finished.stdout
    assert "(fast-forward)" in finished.stdout and "1 commit(s) cherry-picked" in finished.stdout
    remote = trunk.remote_refs()
    assert remote["refs/heads/production"] == trunk.rev(trunk.origin, "v2.1.1^{commit}")
    assert "(cherry picked from commit" in trunk.message(trunk.origin, "main")


def test_finishing_again_from_the_cli_says_already_finished_and_exits_0(
    world: GitWorld, tmp_path: Path
) -> None:
    from tests.harness.cli import run_cli

    config = tmp_path / "hotfix.yml"
    config.write_text(
        f"store:\n  path: {tmp_path / 'cli.db'}\n"
        f"services:\n  payments:\n    git:\n      repository: {world.bot}\n"
    )
    created = run_cli("--config", str(config), "create", "--issue=PROD-2847", cwd=tmp_path)
    assert created.returncode == 0, created.stdout + created.stderr
    world.fix_on_hotfix("hotfix/PROD-2847")
    first = run_cli("--config", str(config), "finish", "--issue=PROD-2847", cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    remote = world.remote_refs()

    # A replay (the person runs it again, or a retry after a lost reply) is an answer, not a failure.
    again = run_cli("--config", str(config), "finish", "--issue=PROD-2847", cwd=tmp_path)

    assert again.returncode == 0, again.stdout + again.stderr
    assert "❌" not in again.stdout and ":x:" not in again.stdout
    assert (
        "PROD-2847 is already finished" in again.stdout
        and "v2.1.1 is on production" in again.stdout
    )
    assert world.remote_refs() == remote  # nothing pushed the second time
