"""Rollbacks that say what they did, and an emergency path nothing blocks.

The command backend here runs `rollback.py {version} {environment}` (a script that
restores the version it is given), so the tests can see which version the bot asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from services.clock import ManualClock
from services.deploy import deployments
from services.deploy.model import State
from tests.harness.bot_actions import card_buttons, card_text, click, command, events, war_room
from tests.harness.cli import run_cli
from tests.harness.deploy_target import DeployTarget
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROD = "--target=production --service=payments"


def terminal_config(tmp_path: Path, staging: dict[str, object]) -> Path:
    """A config for the CLI and the console (no Slack): payments/staging only."""
    config = tmp_path / "hotfix.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "store": {"path": str(tmp_path / "terminal.db")},
                "access": {"deployers": ["U0ALICE"], "console_is_trusted": True},
                "services": {"payments": {"environments": {"staging": staging}}},
            }
        )
    )
    return config


def start(
    slack: SlackEmulator, target: DeployTarget, path: Path, clock: ManualClock, **production: object
) -> RunningBot:
    slack.add_user("U0CAROL", "carol")
    slack.add_user("U0DAVE", "dave")
    slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
    return start_bot(
        slack=slack,
        store_path=path,
        clock=clock,
        extra_settings={
            "services": {
                "payments": {
                    "environments": {"production": target.rollback_environment(**production)}
                }
            },
            "access": {"deployers": ["U0ALICE", "U0DAVE"]},
            "incidents": {"announcement_channel": "C0INCIDENTS"},
        },
    )


@pytest.fixture
def rbot(
    slack: SlackEmulator, target: DeployTarget, tmp_path: Path, clock: ManualClock
) -> Iterator[RunningBot]:
    running = start(slack, target, tmp_path / "bot.db", clock)
    yield running
    running.stop()


def deployed(bot: RunningBot, room: str, version: str) -> str:
    """Deploy `version` through the gate (two approvals); returns its id."""
    reply = command(bot, f"deploy {PROD} --version={version}", channel_id=room)
    deployment_id = reply["text"].split()[0]
    click(bot, "hotfix_deploy_approve", deployment_id, "U0BOB")
    click(bot, "hotfix_deploy_approve", deployment_id, "U0CAROL")
    assert deployments.get(bot.deps.store, deployment_id).state is State.SUCCEEDED
    return deployment_id


def thread_texts(bot: RunningBot, deployment_id: str) -> list[str]:
    deployment = deployments.get(bot.deps.store, deployment_id)
    assert deployment.channel_id and deployment.card_ts
    return [
        m["text"] + "\n" + "\n".join(b["text"]["text"] for b in m["blocks"] if "text" in b)
        for m in bot.slack.thread(deployment.channel_id, deployment.card_ts)
    ]


# ----------------------------------------------------------------- 1. rollbacks that rolled back


def test_rollback_previous_runs_the_script_with_the_version_before_the_current_one(
    rbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(rbot)
    deployed(rbot, room, "v2.1.1")
    deployed(rbot, room, "v2.1.2")
    assert target.live == "v2.1.2"
    reply = command(rbot, f"rollback {PROD} --version=previous --immediate", channel_id=room)
    assert reply["text"] == "DEP-3 needs no approval: started."
    assert target.calls()[-1] == ["rollback", "v2.1.1", "production"]
    assert target.live == "v2.1.1"
    rollback = deployments.get(rbot.deps.store, "DEP-3")
    assert rollback.state is State.ROLLED_BACK
    text = card_text(rbot, "DEP-3")
    assert "Rollback DEP-3: payments to v2.1.1 → production" in text
    assert "Rolled back to v2.1.1" in text
    assert "*Running now*\nv2.1.1" in text  # re-read from the target, not v2.1.2 of the request
    (row,) = events(rbot, "deploy_rolled_back")
    assert "rolled back to v2.1.1" in row.text and row.data["rolled_back_to"] == "v2.1.1"
    (requested,) = events(rbot, "rollback_requested")
    assert "payments v2.1.1 to production" in requested.text
    command(rbot, "postmortem", channel_id=room)
    (draft,) = rbot.slack.files(room)
    postmortem = (rbot.slack.file_content(draft["id"]) or b"").decode()
    assert "DEP-3: rolled back to v2.1.1" in postmortem
    section = postmortem.split("## Deployments during the incident")[1].split("## ")[0]
    assert "{'" not in section  # a summary line per deployment, not raw event data
    lines = [line for line in section.splitlines() if line.startswith("- ")]
    assert len(lines) == 3
    assert lines[2] == (
        "- DEP-3: rollback of payments in production to v2.1.1,"
        " requested by @alice at 09:26 UTC, rolled back to v2.1.1 at 09:26 UTC."
    )


def test_previous_skips_undone_deployments_toggles_like_rollout_undo_and_never_guesses(
    rbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(rbot)
    deployed(rbot, room, "v2.1.1")  # DEP-1: v2.1.0 -> v2.1.1
    target.bad_versions.add("v2.1.2")
    command(rbot, f"deploy {PROD} --version=v2.1.2", channel_id=room)
    click(rbot, "hotfix_deploy_approve", "DEP-2", "U0BOB")
    click(rbot, "hotfix_deploy_approve", "DEP-2", "U0CAROL")
    assert deployments.get(rbot.deps.store, "DEP-2").state is State.ROLLED_BACK
    assert target.live == "v2.1.1"  # DEP-2 undone: v2.1.1 runs, as before it
    command(rbot, f"rollback {PROD} --immediate", channel_id=room)  # DEP-3
    assert target.calls()[-1] == ["rollback", "v2.1.0", "production"]  # not v2.1.2
    command(rbot, f"rollback {PROD} --immediate", channel_id=room)  # DEP-4: undo the undo
    assert target.calls()[-1] == ["rollback", "v2.1.1", "production"]
    assert target.live == "v2.1.1"
    (target.root / "live").write_text("v2.1.9")  # someone deployed by hand
    refused = command(rbot, f"rollback {PROD} --immediate", channel_id=room)
    assert refused["text"].startswith(
        "Cannot tell which version ran on payments/production before v2.1.9"
    )
    assert len(target.calls()) == 5


def test_a_rollback_that_changed_nothing_is_not_called_rolled_back(
    rbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(rbot)
    deployed(rbot, room, "v2.1.1")
    (target.root / "noop-rollback").touch()  # the script exits 0 and restores nothing
    command(rbot, f"rollback {PROD} --immediate", channel_id=room)
    assert target.calls()[-1] == ["rollback", "v2.1.0", "production"]
    assert target.live == "v2.1.1"
    rollback = deployments.get(rbot.deps.store, "DEP-2")
    assert rollback.state is State.FAILED
    text = card_text(rbot, "DEP-2")
    assert "Rolled back" not in text
    assert "*Running now*\nv2.1.1" in text
    (escalation,) = [t for t in thread_texts(rbot, "DEP-2") if "did not restore" in t]
    assert "runs v2.1.1, not v2.1.0" in escalation
    assert events(rbot, "deploy_rolled_back") == []


def test_rollback_to_the_running_version_is_skipped_and_pages_nobody(
    rbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(rbot)
    deployed(rbot, room, "v2.1.1")
    command(rbot, f"rollback {PROD} --version=v2.1.1 --immediate", channel_id=room)
    assert target.calls() == [["deploy", "v2.1.1"]]  # the rollback script never ran
    rollback = deployments.get(rbot.deps.store, "DEP-2")
    assert rollback.state is State.ROLLBACK_SKIPPED
    text = card_text(rbot, "DEP-2")
    assert "Rollback skipped" in text and "Rolled back" not in text
    (row,) = events(rbot, "deploy_rollback_skipped")
    assert "skipped rollback: payments/production already runs v2.1.1" in row.text
    assert not [t for t in thread_texts(rbot, "DEP-2") if "<@" in t or "failed" in t]


def test_previous_with_no_recorded_history_is_refused_before_anything_runs(
    rbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(rbot)
    reply = command(rbot, f"rollback {PROD} --immediate", channel_id=room)
    assert reply["text"].startswith(
        "Cannot tell which version ran on payments/production before v2.1.0"
    )
    assert "--version=" in str(reply)
    assert target.calls() == []
    assert rbot.deps.store.query("SELECT id FROM deployments") == []


def test_the_cli_rollback_tells_its_requester_the_outcome_and_why_it_failed(
    target: DeployTarget, tmp_path: Path
) -> None:
    """`hotfix-bot rollback …` in a terminal has no channel: the outcome comes to it anyway."""
    config = terminal_config(tmp_path, target.rollback_environment(approvals=0))
    rollback = ("--config", str(config), "rollback", "--target=staging", "--service=payments")
    (target.root / "fail-rollback").touch()
    failed = run_cli(*rollback, "--version=v2.0.9", cwd=tmp_path)
    assert "DEP-1 needs no approval: started." in failed.stdout, failed.stdout + failed.stderr
    assert "rollback.sh: no release found for v2.0.9 staging" in failed.stdout, failed.stdout
    assert "Failed" in failed.stdout
    (target.root / "fail-rollback").unlink()
    done = run_cli(*rollback, "--version=v2.0.9", cwd=tmp_path)
    assert "Rolled back to v2.0.9" in done.stdout, done.stdout + done.stderr
    assert target.live == "v2.0.9"


# ----------------------------------------------------------------- 2. the emergency path


def test_an_immediate_rollback_supersedes_a_pending_request(
    rbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(rbot)
    deployed(rbot, room, "v2.1.1")
    command(rbot, f"deploy {PROD} --version=v2.1.2", channel_id=room, user_id="U0DAVE")
    reply = command(rbot, f"rollback {PROD} --immediate", channel_id=room)
    assert reply["text"] == "DEP-3 needs no approval: started."
    assert target.live == "v2.1.0"
    pending = deployments.get(rbot.deps.store, "DEP-2")
    assert pending.state is State.CANCELLED
    text = card_text(rbot, "DEP-2")
    assert "Superseded by rollback DEP-3" in text
    assert card_buttons(rbot, "DEP-2") == []  # nobody can approve it any more
    (row,) = events(rbot, "deploy_cancelled")
    assert row.data["deployment_id"] == "DEP-2" and "superseded by rollback DEP-3" in row.text


def test_the_rollback_button_supersedes_a_pending_request(
    rbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(rbot)
    deployed(rbot, room, "v2.1.1")
    command(rbot, f"deploy {PROD} --version=v2.1.2", channel_id=room, user_id="U0DAVE")
    click(rbot, "hotfix_deploy_rollback", "DEP-1", "U0ALICE")
    assert deployments.get(rbot.deps.store, "DEP-1").state is State.ROLLED_BACK
    assert deployments.get(rbot.deps.store, "DEP-2").state is State.CANCELLED
    assert "Superseded by rollback of DEP-1" in card_text(rbot, "DEP-2")
    assert target.live == "v2.1.0"


def test_the_requester_withdraws_a_pending_request_and_refusals_fit_the_action(
    rbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(rbot)
    command(rbot, f"deploy {PROD} --version=v2.1.1", channel_id=room)
    rejected = command(rbot, "reject DEP-1", channel_id=room)
    assert "two-person" not in rejected["text"]
    assert rejected["text"] == (
        "You requested DEP-1: withdraw it with `/hotfix cancel DEP-1` (rejecting is for approvers)."
    )
    refused = command(rbot, "cancel DEP-1", channel_id=room, user_id="U0BOB")
    assert refused["text"] == "Only U0ALICE, who requested DEP-1, can withdraw it."
    assert deployments.get(rbot.deps.store, "DEP-1").state is State.REQUESTED
    withdrawn = command(rbot, "cancel DEP-1", channel_id=room)
    assert withdrawn["text"] == "Cancelled DEP-1."
    assert deployments.get(rbot.deps.store, "DEP-1").state is State.CANCELLED
    assert "Withdrawn by <@U0ALICE>" in card_text(rbot, "DEP-1")
    (row,) = events(rbot, "deploy_cancelled")
    assert row.actor == "U0ALICE"
    again = command(rbot, "cancel DEP-1", channel_id=room)
    assert again["text"] == "DEP-1 is already cancelled."
    late = command(rbot, "approve DEP-1", channel_id=room, user_id="U0BOB")
    assert late["text"] == "DEP-1 is cancelled; there is nothing to decide."
    assert target.calls() == []


def test_the_cancel_button_is_shown_to_the_requester_and_works(
    rbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(rbot)
    reply = command(rbot, f"deploy {PROD} --version=v2.1.1", channel_id=room)
    (cancel,) = [
        e
        for b in reply["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "hotfix_deploy_cancel"
    ]
    assert cancel["value"] == "DEP-1"
    assert "hotfix_deploy_cancel" not in card_buttons(rbot, "DEP-1")  # not on the shared card
    answer = click(rbot, "hotfix_deploy_cancel", "DEP-1", "U0ALICE")
    assert answer["text"] == "Cancelled DEP-1."
    assert deployments.get(rbot.deps.store, "DEP-1").state is State.CANCELLED
    # The target is free again.
    again = command(rbot, f"deploy {PROD} --version=v2.1.2", channel_id=room)
    assert again["text"] == "DEP-2 requested: waiting for 2 approval(s)."


def test_a_cancel_of_a_running_deployment_says_how_to_stop_it(
    rbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(rbot)
    deployed(rbot, room, "v2.1.1")
    answer = command(rbot, "cancel DEP-1", channel_id=room)
    assert answer["text"] == "DEP-1 has succeeded: only a pending request can be withdrawn."
    hostile = command(rbot, "cancel '<!channel> DEP-1\u202e" + "x" * 10_000 + "'", channel_id=room)
    assert "<!channel>" not in hostile["text"] and len(hostile["text"]) < 400


def test_rollback_approval_setting_sends_a_rollback_click_through_the_gate(
    slack: SlackEmulator, target: DeployTarget, tmp_path: Path, clock: ManualClock
) -> None:
    bot = start(slack, target, tmp_path / "gate.db", clock, rollback_approval="approvals")
    try:
        deployed(bot, "C0GENERAL", "v2.1.1")  # no incident: the gate applies
        answer = click(bot, "hotfix_deploy_rollback", "DEP-1", "U0ALICE")
        assert answer["text"] == (
            "Rolling back DEP-1 needs approval in production: DEP-2 requested (2 approval(s))."
        )
        assert deployments.get(bot.deps.store, "DEP-1").state is State.SUCCEEDED
        rollback = deployments.get(bot.deps.store, "DEP-2")
        assert rollback.state is State.REQUESTED and rollback.version == "v2.1.0"
        assert target.live == "v2.1.1"
        click(bot, "hotfix_deploy_approve", "DEP-2", "U0BOB")
        click(bot, "hotfix_deploy_approve", "DEP-2", "U0CAROL")
        assert deployments.get(bot.deps.store, "DEP-2").state is State.ROLLED_BACK
        assert target.live == "v2.1.0"
        # In a SEV1 war room the emergency path stays open: the click rolls back at once.
        room = war_room(bot)
        deployed(bot, room, "v2.1.2")
        click(bot, "hotfix_deploy_rollback", "DEP-3", "U0ALICE")
        assert deployments.get(bot.deps.store, "DEP-3").state is State.ROLLED_BACK
        assert target.live == "v2.1.0"
    finally:
        bot.stop()


def test_the_console_shows_the_cancel_button_and_understands_cancel(
    target: DeployTarget, tmp_path: Path
) -> None:
    config = terminal_config(tmp_path, target.rollback_environment())
    deploy = "deploy --target=staging --service=payments --version=v2.1.1"
    session = run_cli(
        "--config",
        str(config),
        "console",
        "--user",
        "alice",
        cwd=tmp_path,
        stdin=f"{deploy}\n3\n{deploy}\ncancel DEP-2\n",
    )
    out = session.stdout
    # Numbers run on across messages: the card's Approve / Reject are 1 and 2.
    assert "[1] Approve  [2] Reject" in out and "[3] Cancel request" in out, out + session.stderr
    assert "Cancelled DEP-1." in out and "Cancelled DEP-2." in out, out
    assert "Withdrawn by console:alice" in out, out
    assert target.calls() == []
