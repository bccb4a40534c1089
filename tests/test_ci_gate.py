"""`requires_ci: true`: a deploy is refused without a green run for its version's commit, and
an approved one waits for a running CI, proceeding on green and failing on red or in time.

Real git (the version's tag read from the bare origin), real deploy scripts, signed webhooks
over real HTTP; the engine's waiting runs on the fake clock, whose sleeps let CI report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.clock import ManualClock
from services.deploy import deployments
from services.deploy.model import State
from tests.harness.bot_actions import click, command, war_room
from tests.harness.ci_bot import sender, start_ci_bot
from tests.harness.ci_payloads import CiSender, gitlab_pipeline, workflow_run
from tests.harness.deploy_target import DeployTarget
from tests.harness.git_repos import GitWorld
from tests.harness.running_bot import RunningBot
from tests.harness.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("isolated_git")]

DEPLOY = "deploy --target=production --service=payments --version=v2.1.0"


@pytest.fixture
def gate_bot(
    slack: SlackEmulator,
    world: GitWorld,
    target: DeployTarget,
    tmp_path: Path,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[RunningBot]:
    (target.root / "live").write_text("v2.0.0")
    slack.add_user("U0CAROL", "carol")
    production = target.environment(approvals=1, requires_ci=True, ci_wait_minutes=1)
    running = start_ci_bot(
        slack=slack,
        tmp_path=tmp_path,
        clock=clock,
        monkeypatch=monkeypatch,
        payments={
            "git": world.settings().model_dump(mode="json"),
            "environments": {"production": production},
        },
        # "CI" is the workflow_run builder's name: the one that must pass.
        ci={"required": ["CI"]},
    )
    yield running
    running.stop()


@pytest.fixture
def ci(gate_bot: RunningBot) -> CiSender:
    return sender(gate_bot)


@pytest.fixture
def tagged(world: GitWorld) -> str:
    return world.rev(world.origin, "v2.1.0^{commit}")


def report(
    ci: CiSender,
    sha: str,
    action: str,
    conclusion: str | None = None,
    at: str = "",
    *,
    name: str = "CI",
    run_id: int = 8812345678,
) -> None:
    payload = workflow_run(
        action,
        name=name,
        run_id=run_id,
        head_sha=sha,
        head_branch="v2.1.0",
        conclusion=conclusion,
        updated_at=at or "2026-03-14T09:00:00Z",
    )
    assert ci.github("workflow_run", payload).status == 202


def once(action: Callable[[], None]) -> Callable[[float], None]:
    """A clock hook that lets CI report once, the first time the engine waits."""
    done: list[bool] = []

    def hook(_seconds: float) -> None:
        if not done:
            done.append(True)
            action()

    return hook


def ci_step(bot: RunningBot) -> dict:
    (step,) = [s for s in deployments.steps(bot.deps.store, "DEP-1") if s["step"] == "ci"]
    return dict(step)


def test_refused_without_any_run(gate_bot: RunningBot, tagged: str, target: DeployTarget) -> None:
    room = war_room(gate_bot)
    reply = command(gate_bot, DEPLOY, channel_id=room)
    assert reply["text"].startswith("payments v2.1.0 may not be deployed to production yet:")
    assert f"no CI run has reported for v2.1.0 (commit {tagged[:10]})" in reply["text"]
    assert gate_bot.deps.store.query("SELECT id FROM deployments") == []
    assert target.calls() == []


def test_refused_when_the_latest_run_failed(
    gate_bot: RunningBot, ci: CiSender, tagged: str
) -> None:
    report(ci, tagged, "completed", "failure")
    room = war_room(gate_bot)
    reply = command(gate_bot, DEPLOY, channel_id=room)
    assert f"CI failed for v2.1.0 (commit {tagged[:10]}): CI failure" in reply["text"]
    assert gate_bot.deps.store.query("SELECT id FROM deployments") == []


def test_waits_for_a_running_ci_and_proceeds_on_green(
    gate_bot: RunningBot, ci: CiSender, tagged: str, clock: ManualClock, target: DeployTarget
) -> None:
    report(ci, tagged, "in_progress")
    room = war_room(gate_bot)
    reply = command(gate_bot, DEPLOY, channel_id=room)
    assert reply["text"] == "DEP-1 requested: waiting for 1 approval(s)."
    started = clock.now()
    clock.on_sleep = once(
        lambda: report(ci, tagged, "completed", "success", at="2026-03-14T09:06:00Z")
    )
    click(gate_bot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    deployment = deployments.get(gate_bot.deps.store, "DEP-1")
    assert deployment.state is State.SUCCEEDED
    step = ci_step(gate_bot)
    assert step["state"] == "ok"
    assert step["detail"].startswith(f"CI green for v2.1.0 (commit {tagged[:10]}): CI success")
    assert clock.now() > started  # it waited (on the fake clock) before deploying
    assert target.live == "v2.1.0"


def test_fails_without_deploying_when_ci_turns_red(
    gate_bot: RunningBot, ci: CiSender, tagged: str, clock: ManualClock, target: DeployTarget
) -> None:
    report(ci, tagged, "in_progress")
    room = war_room(gate_bot)
    command(gate_bot, DEPLOY, channel_id=room)
    clock.on_sleep = once(
        lambda: report(ci, tagged, "completed", "failure", at="2026-03-14T09:06:00Z")
    )
    click(gate_bot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    deployment = deployments.get(gate_bot.deps.store, "DEP-1")
    assert deployment.state is State.FAILED
    assert deployment.detail.get("changed") is False
    assert ci_step(gate_bot)["state"] == "failed"
    assert f"CI failed for v2.1.0 (commit {tagged[:10]})" in ci_step(gate_bot)["detail"]
    assert target.calls() == [] and target.live == "v2.0.0"


def test_gives_up_after_ci_wait_minutes(
    gate_bot: RunningBot, ci: CiSender, tagged: str, clock: ManualClock, target: DeployTarget
) -> None:
    report(ci, tagged, "in_progress")
    room = war_room(gate_bot)
    command(gate_bot, DEPLOY, channel_id=room)
    started = clock.now()
    click(gate_bot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    deployment = deployments.get(gate_bot.deps.store, "DEP-1")
    assert deployment.state is State.FAILED
    detail = ci_step(gate_bot)["detail"]
    assert "CI did not turn green for v2.1.0" in detail and "within 1 minutes" in detail
    assert "(CI still in_progress)" in detail
    assert (clock.now() - started).total_seconds() >= 60
    assert target.calls() == []


def test_a_quick_green_workflow_waits_for_the_required_one(
    gate_bot: RunningBot, ci: CiSender, tagged: str, clock: ManualClock, target: DeployTarget
) -> None:
    report(ci, tagged, "completed", "success", name="lint", run_id=1)
    room = war_room(gate_bot)
    reply = command(gate_bot, DEPLOY, channel_id=room)
    assert reply["text"] == "DEP-1 requested: waiting for 1 approval(s)."  # lint reported
    started = clock.now()
    clock.on_sleep = once(
        lambda: report(ci, tagged, "completed", "success", at="2026-03-14T09:06:00Z")
    )
    click(gate_bot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    assert deployments.get(gate_bot.deps.store, "DEP-1").state is State.SUCCEEDED
    assert clock.now() > started  # lint alone was not green: it waited for "CI"
    assert "CI success" in ci_step(gate_bot)["detail"]
    assert target.live == "v2.1.0"


def test_a_required_workflow_that_never_reports_fails_the_deploy(
    gate_bot: RunningBot, ci: CiSender, tagged: str, target: DeployTarget
) -> None:
    report(ci, tagged, "completed", "success", name="lint", run_id=1)
    room = war_room(gate_bot)
    command(gate_bot, DEPLOY, channel_id=room)
    click(gate_bot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    assert deployments.get(gate_bot.deps.store, "DEP-1").state is State.FAILED
    assert "(required workflow(s) 'CI' not reported yet)" in ci_step(gate_bot)["detail"]
    assert target.calls() == []


def test_a_skipped_required_workflow_is_refused(
    gate_bot: RunningBot, ci: CiSender, tagged: str
) -> None:
    report(ci, tagged, "completed", "skipped")
    reply = command(gate_bot, DEPLOY, channel_id=war_room(gate_bot))
    assert f"a required CI workflow was skipped for v2.1.0 (commit {tagged[:10]})" in reply["text"]
    assert gate_bot.deps.store.query("SELECT id FROM deployments") == []


def manual(ci: CiSender, sha: str, status: str) -> None:
    payload = gitlab_pipeline(ref="v2.1.0", tag=True, sha=sha, status=status)
    assert ci.gitlab(payload).status == 202


def test_a_pipeline_waiting_on_a_manual_job_is_refused_with_that_reason(
    gate_bot: RunningBot, ci: CiSender, tagged: str
) -> None:
    report(ci, tagged, "completed", "success")
    manual(ci, tagged, "manual")
    reply = command(gate_bot, DEPLOY, channel_id=war_room(gate_bot))
    assert (
        f"CI for v2.1.0 (commit {tagged[:10]}) is blocked: a manual job is pending"
        in (reply["text"])
    )
    assert gate_bot.deps.store.query("SELECT id FROM deployments") == []


def test_a_pipeline_that_stops_at_a_manual_job_fails_the_deploy_at_once(
    gate_bot: RunningBot, ci: CiSender, tagged: str, clock: ManualClock, target: DeployTarget
) -> None:
    report(ci, tagged, "completed", "success")
    manual(ci, tagged, "running")
    command(gate_bot, DEPLOY, channel_id=war_room(gate_bot))
    started = clock.now()
    clock.on_sleep = once(lambda: manual(ci, tagged, "manual"))
    click(gate_bot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    assert deployments.get(gate_bot.deps.store, "DEP-1").state is State.FAILED
    assert "is blocked: a manual job is pending in pipeline manual" in ci_step(gate_bot)["detail"]
    # Not held for ci_wait_minutes (1 minute here) before saying so.
    assert (clock.now() - started).total_seconds() < 60
    assert target.calls() == []
