# ruff: noqa: F811  (pbot and scripts are the engine tests' fixtures, imported)
"""The pipeline's safety after review i15: a database rollback is never run twice, a rollback
to a version that never ran there is gated like a deploy, the staging gate counts only what
staging still runs and verified, and an approved deploy meets the gate again as it starts.

The same bot, target and scripts as tests/test_deploy_pipeline_engine.py (its fixtures).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.deploy import deployments, engine
from services.deploy.model import State
from services.pipeline import records
from services.pipeline.records import NewRun, RunKind
from tests.harness.bot_actions import card_buttons, card_text, click, command, events, war_room
from tests.harness.deploy_target import DeployTarget
from tests.harness.pipeline_scripts import PipelineScripts
from tests.harness.running_bot import RunningBot
from tests.test_deploy_pipeline_engine import (  # noqa: F401 (fixtures)
    PROD,
    STAGING,
    deploy,
    passed,
    pbot,
    reply_text,
    scripts,
    step_rows,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def failed_verify(bot: RunningBot, version: str) -> None:
    """A /hotfix verify of `version` on staging that failed, as the verify command records it."""
    run, _ = records.create(
        bot.deps.store,
        clock=bot.deps.clock,
        new=NewRun(
            kind=RunKind.VERIFY,
            service="payments",
            environment="staging",
            version=version,
            name="critical",
            requested_by="U0ALICE",
            incident_id=None,
            channel_id=None,
            request_key=None,
        ),
    )
    records.finish(bot.deps.store, clock=bot.deps.clock, run_id=run.id, passed=False, summary="5xx")


def staged(bot: RunningBot, room: str, version: str) -> str:
    """`version` validated, deployed and verified on staging: production's gate passes."""
    passed(bot, RunKind.VALIDATE, version)
    return deploy(bot, room, STAGING, version)


# ----------------------------------------------------------------- H1: manual intervention


def test_after_manual_intervention_no_rollback_runs_down_again(
    pbot: RunningBot, target: DeployTarget, scripts: PipelineScripts
) -> None:
    room = war_room(pbot)
    dep = deploy(pbot, room, STAGING, "v2.4.1")
    scripts.fail("down")
    click(pbot, "hotfix_deploy_rollback", dep, "U0ALICE")
    assert deployments.get(pbot.deps.store, dep).state is State.FAILED
    ran = [c[0] for c in target.calls()]
    assert ran.count("down") == 1 and ran[-1] == "snapshot"
    # The card offers nothing: the war room was told people take over.
    assert card_buttons(pbot, dep) == []
    snapshot = "/backups/payments-v2.1.0.dump"
    # The button (a stale card), its twin and /hotfix rollback all refuse, naming the dump.
    for reply in (
        click(pbot, "hotfix_deploy_rollback", dep, "U0ALICE"),
        command(pbot, f"deploy rollback {dep}", channel_id=room),
        command(pbot, f"rollback {STAGING} --immediate", channel_id=room),
    ):
        text = reply_text(reply)
        assert f"{dep} needs manual intervention" in text and snapshot in text, text
    assert len(deployments.listing(pbot.deps.store)) == 1  # no new rollback recorded
    # The engine itself, driven past the buttons, never runs a failed migration again.
    engine.rollback_now(
        pbot.deps.deploy,
        deployments.get(pbot.deps.store, dep),
        actor="U0ALICE",
        reason="again",
        seen=State.FAILED,
    )
    ran = [c[0] for c in target.calls()]
    assert ran.count("down") == 1 and ran.count("rollback") == 1
    step = {s["step"]: s for s in deployments.steps(pbot.deps.store, dep)}["migrate-down"]
    assert step["state"] == "failed" and "already failed" in step["detail"]


