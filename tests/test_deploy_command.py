"""Deployments through the approval gate with the command backend: real scripts, real health checks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from services import timeline
from services.clock import ManualClock
from services.deploy import deployments
from services.deploy.approvals import expire_due
from services.deploy.model import State
from tests.harness.bot_actions import card_buttons, card_text, click, command, kinds, war_room
from tests.harness.deploy_target import DeployTarget
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def bot_settings(target: DeployTarget, **production: object) -> dict[str, object]:
    return {
        "services": {
            "payments": {
                "environments": {
                    "production": target.environment(**production),
                    "staging": target.environment(approvals=1),
                }
            }
        },
        "access": {"deployers": ["U0ALICE"]},
        "incidents": {"announcement_channel": "C0INCIDENTS"},
    }


@pytest.fixture
def dbot(
    slack: SlackEmulator, target: DeployTarget, tmp_path: Path, clock: ManualClock
) -> Iterator[RunningBot]:
    slack.add_user("U0CAROL", "carol")
    slack.add_user("U0DAVE", "dave")
    slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
    running = start_bot(
        slack=slack,
        store_path=tmp_path / "bot.db",
        clock=clock,
        extra_settings=bot_settings(target),
    )
    yield running
    running.stop()


DEPLOY = "deploy --target=production --service=payments --version=v2.1.1"


def test_request_posts_a_card_with_the_diff_and_approval_buttons(
    dbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(dbot)
    reply = command(dbot, DEPLOY, channel_id=room)
    assert reply["text"] == "DEP-1 requested: waiting for 2 approval(s)."
    text = card_text(dbot, "DEP-1")
    assert "DEP-1: payments v2.1.1 → production" in text
    assert "*Running now*\nv2.1.0" in text
    assert "0 of 2 approval(s)" in text
    assert card_buttons(dbot, "DEP-1") == ["hotfix_deploy_approve", "hotfix_deploy_reject"]
    assert "deploy_requested" in kinds(dbot)
    assert target.calls() == []


def test_two_person_rule_and_approver_list_are_checked_on_every_click(
    dbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(dbot)
    command(dbot, DEPLOY, channel_id=room)
    own = click(dbot, "hotfix_deploy_approve", "DEP-1", "U0ALICE")
    assert "someone else must approve it (two-person rule)" in own["text"]
    stranger = click(dbot, "hotfix_deploy_approve", "DEP-1", "U0DAVE")
    assert stranger["text"] == "Only approvers for production may decide on DEP-1."
    assert deployments.decisions(dbot.deps.store, "DEP-1") == []
    refused = [a for a in dbot.audit() if a["outcome"] == "refused"]
    assert [(a["actor"], a["action"]) for a in refused] == [
        ("U0ALICE", "click:hotfix_deploy_approve"),
        ("U0DAVE", "click:hotfix_deploy_approve"),
    ]


def test_two_approvals_deploy_verify_and_succeed(dbot: RunningBot, target: DeployTarget) -> None:
    room = war_room(dbot)
    command(dbot, DEPLOY, channel_id=room)
    first = click(dbot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    assert first["text"] == "Approved DEP-1."
    assert "1 of 2 approval(s): <@U0BOB>" in card_text(dbot, "DEP-1")
    again = click(dbot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    assert again["text"] == "Your approval was already recorded."
    assert target.calls() == []
    click(dbot, "hotfix_deploy_approve", "DEP-1", "U0CAROL")
    deployment = deployments.get(dbot.deps.store, "DEP-1")
    assert deployment.state is State.SUCCEEDED
    assert target.calls() == [["deploy", "v2.1.1"]]
    assert target.live == "v2.1.1"
    text = card_text(dbot, "DEP-1")
    assert ":white_check_mark: Succeeded" in text
    assert (
        ":white_check_mark: validate" in text
        and ":white_check_mark: deploy" in text
        and ":white_check_mark: verify" in text
    )
    assert card_buttons(dbot, "DEP-1") == ["hotfix_deploy_rollback"]
    states = [
        e.data["state"]["new"]
        for e in timeline.events(dbot.deps.store, incident_id="INC-1")
        if e.kind.startswith("deploy_") and "state" in e.data
    ]
    assert states == ["approved", "validating", "deploying", "verifying", "succeeded"]
    assert deployments.lock_holder(dbot.deps.store, "payments/production") is None


def test_failed_verification_rolls_back_automatically_and_says_why(
    dbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(dbot)
    target.bad_versions.add("v2.1.1")
    command(dbot, DEPLOY, channel_id=room)
    click(dbot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    click(dbot, "hotfix_deploy_approve", "DEP-1", "U0CAROL")
    deployment = deployments.get(dbot.deps.store, "DEP-1")
    assert deployment.state is State.ROLLED_BACK
    assert target.calls() == [["deploy", "v2.1.1"], ["rollback"]]
    assert target.live == "v2.1.0"
    told = [
        m
        for m in dbot.slack.thread(room, deployment.card_ts or "")
        if "failed" in m.get("text", "")
    ]
    assert told and "HTTP 503, expected 200" in told[0]["text"]
    assert "Rolling back automatically" in told[0]["blocks"][0]["text"]["text"]
    assert "deploy_rolled_back" in kinds(dbot)


def test_rejection_stops_the_request(dbot: RunningBot, target: DeployTarget) -> None:
    room = war_room(dbot)
    command(dbot, DEPLOY, channel_id=room)
    click(dbot, "hotfix_deploy_reject", "DEP-1", "U0BOB")
    assert deployments.get(dbot.deps.store, "DEP-1").state is State.REJECTED
    late = click(dbot, "hotfix_deploy_approve", "DEP-1", "U0CAROL")
    assert late["text"] == "DEP-1 is rejected; there is nothing to decide."
    assert target.calls() == []


def test_unapproved_requests_expire(
    dbot: RunningBot, target: DeployTarget, clock: ManualClock
) -> None:
    room = war_room(dbot)
    command(dbot, DEPLOY, channel_id=room)
    clock.advance(timedelta(minutes=29))
    assert expire_due(dbot.deps.store, clock=clock, chat=dbot.deps.chat) == []
    clock.advance(timedelta(minutes=2))
    assert expire_due(dbot.deps.store, clock=clock, chat=dbot.deps.chat) == ["DEP-1"]
    assert ":hourglass: Expired" in card_text(dbot, "DEP-1")
    assert card_buttons(dbot, "DEP-1") == []


def test_two_approvers_clicking_at_the_same_instant_deploy_once(
    dbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(dbot)
    command(dbot, DEPLOY, channel_id=room)
    click(dbot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    card_ts = deployments.get(dbot.deps.store, "DEP-1").card_ts
    barrier = threading.Barrier(4)
    results = []

    def press(user: str) -> None:
        barrier.wait()
        results.append(
            dbot.driver.block_action(
                "hotfix_deploy_approve",
                value="DEP-1",
                user_id=user,
                channel_id=room,
                message_ts=card_ts,
            )
        )

    threads = [
        threading.Thread(target=press, args=(u,))
        for u in ("U0CAROL", "U0CAROL", "U0BOB", "U0CAROL")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    dbot.settle()
    assert all(r.status == 200 for r in results)
    assert target.calls() == [["deploy", "v2.1.1"]]
    assert [d["approver"] for d in deployments.decisions(dbot.deps.store, "DEP-1")] == [
        "U0BOB",
        "U0CAROL",
    ]
    assert kinds(dbot).count("deploy_approved") == 1


def test_a_second_deployment_to_a_busy_target_is_refused_with_the_holder(
    dbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(dbot)
    command(dbot, DEPLOY, channel_id=room)
    second = "deploy --target=production --service=payments --version=v2.1.2"
    waiting = command(dbot, second, channel_id=room)
    assert (
        waiting["text"]
        == "payments/production is busy: DEP-1 (held by U0ALICE) is waiting for approval."
    )
    (target.root / "hold").touch()  # the deploy script waits: DEP-1 stays in flight
    click(dbot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    result = dbot.driver.block_action(
        "hotfix_deploy_approve",
        value="DEP-1",
        user_id="U0CAROL",
        channel_id=room,
        message_ts=deployments.get(dbot.deps.store, "DEP-1").card_ts,
    )
    dbot.slack.wait_for_response(result.response_id)
    # Each step updates the card, so the emulator wakes this wait when DEP-1 is deploying.
    assert dbot.slack.wait_for(
        lambda: deployments.get(dbot.deps.store, "DEP-1").state is State.DEPLOYING, timeout=10
    )
    running = dbot.driver.slash(second, channel_id=room)
    (reply,) = dbot.slack.wait_for_response(running.response_id)
    assert reply["text"] == "payments/production is busy: DEP-1 (held by U0ALICE) is deploying."
    (target.root / "hold").unlink()
    dbot.settle()
    assert deployments.get(dbot.deps.store, "DEP-1").state is State.SUCCEEDED
    assert target.calls() == [["deploy", "v2.1.1"]]


def test_immediate_rollback_during_a_sev1_skips_approval(
    dbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(dbot)
    (target.root / "history").write_text("v2.0.9\n")
    reply = command(
        dbot, "rollback --target=production --service=payments --immediate", channel_id=room
    )
    assert reply["text"] == "DEP-1 needs no approval: started."
    assert deployments.get(dbot.deps.store, "DEP-1").state is State.ROLLED_BACK
    assert target.calls() == [["rollback"]]
    assert target.live == "v2.0.9"


def test_immediate_rollback_outside_a_severe_incident_is_refused(
    dbot: RunningBot, target: DeployTarget
) -> None:
    reply = command(dbot, "rollback --target=production --service=payments --immediate")
    assert reply["text"].startswith(
        "--immediate is allowed here only during an open incident of severity SEV0, SEV1."
    )
    assert dbot.deps.store.query("SELECT * FROM deployments") == []
    assert dbot.audit()[-1]["outcome"] == "refused"


def test_break_glass_during_sev0_needs_one_approval_and_says_so(
    slack: SlackEmulator, target: DeployTarget, tmp_path: Path, clock: ManualClock
) -> None:
    slack.add_user("U0CAROL", "carol")
    slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
    settings = bot_settings(target, break_glass={"severities": ["sev0"], "approvals": 1})
    bot = start_bot(
        slack=slack, store_path=tmp_path / "glass.db", clock=clock, extra_settings=settings
    )
    try:
        room = war_room(bot, 'incident create --severity=sev0 --title="Payments failing"')
        command(bot, DEPLOY, channel_id=room)
        text = card_text(bot, "DEP-1")
        assert "*BREAK-GLASS*" in text and "0 of 1 approval(s)" in text
        assert any("BREAK-GLASS" in a["detail"] for a in bot.audit())
        click(bot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
        assert deployments.get(bot.deps.store, "DEP-1").state is State.SUCCEEDED
    finally:
        bot.stop()


def test_bad_input_is_answered_and_records_nothing(dbot: RunningBot) -> None:
    for text, answer in (
        (
            "deploy --target=production --service=billing --version=v1",
            "There is no deployable service 'billing'.",
        ),
        ("deploy --target=qa --service=payments --version=v1", "payments has no environment 'qa'."),
        (
            "deploy --target=production --service=payments --version='v1; rm -rf /'",
            "'v1; rm -rf /' is not a valid version.",
        ),
    ):
        assert command(dbot, text)["text"] == answer
    refused = command(dbot, DEPLOY, user_id="U0DAVE")
    assert refused["text"] == "Only configured requesters may deploy to production."
    assert dbot.deps.store.query("SELECT * FROM deployments") == []


def test_a_bot_killed_mid_deployment_reports_it_interrupted_and_resumes_without_redeploying(
    slack: SlackEmulator, target: DeployTarget, tmp_path: Path
) -> None:
    import yaml

    from services.store import Store
    from tests.harness.bot_process import BotProcess
    from tests.harness.waiting import wait_until

    slack.add_user("U0CAROL", "carol")
    slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
    config = tmp_path / "hotfix.yml"
    settings = {
        "store": {"path": str(tmp_path / "bot.db")},
        **bot_settings(target, verify_seconds=0),
    }
    config.write_text(yaml.safe_dump(settings))
    log = tmp_path / "bot.log"

    first = BotProcess(config=config, slack=slack, clock_file=None, log=log)
    try:
        created = first.driver.slash(DEPLOY)
        slack.wait_for_response(created.response_id, timeout=20)
        (target.root / "hold").touch()
        for approver in ("U0BOB", "U0CAROL"):
            result = first.driver.block_action(
                "hotfix_deploy_approve", value="DEP-1", user_id=approver
            )
            slack.wait_for_response(result.response_id, timeout=20)
        assert wait_until(lambda: (target.root / "holding").exists(), timeout=20)
    finally:
        first.kill()  # SIGKILL while the deploy script is still running
    (target.root / "hold").unlink()  # the script finishes on its own: v2.1.1 is live
    assert wait_until(lambda: target.live == "v2.1.1", timeout=20)

    second = BotProcess(config=config, slack=slack, clock_file=None, log=log)
    try:
        store = Store(tmp_path / "bot.db")
        deployment = deployments.get(store, "DEP-1")
        assert deployment.state is State.INTERRUPTED
        assert deployment.detail["interrupted_in"] == "deploying"
        assert deployment.detail["running_now"]["version"] == "v2.1.1"
        card = slack.message(deployment.channel_id or "", deployment.card_ts or "")
        assert card is not None
        actions = [
            e["action_id"] for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]
        ]
        assert actions == ["hotfix_deploy_resume", "hotfix_deploy_rollback"]
        resumed = second.driver.block_action(
            "hotfix_deploy_resume", value="DEP-1", user_id="U0ALICE"
        )
        slack.wait_for_response(resumed.response_id, timeout=20)
        assert slack.wait_for(
            lambda: deployments.get(store, "DEP-1").state is State.SUCCEEDED, timeout=20
        )
        store.close()
    finally:
        second.stop()
    assert target.calls() == [["deploy", "v2.1.1"]]  # reconciled: not deployed a second time


def test_stakeholders_hear_the_outcome_in_the_announcement_thread(
    dbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(dbot)
    command(dbot, DEPLOY + " --notify-stakeholders", channel_id=room)
    click(dbot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    click(dbot, "hotfix_deploy_approve", "DEP-1", "U0CAROL")
    announcement = dbot.slack.messages("C0INCIDENTS")[0]
    outcome = dbot.slack.thread("C0INCIDENTS", announcement["ts"])[-1]
    assert outcome["text"] == "DEP-1: payments v2.1.1 → production: Succeeded"


def test_a_rollback_that_leaves_the_service_unhealthy_calls_people_in(
    dbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(dbot)
    target.bad_versions.update({"v2.1.1", "v2.1.0"})
    command(dbot, DEPLOY, channel_id=room)
    click(dbot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    click(dbot, "hotfix_deploy_approve", "DEP-1", "U0CAROL")
    deployment = deployments.get(dbot.deps.store, "DEP-1")
    assert deployment.state is State.FAILED
    thread = dbot.slack.thread(room, deployment.card_ts or "")
    escalation = [m for m in thread if "did not restore a healthy service" in m["text"]]
    assert escalation
    assert "<@U0ALICE>" in escalation[0]["blocks"][0]["text"]["text"]  # the incident commander
    assert target.live == "v2.1.0"


def test_rollback_command_during_a_deployment_stops_it_and_rolls_back(
    dbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(dbot)
    command(dbot, DEPLOY, channel_id=room)
    (target.root / "hold").touch()
    click(dbot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    card_ts = deployments.get(dbot.deps.store, "DEP-1").card_ts
    approved = dbot.driver.block_action(
        "hotfix_deploy_approve",
        value="DEP-1",
        user_id="U0CAROL",
        channel_id=room,
        message_ts=card_ts,
    )
    dbot.slack.wait_for_response(approved.response_id)
    assert dbot.slack.wait_for(
        lambda: deployments.get(dbot.deps.store, "DEP-1").state is State.DEPLOYING, timeout=10
    )
    sent = dbot.driver.slash("rollback --target=production --service=payments", channel_id=room)
    (reply,) = dbot.slack.wait_for_response(sent.response_id)
    assert reply["text"] == "Rollback requested: DEP-1 stops and rolls back."
    (target.root / "hold").unlink()
    dbot.settle()
    assert deployments.get(dbot.deps.store, "DEP-1").state is State.ROLLED_BACK
    assert target.calls() == [["deploy", "v2.1.1"], ["rollback"]]
    assert dbot.deps.store.query("SELECT id FROM deployments") == [
        {"id": "DEP-1"}
    ]  # no second request
    # The timeline says who stopped it, as the canary's Abort button does.
    asked = [(e.actor, e.text) for e in timeline.events(dbot.deps.store, incident_id="INC-1")]
    assert ("U0ALICE", "DEP-1: rollback requested by U0ALICE while deploying") in asked


def test_deploy_from_the_console_with_slack_down(target: DeployTarget, tmp_path: Path) -> None:
    """Two people at the bot's terminal: one requests, the other approves; the deploy runs."""
    import yaml

    from tests.harness.cli import run_cli

    config = tmp_path / "hotfix.yml"
    settings = {
        "store": {"path": str(tmp_path / "console.db")},
        "access": {"deployers": ["U0ALICE"], "console_is_trusted": True},
        "services": {
            "payments": {
                "environments": {"staging": target.environment(approvals=1, verify_seconds=0)}
            }
        },
    }
    config.write_text(yaml.safe_dump(settings))
    requested = run_cli(
        "--config",
        str(config),
        "console",
        "--user",
        "alice",
        cwd=tmp_path,
        stdin="deploy --target=staging --service=payments --version=v2.1.1\napprove DEP-1\n",
    )
    assert "DEP-1 requested: waiting for 1 approval(s)." in requested.stdout, (
        requested.stdout + requested.stderr
    )
    assert "someone else must approve it (two-person rule)" in requested.stdout
    approved = run_cli(
        "--config", str(config), "console", "--user", "bob", cwd=tmp_path, stdin="approve DEP-1\n"
    )
    assert "Approved DEP-1." in approved.stdout, approved.stdout + approved.stderr
    assert target.calls() == [["deploy", "v2.1.1"]]
    assert target.live == "v2.1.1"
    assert "✅ Succeeded" in approved.stdout  # the card, printed as it is edited


