"""Deployments to an Argo Rollout from Slack and from the console: the real bot, the Slack
emulator, the Kubernetes emulator serving the Rollout CRD (every write validated against its
schema), and the card's buttons pressed as Slack sends them.

The bot's clock is manual; each of its sleeps ticks the emulator's Rollout controller once
(and yields the CPU a moment, so a bot waiting for a click does not spin). A test that must
click within a timed step stops the ticks there, so a busy machine cannot let the Rollout
finish first.
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.console import Console
from bot.wiring import build_router
from handlers.core.context import Deps
from services import timeline
from services.clock import ManualClock
from services.deploy import deployments
from services.deploy.model import IN_FLIGHT, State
from tests.harness.argo_rollouts import (
    NAME,
    NS,
    REPO,
    add_rollout,
    blue_green,
    bot_writes,
    require_crd,
    rollout,
    rollout_image,
    rollout_status,
)
from tests.harness.k8s_emulator import K8sEmulator
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEPLOY = "deploy --target=production --service=payments --version=v2.1.1"
POLL = 2  # argo_rollouts.poll_interval_seconds: the deployment's sleeps


@pytest.fixture(autouse=True)
def crd(k8s: K8sEmulator) -> Iterator[None]:
    require_crd()
    yield
    assert k8s.pruned == [], "fields the Rollout CRD does not declare were written"


class Ticks:
    """The bot's sleeps: each ticks the Rollout controller once, unless stopped.

    Stopped, the deployment's polls (sleeps of POLL seconds) wait for go(), and other sleeps
    (a Retry-After from Slack while the card is edited) return without a tick: the Rollout
    stands still while the test clicks, and the card still reaches Slack.
    """

    def __init__(self, k8s: K8sEmulator) -> None:
        self.k8s = k8s
        self.pace = threading.Event()  # never set: lets the test thread and Slack's threads run
        self.moving = threading.Event()
        self.moving.set()
        self.stop_at: Callable[[], bool] | None = None

    def stop_when(self, condition: Callable[[], bool]) -> None:
        """From the first sleep that finds `condition` true until go()."""
        self.stop_at = condition

    def go(self) -> None:
        self.moving.set()

    def __call__(self, seconds: float) -> None:
        if self.stop_at is not None and self.stop_at():
            self.stop_at = None
            self.moving.clear()
        if not self.moving.is_set():
            if seconds != POLL:
                return
            assert self.moving.wait(60), "the ticks were stopped and never started again"
        self.k8s.tick()
        self.pace.wait(0.005)

    def clock(self) -> ManualClock:
        return ManualClock(datetime(2026, 3, 14, 9, 0, tzinfo=UTC), on_sleep=self)


def ticking(k8s: K8sEmulator) -> ManualClock:
    return Ticks(k8s).clock()


def argo_environment(k8s: K8sEmulator, **overrides: Any) -> dict[str, Any]:
    return {
        "backend": "argo_rollouts",
        "strategy": "canary",
        "approvers": ["U0BOB", "U0CAROL"],
        "approvals": 1,
        "verify_seconds": 0,
        "argo_rollouts": {
            "host": k8s.url,
            "namespace": NS,
            "rollout": NAME,
            "image": REPO,
            "poll_interval_seconds": POLL,
            "step_timeout_seconds": 120,
            "card_update_seconds": 0,
            **overrides,
        },
    }


@pytest.fixture
def ticks(k8s: K8sEmulator) -> Ticks:
    return Ticks(k8s)


@pytest.fixture
def bot(
    slack: SlackEmulator, k8s: K8sEmulator, ticks: Ticks, tmp_path: Path
) -> Iterator[RunningBot]:
    slack.add_user("U0CAROL", "carol")
    slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
    running = start_bot(
        slack=slack,
        store_path=tmp_path / "bot.db",
        clock=ticks.clock(),
        extra_settings={
            "services": {"payments": {"environments": {"production": argo_environment(k8s)}}},
            "access": {"deployers": ["U0ALICE"]},
            "incidents": {"announcement_channel": "C0INCIDENTS"},
        },
    )
    yield running
    ticks.go()
    for deployment in deployments.in_states(running.deps.store, set(IN_FLIGHT)):
        deployments.request_abort(running.deps.store, deployment.id)  # a failed test's rollout
    running.settle(timeout=30)
    running.stop()


def command(bot: RunningBot, text: str, *, settle: bool = True) -> dict[str, Any]:
    sent = bot.driver.slash(text)
    (reply,) = bot.slack.wait_for_response(sent.response_id, timeout=20)
    if settle:
        bot.settle(timeout=60)
    return dict(reply)


def click(bot: RunningBot, action: str, user: str, deployment_id: str = "DEP-1") -> str:
    deployment = deployments.get(bot.deps.store, deployment_id)
    sent = bot.driver.block_action(
        action,
        value=deployment_id,
        user_id=user,
        channel_id=deployment.channel_id or "C0GENERAL",
        message_ts=deployment.card_ts,
    )
    (reply,) = bot.slack.wait_for_response(sent.response_id, timeout=20)
    return str(reply["text"])


def request_and_approve(bot: RunningBot) -> None:
    reply = command(bot, DEPLOY, settle=False)
    assert reply["text"] == "DEP-1 requested: waiting for 1 approval(s).", reply
    click(bot, "hotfix_deploy_approve", "U0BOB")


def card_text(bot: RunningBot, deployment_id: str = "DEP-1") -> str:
    deployment = deployments.get(bot.deps.store, deployment_id)
    message = bot.slack.message(deployment.channel_id or "", deployment.card_ts or "")
    if message is None:
        return ""
    parts = []
    for block in message["blocks"]:
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        parts += [f["text"] for f in block.get("fields", [])]
    return "\n".join(parts)


def wait_until(what: str, predicate: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"waited {timeout}s for {what}"
        time.sleep(0.05)


def states(bot: RunningBot) -> list[str]:
    return [
        e.data["state"]["new"]
        for e in timeline.events(bot.deps.store, incident_id=None)
        if e.kind.startswith("deploy_") and "state" in e.data
    ]


# --------------------------------------------------------------------------- Slack


def test_from_slack_the_card_waits_at_the_rollouts_pause_resume_goes_on_rollback_undoes(
    bot: RunningBot, k8s: K8sEmulator
) -> None:
    add_rollout(k8s)
    request_and_approve(bot)
    wait_until("the pause step on the card", lambda: "Waiting for a decision" in card_text(bot))
    text = card_text(bot)
    assert "*Canary* 20% → v2.1.1 · 80% → stable v2.1.0 · stage 1/3" in text
    assert "CanaryPauseStep" in text
    assert rollout_status(k8s)["phase"] == "Paused"

    assert click(bot, "hotfix_canary_resume", "U0BOB").startswith("Resumed DEP-1")
    bot.settle(timeout=60)
    assert deployments.get(bot.deps.store, "DEP-1").state is State.SUCCEEDED
    assert rollout_image(k8s) == f"{REPO}:v2.1.1"
    assert rollout_status(k8s)["phase"] == "Healthy"
    assert "promoted: stable runs v2.1.1" in card_text(bot)
    assert ("PATCH", "/status", {"status": {"pauseConditions": None}}) in bot_writes(k8s)

    assert click(bot, "hotfix_deploy_rollback", "U0ALICE") == "Rolling back DEP-1."
    bot.settle(timeout=60)
    assert deployments.get(bot.deps.store, "DEP-1").state is State.ROLLED_BACK
    assert rollout_image(k8s) == f"{REPO}:v2.1.0"
    assert rollout_status(k8s)["phase"] == "Healthy"
    (_, _, undo), promote = bot_writes(k8s)[-2:]
    assert [op["path"] for op in undo] == ["/spec/template"]  # kubectl argo rollouts undo
    assert promote == ("PATCH", "/status", {"status": {"promoteFull": True}})  # ran before
    assert "Rolled back to v2.1.0" in card_text(bot)


def test_from_slack_a_blue_green_rollout_waits_on_the_card_and_promote_switches_it(
    slack: SlackEmulator, k8s: K8sEmulator, tmp_path: Path
) -> None:
    """A blue-green Rollout paused before the switch shows the card's controls, as a
    canary's pause does: Promote there is `kubectl argo rollouts promote --full`."""
    blue_green(k8s)
    slack.add_user("U0CAROL", "carol")
    environment = {**argo_environment(k8s), "strategy": "blue-green"}
    bot = start_bot(
        slack=slack,
        store_path=tmp_path / "bot.db",
        clock=ticking(k8s),
        extra_settings={
            "services": {"payments": {"environments": {"production": environment}}},
            "access": {"deployers": ["U0ALICE"]},
        },
    )
    try:
        request_and_approve(bot)
        wait_until("the switch waiting", lambda: "Waiting for a decision" in card_text(bot))
        text = card_text(bot)
        assert "BlueGreenPause" in text
        assert "*Blue-green* preview v2.1.1 · the active side stays on stable v2.1.0" in text
        assert "*Canary*" not in text
        deployment = deployments.get(bot.deps.store, "DEP-1")
        card = bot.slack.message(deployment.channel_id or "", deployment.card_ts or "")
        assert card is not None
        buttons = [
            element["action_id"]
            for block in card["blocks"]
            if block["type"] == "actions"
            for element in block["elements"]
        ]
        assert "hotfix_canary_promote" in buttons and "hotfix_canary_abort" in buttons
        assert rollout_status(k8s)["blueGreen"]["activeSelector"] == rollout_status(k8s)["stableRS"]

        assert click(bot, "hotfix_canary_promote", "U0BOB").startswith("Promoting DEP-1")
        bot.settle(timeout=60)
        assert deployments.get(bot.deps.store, "DEP-1").state is State.SUCCEEDED
        status = rollout_status(k8s)
        assert status["phase"] == "Healthy"
        assert status["blueGreen"]["activeSelector"] == status["currentPodHash"]
        assert rollout_image(k8s) == f"{REPO}:v2.1.1"
        assert "*Blue-green* :white_check_mark: promoted by a person: the active side runs" in (
            card_text(bot)
        )
    finally:
        bot.settle(timeout=30)
        bot.stop()