def test_a_second_rollback_after_a_failed_rollback_verify_does_not_undo_twice(
    pbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(pbot)
    dep = deploy(pbot, room, STAGING, "v2.4.1")
    target.bad_versions.add("v2.1.0")  # the restored version is unhealthy: escalated
    click(pbot, "hotfix_deploy_rollback", dep, "U0ALICE")
    assert deployments.get(pbot.deps.store, dep).state is State.FAILED
    assert step_rows(pbot, dep)["rollback-verify"] == "failed"
    target.bad_versions.discard("v2.1.0")  # people fixed it; they click Rollback again
    click(pbot, "hotfix_deploy_rollback", dep, "U0ALICE")
    assert deployments.get(pbot.deps.store, dep).state is State.ROLLED_BACK
    ran = [c[0] for c in target.calls()]
    assert ran.count("rollback") == 1 and ran.count("down") == 1 and ran.count("verify") == 1
    assert target.live == "v2.1.0"


# ----------------------------------------------------------------- H2: rollback to a new version


def test_a_rollback_to_a_version_that_never_ran_there_meets_the_staging_gate(
    pbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(pbot)
    staged(pbot, room, "v2.4.1")
    first = deploy(pbot, room, PROD, "v2.4.1")
    staged(pbot, room, "v2.4.2")
    deploy(pbot, room, PROD, "v2.4.2")
    assert deployments.get(pbot.deps.store, first).state is State.SUCCEEDED
    count = len(deployments.listing(pbot.deps.store))
    refused = reply_text(command(pbot, f"rollback {PROD} --version=v2.5.0", channel_id=room))
    assert "v2.5.0 has not passed validate on staging" in refused
    assert "/hotfix deploy --target=staging --service=payments --version=v2.5.0" in refused
    assert len(deployments.listing(pbot.deps.store)) == count  # nothing recorded
    # Back to a version that ran there: no gate.
    reply = command(pbot, f"rollback {PROD} --version=v2.4.1", channel_id=room)
    rollback = reply["text"].split()[0]
    assert deployments.get(pbot.deps.store, rollback).state is State.REQUESTED


# ----------------------------------------------------------------- H3: what staging still runs


def test_the_staging_gate_ignores_a_deploy_staging_was_rolled_back_from(
    pbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(pbot)
    staged(pbot, room, "v2.4.1")
    command(pbot, f"rollback {STAGING} --version=v2.1.0 --immediate", channel_id=room)
    assert target.live == "v2.1.0"
    text = reply_text(command(pbot, f"deploy {PROD} --version=v2.4.1", channel_id=room))
    assert "v2.4.1 no longer runs on staging" in text
    assert "/hotfix deploy --target=staging --service=payments --version=v2.4.1" in text
    assert not [d for d in deployments.listing(pbot.deps.store) if d.environment == "production"]


def test_the_staging_gate_refuses_after_a_failed_verify_until_one_passes(
    pbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(pbot)
    staged(pbot, room, "v2.4.1")  # verified by the deployment itself
    pbot.deps.clock.advance(timedelta(minutes=1))
    failed_verify(pbot, "v2.4.1")
    text = reply_text(command(pbot, f"deploy {PROD} --version=v2.4.1", channel_id=room))
    assert "v2.4.1 failed its latest verify on staging (VER-1)" in text
    assert "/hotfix verify --target=staging --service=payments" in text
    pbot.deps.clock.advance(timedelta(minutes=1))
    passed(pbot, RunKind.VERIFY, "v2.4.1")
    shipped = deploy(pbot, room, PROD, "v2.4.1")
    assert deployments.get(pbot.deps.store, shipped).state is State.SUCCEEDED


# ----------------------------------------------------------------- M7: the gate again at start


def test_an_approved_deploy_meets_the_staging_gate_again_as_it_starts(
    pbot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(pbot)
    staged(pbot, room, "v2.4.1")
    reply = command(pbot, f"deploy {PROD} --version=v2.4.1", channel_id=room)
    waiting = reply["text"].split()[0]
    # Before anyone approves, staging is rolled back: v2.4.1 no longer vouched for.
    command(pbot, f"rollback {STAGING} --version=v2.1.0 --immediate", channel_id=room)
    calls = len(target.calls())
    click(pbot, "hotfix_deploy_approve", waiting, "U0BOB")
    d = deployments.get(pbot.deps.store, waiting)
    assert d.state is State.FAILED and d.detail.get("changed") is False
    assert len(target.calls()) == calls and target.live == "v2.1.0"  # nothing ran
    card = card_text(pbot, waiting)
    assert "v2.4.1 no longer runs on staging" in card
    assert "/hotfix deploy --target=staging --service=payments --version=v2.4.1" in card
    assert card_buttons(pbot, waiting) == []  # nothing to roll back
    assert any(waiting in e.text and "no longer runs" in e.text for e in events(pbot))
