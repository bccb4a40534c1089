"""The deployment card at 3 a.m.: output tails of failing steps, no Rollback where nothing
changed, no "0 of 0 approvals". Real scripts, the Slack emulator, the bot over HTTP."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from services import timeline
from services.clock import ManualClock
from services.redaction import SECRETS
from tests.harness.bot_actions import card_buttons, card_text, click, command, war_room
from tests.harness.deploy_target import DeployTarget
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SECRET = "s3cr3t-token-value-0123456789"
CHATTY = textwrap.dedent(
    """\
    import sys
    for n in range(1, 21):
        print(f"{sys.argv[1]} line {n}")
    print("token=" + sys.argv[2])
    print("<!channel> ```fence``` " + "x" * 5000)
    sys.exit(int(sys.argv[3]))
    """
)
DEPLOY = "deploy --target=production --service=payments --version=v2.1.1"


@pytest.fixture
def target(tmp_path: Path) -> Iterator[DeployTarget]:
    deployed = DeployTarget(tmp_path / "target")
    (deployed.root / "chatty.py").write_text(CHATTY)
    SECRETS.register([SECRET])
    yield deployed
    SECRETS.forget_all()
    deployed.stop()


def chatty(target: DeployTarget, name: str, code: int) -> list[str]:
    return [sys.executable, str(target.root / "chatty.py"), name, SECRET, str(code)]


@pytest.fixture
def bot_with(
    slack: SlackEmulator, tmp_path: Path, clock: ManualClock
) -> Iterator[Callable[[dict[str, Any]], RunningBot]]:
    """Starts the bot with this production environment; stops it after the test."""
    started: list[RunningBot] = []

    def start(production: dict[str, Any]) -> RunningBot:
        started.append(
            start_bot(
                slack=slack,
                store_path=tmp_path / "bot.db",
                clock=clock,
                extra_settings={
                    "services": {"payments": {"environments": {"production": production}}},
                    "access": {"deployers": ["U0ALICE"]},
                },
            )
        )
        return started[-1]

    yield start
    for bot in started:
        bot.stop()


def step_rows(bot: RunningBot) -> list[timeline.TimelineEvent]:
    return [
        e for e in timeline.events(bot.deps.store, incident_id="INC-1") if e.kind == "deploy_step"
    ]


def test_a_failed_check_shows_its_output_tail_redacted_and_no_rollback_button(
    slack: SlackEmulator, target: DeployTarget, bot_with: Callable[..., RunningBot]
) -> None:
    checks = [
        {"name": "migrate-dry-run", "argv": chatty(target, "migrate", 0)},
        {"name": "smoke", "argv": chatty(target, "smoke", 1)},
    ]
    bot = bot_with(target.environment(approvals=1, checks=checks))
    room = war_room(bot)
    command(bot, DEPLOY, channel_id=room)
    click(bot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    text = card_text(bot, "DEP-1")
    step = next(line for line in text.splitlines() if ":x: validate" in line)
    assert step.endswith("Pre-deployment checks failed: check smoke exited with 1"), step
    tail = text.split("*validate* printed (last lines):\n```\n")[1].split("\n```")[0]
    lines = tail.splitlines()
    assert lines[0] == "[smoke]"
    assert "smoke line 20" in lines and "token=[redacted]" in lines
    assert "smoke line 12" not in tail  # the last lines only
    assert "migrate line" not in tail  # a passing check's output is not noteworthy
    assert "&lt;!channel&gt;" in tail and "<!channel>" not in tail
    assert "```fence```" not in tail
    # Steps that never ran are not shown as pending on a finished card.
    assert ":white_small_square:" not in text and "▱" not in text
    # Nothing touched the target: nothing to roll back.
    assert card_buttons(bot, "DEP-1") == []
    assert target.calls() == []
    sent = json.dumps([c.args for c in slack.calls])
    assert SECRET not in sent
    (row,) = step_rows(bot)
    assert row.text == (
        "DEP-1 validate failed: Pre-deployment checks failed: check smoke exited with 1"
    )
    # The timeline keeps the whole output, redacted; the card its last lines.
    assert row.data["output"].startswith("[smoke]\nsmoke line 1\nsmoke line 2\n")
    assert "token=[redacted]" in row.data["output"] and SECRET not in row.data["output"]


def test_checks_are_named_with_their_results_and_the_backup_output_is_on_the_card(
    slack: SlackEmulator, target: DeployTarget, bot_with: Callable[..., RunningBot]
) -> None:
    checks = [{"name": "smoke", "argv": chatty(target, "smoke", 0)}]
    production = target.environment(approvals=1, checks=checks, backup=chatty(target, "backup", 0))
    bot = bot_with(production)
    room = war_room(bot)
    command(bot, DEPLOY, channel_id=room)
    click(bot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    text = card_text(bot, "DEP-1")
    assert ": checks: smoke succeeded" in text
    assert "*backup* printed (last lines):" in text
    assert "*validate* printed" not in text and "*deploy* printed" not in text
    assert card_buttons(bot, "DEP-1") == ["hotfix_deploy_rollback"]
    assert [e.text for e in step_rows(bot)][:2] == [
        "DEP-1 validate ok: checks: smoke succeeded",
        "DEP-1 backup ok: backup succeeded",
    ]
    backup = step_rows(bot)[1].data["output"]
    assert backup.startswith("backup line 1\n") and "token=[redacted]" in backup


def test_a_failed_deploy_script_shows_its_last_lines(
    slack: SlackEmulator, target: DeployTarget, bot_with: Callable[..., RunningBot]
) -> None:
    bot = bot_with(target.environment(approvals=1))
    room = war_room(bot)
    (target.root / "fail-deploy").touch()
    command(bot, DEPLOY, channel_id=room)
    click(bot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    text = card_text(bot, "DEP-1")
    assert ":x: deploy" in text
    tail = text.split("*deploy* printed (last lines):\n```\n")[1].split("\n```")[0]
    assert tail.splitlines()[-1] == "helm: UPGRADE FAILED: timed out waiting for the condition"


def test_an_immediate_rollback_card_has_no_approvals_block(
    slack: SlackEmulator, target: DeployTarget, bot_with: Callable[..., RunningBot]
) -> None:
    bot = bot_with(target.environment())
    room = war_room(bot)
    (target.root / "history").write_text("v2.0.9\n")
    reply = command(
        bot, "rollback --target=production --service=payments --immediate", channel_id=room
    )
    assert "0 of 0" not in json.dumps(reply["blocks"])  # the answer counts none either
    text = card_text(bot, "DEP-1")
    assert "Rolled back to v2.0.9" in text
    assert "approval" not in text


def test_the_card_says_what_runs_now_and_what_will(
    slack: SlackEmulator, target: DeployTarget, bot_with: Callable[..., RunningBot]
) -> None:
    bot = bot_with(target.environment(approvals=1))
    room = war_room(bot)
    command(bot, DEPLOY, channel_id=room)
    assert "*Running now*\nv2.1.0 → v2.1.1" in card_text(bot, "DEP-1")
    click(bot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    text = card_text(bot, "DEP-1")
    assert "*Running now*\nv2.1.1" in text and "→ v2.1.1\n" not in text
    assert "v2.1.0 →" not in text