def test_a_lock_left_by_a_finished_deployment_does_not_block_the_next(
    dbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(dbot)
    command(dbot, DEPLOY, channel_id=room)
    click(dbot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    click(dbot, "hotfix_deploy_approve", "DEP-1", "U0CAROL")
    assert deployments.get(dbot.deps.store, "DEP-1").state is State.SUCCEEDED
    # The bot died between recording the success and releasing the target's lock.
    dbot.deps.store.conn.execute(
        "INSERT INTO target_locks (target, deployment_id, held_by, since)"
        " VALUES ('payments/production', 'DEP-1', 'U0ALICE', '2026-03-14T09:30:00+00:00')"
    )
    command(dbot, "deploy --target=production --service=payments --version=v2.1.2", channel_id=room)
    click(dbot, "hotfix_deploy_approve", "DEP-2", "U0BOB")
    click(dbot, "hotfix_deploy_approve", "DEP-2", "U0CAROL")
    assert deployments.get(dbot.deps.store, "DEP-2").state is State.SUCCEEDED
    assert target.live == "v2.1.2"
    assert dbot.deps.store.query("SELECT deployment_id FROM target_locks") == []


@pytest.mark.parametrize("phase", ["before", "after"])
def test_a_card_lost_with_the_bot_is_posted_once_when_the_request_runs_again(
    slack: SlackEmulator, target: DeployTarget, tmp_path: Path, phase: str
) -> None:
    """Killed just before Slack got the card, or just after it posted it (ts never recorded)."""
    import yaml

    from services.store import Store
    from tests.harness.bot_process import BotProcess
    from tests.harness.waiting import wait_until

    slack.add_user("U0CAROL", "carol")
    config = tmp_path / "hotfix.yml"
    settings = {
        "store": {"path": str(tmp_path / "bot.db")},
        **bot_settings(target, verify_seconds=0),
    }
    config.write_text(yaml.safe_dump(settings))
    log = tmp_path / "bot.log"
    first = BotProcess(config=config, slack=slack, clock_file=None, log=log)

    def kill_at_the_card(method: str, when: str) -> bool:
        if method == "chat.postMessage" and when == phase and first.process.poll() is None:
            first.process.kill()
            return when == "before"
        return False

    slack.call_hook = kill_at_the_card
    requested = first.driver.slash(DEPLOY)
    assert wait_until(lambda: first.process.poll() is not None, timeout=15)
    first.kill()
    slack.call_hook = None
    store = Store(tmp_path / "bot.db")
    try:
        assert deployments.get(store, "DEP-1").card_ts is None
        second = BotProcess(config=config, slack=slack, clock_file=None, log=log)
        try:
            slack.wait_for_response(requested.response_id or "", timeout=15)
            cards = [
                m
                for m in slack.messages("C0GENERAL")
                if (m.get("metadata") or {}).get("event_payload", {}).get("key") == "DEP-1:card"
            ]
            assert [m["ts"] for m in cards] == [deployments.get(store, "DEP-1").card_ts]
            for approver in ("U0BOB", "U0CAROL"):
                clicked = second.driver.block_action(
                    "hotfix_deploy_approve", value="DEP-1", user_id=approver
                )
                slack.wait_for_response(clicked.response_id or "", timeout=15)
            assert wait_until(
                lambda: deployments.get(store, "DEP-1").state is State.SUCCEEDED, timeout=20
            )
        finally:
            second.stop()
    finally:
        store.close()
    assert target.calls() == [["deploy", "v2.1.1"]]
