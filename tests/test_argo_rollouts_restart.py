"""A bot restart in the middle of an Argo Rollouts update, through the deploy engine.

The engine with a real store and the console as chat; the Kubernetes emulator serving the
Rollout CRD. The bot "dies" (an exception nothing catches) while the Rollout waits at its
untimed pause; on restart the deployment is interrupted, and Resume must walk on from the
Rollout's pause rather than take the new image in its spec for a finished update.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from bot.wiring import build_deps, close_deps
from handlers.console.chat import ConsoleChat
from services.clock import ManualClock
from services.deploy import approvals, controls, deployments, engine
from services.deploy.engine import DeployDeps
from services.deploy.model import State
from services.deploy.registry import make_backend
from services.errors import ConflictError
from services.settings import Settings
from tests.harness.argo_rollouts import NAME, NS, REPO, add_rollout, require_crd, rollout_status
from tests.harness.deploy_requests import console_deploy
from tests.harness.k8s_emulator import K8sEmulator

pytestmark = pytest.mark.unit


class Crash(BaseException):
    """The bot process dying: nothing in the engine catches it."""


def test_a_restart_while_the_rollout_waits_resumes_the_update_instead_of_calling_it_done(
    k8s: K8sEmulator, tmp_path: Path
) -> None:
    require_crd()
    add_rollout(k8s)
    hooks: list[Callable[[], None]] = []

    def tick(_: float) -> None:
        k8s.tick()
        for hook in list(hooks):
            hook()

    clock = ManualClock(datetime(2026, 3, 14, 9, 0, tzinfo=UTC), on_sleep=tick)
    settings = Settings.model_validate(
        {
            "store": {"path": str(tmp_path / "bot.db")},
            "access": {"deployers": ["U0ALICE"]},
            "services": {
                "payments": {
                    "environments": {
                        "production": {
                            "backend": "argo_rollouts",
                            "strategy": "canary",
                            "approvals": 0,
                            "verify_seconds": 0,
                            "argo_rollouts": {
                                "host": k8s.url,
                                "namespace": NS,
                                "rollout": NAME,
                                "image": REPO,
                                "poll_interval_seconds": 1,
                                "step_timeout_seconds": 30,
                            },
                        }
                    }
                }
            },
        }
    )
    deps = build_deps(
        settings,
        clock=clock,
        chat=lambda renderer, _store, _clock: ConsoleChat(renderer, out=io.StringIO()),
    )
    try:
        deploy_deps = DeployDeps(
            settings=settings,
            store=deps.store,
            clock=clock,
            chat=deps.chat,
            backend_for=partial(make_backend, clock=clock),
        )
        deployment, created, _ = approvals.request(
            deploy_deps,
            console_deploy(),
        )
        assert created
        approvals.approve_without_gate(deploy_deps, deployment, actor="console:alice")

        def die_at_the_pause() -> None:
            if (rollout_status(k8s).get("pauseConditions") or [{}])[0].get("reason"):
                raise Crash

        hooks.append(die_at_the_pause)
        with pytest.raises(Crash):
            engine.start(deploy_deps, deployment.id)
        hooks.clear()

        (found,) = engine.recover_after_restart(deploy_deps)
        interrupted = deployments.get(deps.store, found)
        running_now = interrupted.detail["running_now"]
        assert running_now["version"] == "v2.1.0"  # the stable side, not the spec's image
        assert "an update to" in running_now["summary"] and "is in flight" in running_now["summary"]

        def resume_when_waiting() -> None:  # a person pressing Resume on the card
            current = deployments.get(deps.store, found)
            if current.state is State.DEPLOYING and rollout_status(k8s).get("pauseConditions"):
                with contextlib.suppress(ConflictError):  # not live yet
                    controls.operate(
                        deps.store, clock=clock, deployment=current, actor="U0BOB", command="resume"
                    )

        hooks.append(resume_when_waiting)
        engine.resume(deploy_deps, interrupted, actor="console:alice")
        assert deployments.get(deps.store, found).state is State.SUCCEEDED
        status = rollout_status(k8s)
        assert status["phase"] == "Healthy" and status["stableRS"] == status["currentPodHash"]
    finally:
        close_deps(deps)
