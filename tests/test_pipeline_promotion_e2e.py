"""Staging before production, end to end from one war room, as the runbook types it:

hotfix create → finish (real git) → production refused (the gate names what to run) →
`/hotfix validate --environment=staging --test-suite=critical-path` → deploy to staging
(smoke tests, verification) → `/hotfix verify --endpoints=critical --duration=5m
--auto-rollback` → deploy to production (migrations up, hooks) → production runs the tag.
Real scripts, the Slack emulator, a fake clock that the waits move.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from services import timeline
from services.clock import ManualClock
from services.deploy import deployments
from services.deploy.model import State
from services.pipeline import records
from services.pipeline.records import RunKind, RunState
from tests.harness.bot_actions import click, command, war_room
from tests.harness.deploy_target import DeployTarget
from tests.harness.git_repos import GitWorld
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator
from tests.test_validate_command import Scripts

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("isolated_git")]

VALIDATE = "validate --environment=staging --test-suite=critical-path"
VERIFY = "verify --endpoints=critical --duration=5m --auto-rollback"


@pytest.fixture
def pbot(
    slack: SlackEmulator,
    world: GitWorld,
    target: DeployTarget,
    tmp_path: Path,
    clock: ManualClock,
) -> Iterator[tuple[RunningBot, Scripts]]:
    scripts = Scripts(tmp_path / "checks")
    slack.add_user("U0CAROL", "carol")
    slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
    common = {
        "approvals": 1,
        "endpoints": {"critical": [{"url": target.health_url, "body_contains": '"ok"'}]},
    }
    staging = target.environment(
        **common,
        suites={"critical-path": [scripts.check("smoke", "{version}", "{environment}")]},
        smoke=[scripts.check("checkout", "{version}")],
    )
    production = target.environment(
        **common,
        requires=["staging"],
        after_deploy=[scripts.check("smoke", "purge-cdn", "{version}")],
    )
    running = start_bot(
        slack=slack,
        store_path=tmp_path / "bot.db",
        clock=clock,
        extra_settings={
            "services": {
                "payments": {
                    "git": world.settings().model_dump(mode="json"),
                    "environments": {"staging": staging, "production": production},
                    "migrations": {
                        "check": scripts.argv("migrate", "check", "{version}"),
                        "up": scripts.argv("migrate", "up", "{version}", "{environment}"),
                    },
                }
            },
            "access": {"deployers": ["U0ALICE"]},
            "incidents": {"announcement_channel": "C0INCIDENTS"},
        },
    )
    yield running, scripts
    running.stop()


def deploy_and_approve(bot: RunningBot, room: str, target: str) -> str:
    reply = command(bot, f"deploy --target={target}", channel_id=room)
    deployment_id = reply["text"].split()[0]
    assert deployment_id.startswith("DEP-"), reply
    click(bot, "hotfix_deploy_approve", deployment_id, "U0BOB")
    return deployment_id


def test_a_version_goes_to_production_only_after_staging(
    pbot: tuple[RunningBot, Scripts], world: GitWorld, target: DeployTarget
) -> None:
    bot, scripts = pbot
    store = bot.deps.store
    room = war_room(bot)
    assert "hotfix/PROD-2847" in command(bot, "create --issue=PROD-2847", channel_id=room)["text"]
    world.fix_on_hotfix("hotfix/PROD-2847")
    assert "v2.1.1" in command(bot, "finish", channel_id=room)["text"]

    # Production first: refused, nothing recorded, and the answer says what to run.
    refused = json.dumps(command(bot, "deploy --target=production", channel_id=room))
    assert "may not be deployed to production yet" in refused, refused
    assert (
        "/hotfix validate --environment=staging --service=payments --version=v2.1.1"
        " --test-suite=critical-path" in refused
    )
    assert "/hotfix deploy --target=staging --service=payments --version=v2.1.1" in refused
    assert store.query("SELECT id FROM deployments") == []

    # The runbook's validate, as typed: service and version come from the incident's hotfix.
    started = command(bot, VALIDATE, channel_id=room)["text"]
    assert started.startswith("VAL-1 started"), started
    assert records.get(store, "VAL-1").state is RunState.PASSED
    assert ["migrate", "check", "v2.1.1"] in scripts.calls()

    # Staging: deployed, smoke-tested, verified.
    staging = deploy_and_approve(bot, room, "staging")
    assert deployments.get(store, staging).state is State.SUCCEEDED
    assert ["checkout", "v2.1.1"] in scripts.calls()
    steps = [s["step"] for s in deployments.steps(store, staging)]
    assert steps.index("deploy") < steps.index("smoke") < steps.index("verify")

    # The runbook's verify, as typed: the target is the incident's last deployment's.
    verified = command(bot, VERIFY, channel_id=room)["text"]
    assert "VER-1: verify critical on payments/staging (v2.1.1)" in verified, verified
    run = records.get(store, "VER-1")
    assert (run.state, run.environment, run.version) == (RunState.PASSED, "staging", "v2.1.1")

    # Production now passes the gate (checked again when the approved deploy starts).
    production = deploy_and_approve(bot, room, "production")
    done = deployments.get(store, production)
    assert done.state is State.SUCCEEDED, done
    assert target.live == "v2.1.1"
    steps = [s["step"] for s in deployments.steps(store, production)]
    assert steps[:2] == ["gates", "validate"]
    assert steps.index("migrate-up") < steps.index("deploy") < steps.index("after-deploy")
    assert ["migrate", "up", "v2.1.1", "production"] in scripts.calls()
    assert ["smoke", "purge-cdn", "v2.1.1"] in scripts.calls()
    kinds = [e.kind for e in timeline.events(store, incident_id="INC-1")]
    for kind in ("validate_passed", "verify_passed", "deploy_requested"):
        assert kind in kinds, kinds
    assert records.latest_passed(
        store, kind=RunKind.VALIDATE, service="payments", environment="staging", version="v2.1.1"
    )