def test_from_slack_pause_holds_the_rollout_and_abort_aborts_it_then_it_rolls_back(
    bot: RunningBot, k8s: K8sEmulator, ticks: Ticks
) -> None:
    add_rollout(
        k8s, strategy={"canary": {"steps": [{"setWeight": 25}, {"pause": {"duration": 600}}]}}
    )
    # The click lands within the timed pause however slowly the test's threads run.
    ticks.stop_when(lambda: bool(rollout_status(k8s).get("pauseConditions")))
    request_and_approve(bot)
    wait_until("stage 1", lambda: "stage 1/2" in card_text(bot))
    assert click(bot, "hotfix_canary_pause", "U0CAROL").startswith("Paused DEP-1")
    ticks.go()
    wait_until("spec.paused", lambda: rollout(k8s)["spec"].get("paused") is True)
    wait_until("the phase", lambda: rollout_status(k8s)["phase"] == "Paused")

    assert click(bot, "hotfix_canary_abort", "U0ALICE").startswith("Aborting DEP-1")
    bot.settle(timeout=60)
    deployment = deployments.get(bot.deps.store, "DEP-1")
    assert deployment.state is State.ROLLED_BACK, states(bot)
    writes = [body for _, _, body in bot_writes(k8s)[1:]]
    assert writes[:2] == [{"spec": {"paused": True}}, {"status": {"abort": True}}]
    assert writes[2][0]["path"] == "/spec/template"  # then undo to the stable revision
    assert rollout_image(k8s) == f"{REPO}:v2.1.0"
    assert rollout_status(k8s)["phase"] == "Healthy"


