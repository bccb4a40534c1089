"""/hotfix verify never misleads: a run a restart killed says so on its card (and that an
armed --auto-rollback did NOT run), --auto-rollback undoes only the deployment of the
version verified, and a verification that would check nothing is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.clock import ManualClock
from services.deploy import deployments
from services.deploy.model import State
from services.pipeline import records, recovery
from services.pipeline.records import RunState
from tests.harness.bot_actions import command, war_room
from tests.harness.deploy_target import DeployTarget
from tests.harness.running_bot import RunningBot
from tests.harness.slack_emulator import SlackEmulator
from tests.test_pipeline_verify import PROD, RUNBOOK, deployed, start, text_of, verify_card

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def vbot(
    slack: SlackEmulator, target: DeployTarget, tmp_path: Path, clock: ManualClock
) -> Iterator[RunningBot]:
    running = start(slack, target, tmp_path / "bot.db", clock)
    yield running
    running.stop()


def test_a_verification_a_restart_killed_says_no_rollback_ran(
    vbot: RunningBot, target: DeployTarget
) -> None:
    from services.pipeline import verify as verification

    deps = vbot.deps.deploy
    # What a bot that died mid-sampling left: the run recorded running, its card posted.
    _, _, problem = verification.start(
        deps,
        verification.Request(
            service="payments",
            environment="production",
            group="critical",
            seconds=300,
            auto_rollback=True,
            requested_by="U0ALICE",
            incident_id=None,
            channel_id="C0GENERAL",
            request_key=None,
        ),
    )
    assert problem is None and "running" in verify_card(vbot)

    restarted = recovery.recover_after_restart(deps.store, clock=deps.clock, chat=deps.chat)
    assert restarted == ["VER-1"]
    assert records.get(deps.store, "VER-1").state is RunState.INTERRUPTED
    card = verify_card(vbot)
    assert "interrupted by a restart of the bot" in card
    assert (
        ":warning: --auto-rollback was armed, but the verification was interrupted: NO rollback"
        " ran. If what runs is bad, roll back:"
        " `/hotfix rollback --target=production --service=payments`" in card
    )
    assert target.calls() == []  # and indeed nothing was rolled back
    assert recovery.recover_after_restart(deps.store, clock=deps.clock, chat=deps.chat) == []


def test_auto_rollback_leaves_a_deployment_of_another_version_alone(
    vbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(vbot)
    deployed(vbot, room, "v2.1.1")
    (target.root / "live").write_text("v2.0.9")  # changed by hand under DEP-1
    target.bad_versions.add("v2.0.9")
    calls = len(target.calls())
    command(vbot, RUNBOOK, channel_id=room)
    run = records.get(vbot.deps.store, "VER-1")
    assert run.state is RunState.FAILED and run.version == "v2.0.9"
    # DEP-1 (v2.1.1) was not what failed: it is not rolled back.
    assert deployments.get(vbot.deps.store, "DEP-1").state is State.SUCCEEDED
    assert target.live == "v2.0.9" and len(target.calls()) == calls
    assert run.detail["rollback"]["deployment_id"] is None
    assert (
        "Auto-rollback: the last deployment, DEP-1, is of v2.1.1, but the verification checked"
        " v2.0.9: nothing was rolled back automatically." in verify_card(vbot)
    )


def test_a_verification_that_would_check_nothing_is_refused(
    slack: SlackEmulator, target: DeployTarget, tmp_path: Path, clock: ManualClock
) -> None:
    bot = start(slack, target, tmp_path / "bot.db", clock, endpoints={"critical": []})
    try:
        reply = command(bot, f"verify --endpoints=critical --duration=90s {PROD}")
        said = text_of(reply)
        assert "Nothing would be checked" in said and "has no endpoints" in said, reply
        assert bot.deps.store.query("SELECT id FROM pipeline_runs") == []
    finally:
        bot.stop()
