"""Keyboard twins of the card's buttons: deploy promote|pause|resume|abort|rollback DEP-n.

The same handlers and checks as the buttons, typed in Slack, or run from a terminal
against the bot's store while Slack is down (the canary loop reads the flags there).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.deploy import deployments
from services.deploy.model import State
from tests import test_canary_e2e as canary_e2e
from tests import test_deploy_command as base
from tests.harness.cli import run
from tests.harness.deploy_target import DeployTarget
from tests.harness.k8s_emulator import K8sEmulator
from tests.harness.running_bot import RunningBot
from tests.test_canary_e2e import SILENT, canary, splits, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Fixtures: a canary on the Kubernetes emulator with a real Prometheus; a command target.
app = canary_e2e.app
prometheus = canary_e2e.prometheus
k8s = canary_e2e.k8s
start = canary_e2e.start
dbot = base.dbot


def typed(bot: RunningBot, text: str, user: str) -> str:
    sent = bot.driver.slash(text, user_id=user)
    (reply,) = bot.slack.wait_for_response(sent.response_id or "", timeout=20)
    return str(reply["text"])


def terminal(bot: RunningBot, tmp_path: Path, *words: str) -> subprocess.CompletedProcess[str]:
    """`hotfix-bot <words>` as a trusted terminal user on the bot's own store and config."""
    settings: dict[str, Any] = bot.deps.settings.model_dump(mode="json", exclude_none=True)
    settings["access"]["console_is_trusted"] = True
    settings.pop("slack", None)
    config = tmp_path / "terminal.yml"
    config.write_text(yaml.safe_dump(settings))
    return run(config, *words)


def test_a_waiting_canary_is_resumed_and_promoted_by_typed_twins_and_from_the_terminal(
    start: Callable[..., RunningBot], k8s: K8sEmulator, tmp_path: Path
) -> None:
    bot = start(SILENT)
    canary_e2e.deploy(bot, SILENT)
    wait_until("a decision to be needed", lambda: canary(bot).get("waiting") is True)

    refused = typed(bot, "deploy resume DEP-1", "U0DAVE")
    assert "Only deployers and this environment's approvers may resume a canary." in refused
    assert canary(bot)["waiting"] is True
    resumed = typed(bot, "deploy resume DEP-1", "U0BOB")
    assert resumed == "Resumed DEP-1 at 10% (stage 1/5) (the inconclusive analysis starts over)."
    wait_until("a decision again", lambda: canary(bot).get("waiting") is True)
    assert typed(bot, "deploy pause DEP-1", "U0BOB") == "DEP-1 is already paused."

    # Slack is down: the terminal presses Promote on the bot's store.
    promoted = terminal(bot, tmp_path, "deploy", "promote", "DEP-1")
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert "Promoting DEP-1: skipping to 100%" in promoted.stdout
    bot.settle(timeout=60)
    assert deployments.get(bot.deps.store, "DEP-1").state is State.SUCCEEDED
    assert splits(k8s) == [(90, 10), (0, 100), (100, 0)]
    audited = [(a["actor"], a["action"], a["outcome"]) for a in bot.audit()]
    assert ("U0DAVE", "command:deploy resume", "refused") in audited
    assert ("U0BOB", "command:deploy resume", "ok") in audited
    assert any(a == "command:deploy promote" and o == "ok" for _, a, o in audited)


def test_a_twin_that_does_not_apply_answers_like_the_button(
    dbot: RunningBot, target: DeployTarget
) -> None:
    base.command(dbot, base.DEPLOY)
    for word, button in (("promote", "hotfix_canary_promote"), ("abort", "hotfix_canary_abort")):
        pressed = base.click(dbot, button, "DEP-1", "U0ALICE")["text"]
        assert typed(dbot, f"deploy {word} DEP-1", "U0ALICE") == pressed
        assert pressed == "DEP-1 is not running a canary now (requested)."
    assert typed(dbot, "deploy resume DEP-1", "U0ALICE") == "DEP-1 is requested, not interrupted."
    rollback = typed(dbot, "deploy rollback DEP-1", "U0ALICE")
    assert rollback.startswith("DEP-1 is waiting for approval: nothing ran yet")
    assert typed(dbot, "deploy promote DEP-42", "U0ALICE").startswith(
        "There is no deployment DEP-42."
    )
    assert target.calls() == []
