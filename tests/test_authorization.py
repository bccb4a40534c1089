"""Who may do what: every command and button, for every role, with its audit row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.clock import ManualClock
from services.deploy import deployments
from tests.harness.deploy_target import DeployTarget
from tests.harness.running_bot import SIGNING_SECRET, RunningBot, start_bot
from tests.harness.slack_driver import SlackDriver
from tests.harness.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REQUESTER, APPROVER, RESPONDER, ANYONE, OUTSIDER = "U0ALICE", "U0BOB", "U0ERIN", "U0DAVE", "U0EXT"
ROLES = {
    "requester/deployer": REQUESTER,
    "approver": APPROVER,
    "responder": RESPONDER,
    "anyone else": ANYONE,
    "other workspace": OUTSIDER,
}


@pytest.fixture
def abot(slack: SlackEmulator, tmp_path: Path, clock: ManualClock) -> Iterator[RunningBot]:
    target = DeployTarget(tmp_path / "target")
    for user, name in ((RESPONDER, "erin"), (ANYONE, "dave")):
        slack.add_user(user, name)
    slack.add_user(OUTSIDER, "ext", team_id="T0OTHER")
    settings = {
        "slack": {"team_id": "T0TEAM"},
        "access": {"deployers": [REQUESTER]},
        "incidents": {
            "severities": {
                "sev1": {"update_every_minutes": 15, "escalate": False, "responders": [RESPONDER]}
            }
        },
        "services": {
            "payments": {
                "environments": {
                    "production": target.environment(approvers=[APPROVER], approvals=1)
                }
            }
        },
    }
    running = start_bot(
        slack=slack, store_path=tmp_path / "bot.db", clock=clock, extra_settings=settings
    )
    yield running
    running.stop()
    target.stop()


def driver_for(bot: RunningBot, user: str) -> SlackDriver:
    if user != OUTSIDER:
        return bot.driver
    return SlackDriver(
        bot_url=bot.url, signing_secret=SIGNING_SECRET, emulator=bot.slack, team_id="T0OTHER"
    )


def outcome_of(bot: RunningBot, kind: str, text_or_action: str, user: str, **kwargs: str) -> str:
    driver = driver_for(bot, user)
    before = len(bot.audit())
    if kind == "command":
        result = driver.slash(text_or_action, user_id=user, **kwargs)
    else:
        result = driver.block_action(text_or_action, user_id=user, **kwargs)
    assert result.status == 200
    bot.settle()
    rows = bot.audit()[before:]
    assert rows, f"{text_or_action} by {user} left no audit row"
    row = rows[-1]
    assert row["actor"] == user
    return "refused" if row["outcome"] == "refused" else "allowed"


COMMANDS = [
    # (command, who may)
    ("help", {"requester/deployer", "approver", "responder", "anyone else"}),
    ("incident list", {"requester/deployer", "approver", "responder", "anyone else"}),
    (
        'incident create --severity=sev3 --title="Who may declare"',
        {"requester/deployer", "approver", "responder", "anyone else"},
    ),
    ("deploy --target=production --service=payments --version=v2.1.1", {"requester/deployer"}),
    ("create --issue=PROD-1", {"requester/deployer"}),
    ("finish --issue=PROD-1", {"requester/deployer"}),
    ("rollback --target=production --service=payments", {"requester/deployer"}),
]


@pytest.mark.parametrize(("command", "allowed"), COMMANDS, ids=[c for c, _ in COMMANDS])
@pytest.mark.parametrize("role", list(ROLES))
def test_commands(abot: RunningBot, command: str, allowed: set[str], role: str) -> None:
    expected = "allowed" if role in allowed else "refused"
    assert outcome_of(abot, "command", command, ROLES[role]) == expected


BUTTONS = [
    ("hotfix_deploy_approve", {"approver"}),
    ("hotfix_deploy_reject", {"approver"}),
    ("hotfix_deploy_rollback", {"requester/deployer"}),
]


@pytest.mark.parametrize(("action", "allowed"), BUTTONS, ids=[a for a, _ in BUTTONS])
@pytest.mark.parametrize("role", list(ROLES))
def test_deployment_buttons(abot: RunningBot, action: str, allowed: set[str], role: str) -> None:
    result = abot.driver.slash(
        "deploy --target=production --service=payments --version=v2.1.1", user_id=REQUESTER
    )
    abot.slack.wait_for_response(result.response_id)
    abot.settle()
    deployment = deployments.get(abot.deps.store, "DEP-1")
    expected = "allowed" if role in allowed else "refused"
    got = outcome_of(
        abot,
        "click",
        action,
        ROLES[role],
        value="DEP-1",
        channel_id="C0GENERAL",
        message_ts=deployment.card_ts or "",
    )
    assert got == expected
