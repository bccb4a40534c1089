"""A bot restart around a database migration: `up` and `down` never run twice blindly.

The engine driven directly (as tests/test_argo_rollouts_restart.py does) with a real store,
the console as chat, the command backend's scripts and real migration scripts that log
what ran. The bot "dies" (an exception nothing catches) when the card shows the migration
done, or running; on restart the deployment is interrupted and a person resumes it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from bot.wiring import build_deps, close_deps
from handlers.console.chat import ConsoleChat
from handlers.core.context import Deps
from services.chat import Message
from services.clock import ManualClock
from services.deploy import approvals, deployments, engine
from services.deploy.engine import DeployDeps
from services.deploy.model import State
from services.deploy.registry import make_backend
from services.settings import Settings
from tests.harness.deploy_requests import console_deploy
from tests.harness.deploy_target import DeployTarget
from tests.harness.pipeline_scripts import PipelineScripts

pytestmark = pytest.mark.e2e


class Crash(BaseException):
    """The bot process dying: nothing in the engine catches it."""


class DyingChat(ConsoleChat):
    """The console's chat; the process dies at the first card edit `when` matches."""

    when: Callable[[dict[str, Any]], bool] | None = None

    def update(self, channel_id: str, ts: str, message: Message) -> None:
        super().update(channel_id, ts, message)
        if (
            self.when is not None
            and message.template == "deploy_card"
            and self.when(dict(message.data))
        ):
            self.when = None
            raise Crash


@dataclass
class Bot:
    deps: Deps
    deploy: DeployDeps
    chat: DyingChat


@pytest.fixture
def bot(target: DeployTarget, tmp_path: Path, clock: ManualClock) -> Iterator[Bot]:
    scripts = PipelineScripts(tmp_path / "pipeline", target.root / "calls.log")
    settings = Settings.model_validate(
        {
            "store": {"path": str(tmp_path / "bot.db")},
            "access": {"deployers": ["U0ALICE"]},
            "services": {
                "payments": {
                    "environments": {
                        "production": target.rollback_environment(approvals=0, strategy="rolling")
                    },
                    "migrations": scripts.migrations(),
                }
            },
        }
    )
    chats: list[DyingChat] = []

    def chat(renderer: Any, _store: Any, _clock: Any) -> DyingChat:
        chats.append(DyingChat(renderer, out=io.StringIO()))
        return chats[-1]

    deps = build_deps(settings, clock=clock, chat=chat)
    deploy_deps = DeployDeps(
        settings=settings,
        store=deps.store,
        clock=clock,
        chat=deps.chat,
        backend_for=partial(make_backend, clock=clock),
    )
    yield Bot(deps, deploy_deps, chats[0])
    close_deps(deps)


def step_state(name: str, state: str) -> Callable[[dict[str, Any]], bool]:
    return lambda card: any(s["name"] == name and s["state"] == state for s in card["steps"])


def crash_and_restart(bot: Bot, when: Callable[[dict[str, Any]], bool]) -> str:
    deployment, created, _ = approvals.request(
        bot.deploy, console_deploy("v2.4.1", strategy="rolling")
    )
    assert created
    approvals.approve_without_gate(bot.deploy, deployment, actor="console:alice")
    bot.chat.when = when
    with pytest.raises(Crash):
        engine.start(bot.deploy, deployment.id)
    (found,) = engine.recover_after_restart(bot.deploy)
    assert deployments.get(bot.deps.store, found).state is State.INTERRUPTED
    return found


def test_a_restart_after_up_finished_resumes_without_migrating_again(
    bot: Bot, target: DeployTarget
) -> None:
    found = crash_and_restart(bot, step_state("migrate-up", "ok"))
    assert target.calls() == [["up", "v2.4.1", "production"]]
    engine.resume(bot.deploy, deployments.get(bot.deps.store, found), actor="console:alice")
    assert deployments.get(bot.deps.store, found).state is State.SUCCEEDED
    assert target.calls() == [["up", "v2.4.1", "production"], ["deploy", "v2.4.1"]]


def test_a_restart_while_up_ran_never_runs_it_again_and_reverts_the_data(
    bot: Bot, target: DeployTarget
) -> None:
    # The card says migrate-up is running: the process dies before the script finishes.
    found = crash_and_restart(bot, step_state("migrate-up", "running"))
    engine.resume(bot.deploy, deployments.get(bot.deps.store, found), actor="console:alice")
    d = deployments.get(bot.deps.store, found)
    assert d.state is State.ROLLED_BACK
    # Whether `up` finished is unknown: not run again; `down` (told the schema's aim) and
    # `verify` run, and the code, never rolled out, is left alone.
    assert target.calls() == [["down", "v2.1.0", "production"], ["verify", "v2.1.0", "production"]]
    steps = {s["step"]: s for s in deployments.steps(bot.deps.store, found)}
    assert steps["migrate-up"]["state"] == "failed"
    assert "interrupted by a restart" in steps["migrate-up"]["detail"]
    assert steps["rollback"]["state"] == "skipped"


def test_a_restart_after_down_finished_does_not_revert_the_data_twice(
    bot: Bot, target: DeployTarget
) -> None:
    deployment, _, _ = approvals.request(bot.deploy, console_deploy("v2.4.1", strategy="rolling"))
    approvals.approve_without_gate(bot.deploy, deployment, actor="console:alice")
    engine.start(bot.deploy, deployment.id)
    assert deployments.get(bot.deps.store, deployment.id).state is State.SUCCEEDED
    bot.chat.when = step_state("migrate-down", "ok")
    with pytest.raises(Crash):
        engine.rollback_now(
            bot.deploy,
            deployments.get(bot.deps.store, deployment.id),
            actor="console:alice",
            reason="requested",
            seen=State.SUCCEEDED,
        )
    (found,) = engine.recover_after_restart(bot.deploy)
    engine.resume(bot.deploy, deployments.get(bot.deps.store, found), actor="console:alice")
    assert deployments.get(bot.deps.store, found).state is State.ROLLED_BACK
    assert [c[0] for c in target.calls()] == ["up", "deploy", "rollback", "down", "verify"]