def test_from_slack_a_degraded_rollout_fails_and_rolls_back_automatically(
    bot: RunningBot, k8s: K8sEmulator
) -> None:
    add_rollout(k8s)
    k8s.script_rollout(NS, NAME, "degraded", deadline_ticks=3)
    request_and_approve(bot)
    bot.settle(timeout=60)
    assert deployments.get(bot.deps.store, "DEP-1").state is State.ROLLED_BACK
    assert states(bot) == [
        "approved",
        "validating",
        "deploying",
        "failed",
        "rolling_back",
        "rolled_back",
    ]
    failed = [
        e.text
        for e in timeline.events(bot.deps.store, incident_id=None)
        if "ProgressDeadlineExceeded" in e.text
    ]
    assert failed, "the timeline does not say why the Rollout failed"
    assert rollout_image(k8s) == f"{REPO}:v2.1.0"


def test_from_slack_a_hostile_version_is_refused_before_anything_is_written(
    bot: RunningBot, k8s: K8sEmulator
) -> None:
    add_rollout(k8s)
    for version in ("v2.1.1\u202egnp", "v" * 10_000):
        reply = command(bot, f"deploy --target=production --service=payments --version={version}")
        assert "requested" not in reply["text"] and "version" in reply["text"], reply["text"]
    assert bot_writes(k8s) == []
    assert deployments.in_states(bot.deps.store, set(State)) == []


# --------------------------------------------------------------------------- the console


@pytest.fixture
def clock(k8s: K8sEmulator) -> ManualClock:  # the console's bot: its sleeps tick the Rollout
    return ticking(k8s)


@pytest.fixture
def production(k8s: K8sEmulator) -> dict[str, object]:
    return argo_environment(k8s)


@pytest.fixture(name="environment")
def console_environment(production: dict[str, object]) -> dict[str, object]:
    return production


def test_from_the_console_a_rollout_deploys_and_resume_is_pressed_by_number(
    cdeps: Deps, printed: io.StringIO, k8s: K8sEmulator
) -> None:
    add_rollout(k8s)
    alice = Console(cdeps, build_router(cdeps.settings), actor="console:alice")
    bob = Console(cdeps, build_router(cdeps.settings), actor="console:bob")
    alice.handle(DEPLOY)
    bob.handle(_number(printed.getvalue(), "Approve"))
    wait_until(
        "a decision on the card",
        lambda: bool(deployments.get(cdeps.store, "DEP-1").detail.get("canary", {}).get("waiting")),
    )
    deadline = time.monotonic() + 30
    while "Resume" not in printed.getvalue()[-3000:]:
        assert time.monotonic() < deadline, printed.getvalue()[-3000:]
        time.sleep(0.05)
    bob.handle(_number(printed.getvalue(), "Resume"))
    wait_until(
        "the deployment to finish",
        lambda: deployments.get(cdeps.store, "DEP-1").state not in IN_FLIGHT,
        timeout=60,
    )
    assert deployments.get(cdeps.store, "DEP-1").state is State.SUCCEEDED
    assert rollout_image(k8s) == f"{REPO}:v2.1.1"
    assert rollout_status(k8s)["phase"] == "Healthy"


def _number(text: str, label: str) -> str:
    found = re.findall(r"\[(\d+)\] " + re.escape(label), text)
    assert found, f"no button {label!r} in:\n{text[-2000:]}"
    return found[-1]
