"""Break-glass and a CI still running at request time: the approved deploy does not wait
for it (review i15 M6). Real git, real deploy scripts, a signed webhook over real HTTP
(the same world as tests/test_ci_gate.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.clock import ManualClock
from services.deploy import deployments
from services.deploy.model import State
from tests.harness.bot_actions import card_text, click, command, war_room
from tests.harness.ci_bot import sender, start_ci_bot
from tests.harness.deploy_target import DeployTarget
from tests.harness.git_repos import GitWorld
from tests.harness.running_bot import RunningBot
from tests.harness.slack_emulator import SlackEmulator
from tests.test_ci_gate import report

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("isolated_git")]


@pytest.fixture
def glass_bot(
    slack: SlackEmulator,
    world: GitWorld,
    target: DeployTarget,
    tmp_path: Path,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[RunningBot]:
    (target.root / "live").write_text("v2.0.0")
    slack.add_user("U0CAROL", "carol")
    production = target.environment(
        approvals=1,
        requires_ci=True,
        ci_wait_minutes=30,
        break_glass={"severities": ["sev0"], "approvals": 1},
    )
    running = start_ci_bot(
        slack=slack,
        tmp_path=tmp_path,
        clock=clock,
        monkeypatch=monkeypatch,
        payments={
            "git": world.settings().model_dump(mode="json"),
            "environments": {"production": production},
        },
    )
    yield running
    running.stop()


def test_break_glass_skips_a_ci_that_was_only_pending_at_request_time(
    glass_bot: RunningBot, world: GitWorld, clock: ManualClock, target: DeployTarget
) -> None:
    ci = sender(glass_bot)
    report(ci, world.rev(world.origin, "v2.1.0^{commit}"), "in_progress")
    room = war_room(glass_bot, 'incident create --severity=sev0 --title="Payments down"')
    reply = command(
        glass_bot, "deploy --target=production --service=payments --version=v2.1.0", channel_id=room
    )
    assert reply["text"].startswith("DEP-1 requested"), reply["text"]
    started = clock.now()
    click(glass_bot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    d = deployments.get(glass_bot.deps.store, "DEP-1")
    assert d.state is State.SUCCEEDED and target.live == "v2.1.0"
    assert (clock.now() - started).total_seconds() < 60  # no wait for the running CI
    (ci_step,) = [s for s in deployments.steps(glass_bot.deps.store, "DEP-1") if s["step"] == "ci"]
    assert ci_step["state"] == "skipped" and ci_step["detail"].startswith("BREAK-GLASS")
    assert "BREAK-GLASS" in card_text(glass_bot, "DEP-1")
