"""Every deployment gets a home: the requester sees its card, and so do those who steer it.

A slash command typed where the bot cannot post puts the card in the deployments channel
or the requester's DM; a request from a terminal (CLI, console) is printed there and, with
a deployments channel configured, relayed to the serving bot, which posts the card and its
edits in Slack. Real bot, Slack emulator, real CLI subprocesses, command-backend target.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services import outbox
from services.clock import ManualClock
from services.deploy import deployments
from services.deploy.model import State
from tests import test_deploy_command as base
from tests.harness.cli import run
from tests.harness.deploy_target import DeployTarget
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator
from tests.test_cli_follow import PRODUCTION, cli_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEPLOYS = "C0DEPLOYS"


def bot_with(
    slack: SlackEmulator, target: DeployTarget, tmp_path: Path, clock: ManualClock, **extra: Any
) -> RunningBot:
    slack.add_user("U0CAROL", "carol")
    slack.add_channel("random", channel_id="C0RANDOM", members=("U0ALICE",))  # no bot here
    slack.add_channel("deployments", channel_id=DEPLOYS, members=("UBOT",))
    return start_bot(
        slack=slack,
        store_path=tmp_path / "bot.db",
        clock=clock,
        extra_settings={**base.bot_settings(target, verify_seconds=0), **extra},
    )


@pytest.fixture
def plain_bot(
    slack: SlackEmulator, target: DeployTarget, tmp_path: Path, clock: ManualClock
) -> Iterator[RunningBot]:
    bot = bot_with(slack, target, tmp_path, clock)
    yield bot
    bot.stop()


@pytest.fixture
def homed_bot(
    slack: SlackEmulator, target: DeployTarget, tmp_path: Path, clock: ManualClock
) -> Iterator[RunningBot]:
    bot = bot_with(slack, target, tmp_path, clock, deployments_channel=DEPLOYS)
    yield bot
    bot.stop()


def card_message(bot: RunningBot, deployment_id: str) -> dict[str, Any]:
    deployment = deployments.get(bot.deps.store, deployment_id)
    assert deployment.channel_id and deployment.card_ts, deployment
    found = bot.slack.message(deployment.channel_id, deployment.card_ts)
    assert found is not None
    return dict(found)


def approve_by_typing(bot: RunningBot, deployment_id: str, approver: str) -> dict[str, Any]:
    sent = bot.driver.slash(f"approve {deployment_id}", user_id=approver)
    (reply,) = bot.slack.wait_for_response(sent.response_id or "", timeout=20)
    bot.settle()
    return dict(reply)


def test_asked_where_the_bot_cannot_post_the_requester_gets_the_card_in_a_dm(
    plain_bot: RunningBot, target: DeployTarget
) -> None:
    reply = base.command(plain_bot, base.DEPLOY, channel_id="C0RANDOM")
    assert reply["text"] == "DEP-1 requested: waiting for 2 approval(s)."
    shown = reply["blocks"][0]["text"]["text"]
    assert "The card is in your direct messages with the bot." in shown
    assert "not_in_channel" not in shown
    deployment = deployments.get(plain_bot.deps.store, "DEP-1")
    assert deployment.channel_id and deployment.channel_id.startswith("D")
    assert plain_bot.slack.messages("C0RANDOM") == []
    assert "DEP-1: payments v2.1.1 → production" in card_message(plain_bot, "DEP-1")["text"]

    approved = approve_by_typing(plain_bot, "DEP-1", "U0BOB")
    assert "The card is in <@U0ALICE>'s direct messages with the bot." in str(approved["blocks"])
    approve_by_typing(plain_bot, "DEP-1", "U0CAROL")
    assert deployments.get(plain_bot.deps.store, "DEP-1").state is State.SUCCEEDED
    assert card_message(plain_bot, "DEP-1")["text"].endswith("Succeeded")  # edited in the DM


def test_asked_where_the_bot_cannot_post_the_card_goes_to_the_deployments_channel(
    homed_bot: RunningBot, target: DeployTarget
) -> None:
    reply = base.command(homed_bot, base.DEPLOY, channel_id="C0RANDOM")
    assert f"The card is in <#{DEPLOYS}>." in reply["blocks"][0]["text"]["text"]
    assert deployments.get(homed_bot.deps.store, "DEP-1").channel_id == DEPLOYS
    buttons = [
        e["action_id"]
        for b in card_message(homed_bot, "DEP-1")["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    assert buttons == ["hotfix_deploy_approve", "hotfix_deploy_reject"]


def test_a_terminal_request_is_relayed_to_the_deployments_channel_by_the_serving_bot(
    homed_bot: RunningBot, target: DeployTarget, tmp_path: Path
) -> None:
    config = cli_config(tmp_path, target, tmp_path / "bot.db", deployments_channel=DEPLOYS)
    asked = run(config, *PRODUCTION, "--no-wait")
    assert asked.returncode == 0, asked.stdout + asked.stderr
    assert "DEP-1 requested: waiting for 2 approval(s)." in asked.stdout
    assert f"The card is in #{DEPLOYS}." in asked.stdout or f"<#{DEPLOYS}>" in asked.stdout
    assert outbox.depth(homed_bot.deps.store) == 1  # waiting for the bot's next tick

    assert homed_bot.deps.chat.drain_outbox() == [DEPLOYS]  # what the bot's tick does
    card = card_message(homed_bot, "DEP-1")
    assert "DEP-1: payments v2.1.1 → production" in card["text"]
    assert [m["ts"] for m in homed_bot.slack.messages(DEPLOYS)] == [card["ts"]]  # no "late" note

    # Steered in Slack on the real card, like any other.
    base.click(homed_bot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    base.click(homed_bot, "hotfix_deploy_approve", "DEP-1", "U0CAROL")
    assert deployments.get(homed_bot.deps.store, "DEP-1").state is State.SUCCEEDED
    assert card_message(homed_bot, "DEP-1")["text"].endswith("Succeeded")

    # Run by the terminal itself (no approval needed): its edits reach the same card.
    followed = run(config, "deploy", "--target=staging", "--service=payments", "--version=v2.1.2")
    assert followed.returncode == 0, followed.stdout + followed.stderr
    # Every edit of the card replaced the one queued before it: a post and one edit.
    assert [q.op for q in outbox.backlog(homed_bot.deps.store)] == ["relay_post", "relay_update"]
    assert homed_bot.deps.chat.drain_outbox() == [DEPLOYS]
    assert card_message(homed_bot, "DEP-2")["text"].endswith("Succeeded")
    cards = [m for m in homed_bot.slack.messages(DEPLOYS) if "DEP-2" in m.get("text", "")]
    assert len(cards) == 1


def test_a_relayed_card_prints_in_the_terminal_under_its_own_reference(tmp_path: Path) -> None:
    """The terminal prints the card, its edits and its thread as always; only the outbox
    (for the serving bot) holds the placeholder ts that the deployment row keeps."""
    import io

    from bot.wiring import build_deps, close_deps
    from services.chat import Message
    from services.settings import Settings

    settings = Settings.model_validate(
        {"store": {"path": str(tmp_path / "t.db")}, "deployments_channel": DEPLOYS}
    )
    deps = build_deps(settings, clock=ManualClock())
    try:
        chat: Any = deps.chat
        chat.out = io.StringIO()
        card = Message("plain", {"text": "DEP-1 requested"}, key="DEP-1:card")
        posted = chat.post(DEPLOYS, card)
        assert outbox.is_pending(posted.ts)
        chat.update(DEPLOYS, posted.ts, Message("plain", {"text": "DEP-1 approved"}))
        chat.post(DEPLOYS, Message("plain", {"text": "DEP-1 failed"}), thread_ts=posted.ts)
        chat.post("console:terminal", Message("plain", {"text": "not relayed"}))
        printed = chat.out.getvalue()
        assert "DEP-1 requested" in printed and "DEP-1 approved" in printed
        assert "DEP-1 failed" in printed and "not relayed" in printed
        assert "pending:" not in printed
        queued = outbox.backlog(deps.store)
        assert [(q.op, q.channel_id) for q in queued] == [
            ("relay_post", DEPLOYS),
            ("relay_update", DEPLOYS),
            ("relay_post", DEPLOYS),
        ]
        assert queued[1].ts == posted.ts and queued[2].thread_ts == posted.ts
    finally:
        close_deps(deps)
