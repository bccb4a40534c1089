"""A rollback's data after review i15: `/hotfix rollback --preserve-data` handed to an
interrupted deployment's own rollback keeps the flag, and a rollback whose aim is unknown
does not run `down` with the abandoned version.

The engine driven as tests/test_deploy_migrations_restart.py drives it (its fixture and
crash helper): a real store, the console, the command backend's scripts, real migration
scripts that log what ran.
"""

# ruff: noqa: F811  (bot is the restart tests' fixture, imported)

from __future__ import annotations

import io
import sys
from functools import partial
from pathlib import Path

import pytest

from bot.console import Console
from bot.wiring import build_deps, build_router, close_deps
from handlers.console.chat import ConsoleChat
from services.clock import ManualClock
from services.deploy import approvals, deployments, engine
from services.deploy.engine import DeployDeps
from services.deploy.model import State
from services.deploy.registry import make_backend
from services.settings import Settings
from tests.harness.deploy_requests import console_deploy
from tests.harness.deploy_target import DeployTarget
from tests.harness.pipeline_scripts import PipelineScripts
from tests.test_deploy_migrations_restart import (  # noqa: F401 (fixture)
    Bot,
    bot,
    crash_and_restart,
    step_state,
)

pytestmark = pytest.mark.e2e


def steps_of(bot: Bot, deployment_id: str) -> dict[str, dict[str, str]]:
    return {s["step"]: s for s in deployments.steps(bot.deps.store, deployment_id)}


def test_rollback_preserve_data_handed_to_an_interrupted_deploy_runs_no_down(
    bot: Bot, target: DeployTarget
) -> None:
    found = crash_and_restart(bot, step_state("migrate-up", "ok"))
    assert target.calls() == [["up", "v2.4.1", "production"]]
    console = Console(bot.deps, build_router(bot.deps.settings), actor="console:alice")
    console.handle("rollback --target=production --service=payments --preserve-data")
    assert bot.deps.worker.drain(timeout=60)
    d = deployments.get(bot.deps.store, found)
    assert d.state is State.ROLLED_BACK and d.detail.get("preserve_data") is True
    assert target.calls() == [["up", "v2.4.1", "production"]]  # no down, no verify
    down = steps_of(bot, found)["migrate-down"]
    assert down["state"] == "skipped" and "--preserve-data" in down["detail"]
    said = [
        e
        for e in bot.deps.store.query("SELECT kind, text FROM timeline")
        if e["kind"] == "deploy_preserve_data"
    ]
    assert said and found in said[0]["text"] and "no down-migration" in said[0]["text"]


def test_a_rollback_whose_aim_is_unknown_says_run_down_by_hand(
    target: DeployTarget, tmp_path: Path, clock: ManualClock
) -> None:
    scripts = PipelineScripts(tmp_path / "pipeline", target.root / "calls.log")
    python = sys.executable
    # No status command: the bot cannot tell what ran before the deploy.
    blind = {
        "deploy": [python, str(target.root / "deploy.py"), "{version}"],
        "rollback": [python, str(target.root / "rollback.py"), "{version}", "{environment}"],
        "timeout_seconds": 30,
    }
    settings = Settings.model_validate(
        {
            "store": {"path": str(tmp_path / "bot.db")},
            "services": {
                "payments": {
                    "environments": {
                        "production": target.rollback_environment(
                            approvals=0, strategy="rolling", command=blind
                        )
                    },
                    "migrations": scripts.migrations(),
                }
            },
        }
    )
    deps = build_deps(
        settings, clock=clock, chat=lambda r, _s, _c: ConsoleChat(r, out=io.StringIO())
    )
    try:
        deploy_deps = DeployDeps(
            settings=settings,
            store=deps.store,
            clock=clock,
            chat=deps.chat,
            backend_for=partial(make_backend, clock=clock),
        )
        scripts.fail("up")  # a failed up: the data is rolled back, to... nobody knows
        deployment, _, _ = approvals.request(
            deploy_deps, console_deploy("v2.4.1", strategy="rolling")
        )
        approvals.approve_without_gate(deploy_deps, deployment, actor="console:alice")
        engine.start(deploy_deps, deployment.id)
        assert deployments.get(deps.store, deployment.id).state is State.ROLLED_BACK
        # `down` to v2.4.1 (the abandoned version) would be a no-op passing the wrong schema.
        assert [c[0] for c in target.calls()] == ["up"]
        down = {s["step"]: s for s in deployments.steps(deps.store, deployment.id)}["migrate-down"]
        assert down["state"] == "skipped"
        assert "unknown, so down is NOT run: run it by hand:" in down["detail"]
        assert "step.py" in down["detail"] and "{version}" in down["detail"]
    finally:
        close_deps(deps)
