"""/hotfix verify --auto-rollback on Kubernetes: a failing endpoint rolls the Deployment back.

The bot, the Slack emulator and the Kubernetes API emulator as in
tests/test_deploy_kubernetes_e2e.py (its fixtures are reused: the bot's sleeps tick the
cluster's rollout controller; the health endpoint answers for the version the cluster serves).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.deploy import deployments
from services.deploy.model import State
from services.pipeline import records
from services.pipeline.records import RunState
from tests.harness.bot_actions import command, war_room
from tests.harness.k8s_emulator import K8sEmulator
from tests.harness.k8s_reads import image
from tests.harness.running_bot import RunningBot
from tests.test_deploy_kubernetes_e2e import NS, REPO, Health

# The fixtures of the Kubernetes deploy tests (a re-export registers them here too).
from tests.test_deploy_kubernetes_e2e import health as health
from tests.test_deploy_kubernetes_e2e import start as start

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_failing_endpoint_rolls_the_deployment_back_on_the_cluster(
    start: Callable[..., RunningBot],
    k8s: K8sEmulator,
    health: Health,
) -> None:
    k8s.add_deployment(NS, "payments", image=f"{REPO}:v2.1.0")
    bot = start(approvals=0, endpoints={"critical": [{"url": health.url, "body_contains": '"ok"'}]})
    room = war_room(bot)
    reply = command(
        bot, "deploy --target=production --version=v2.1.1 --service=payments", channel_id=room
    )
    assert reply["text"] == "DEP-1 needs no approval: started."
    assert image(k8s, "payments") == f"{REPO}:v2.1.1"

    health.bad.add("v2.1.1")
    command(bot, "verify --endpoints=critical --duration=5m --auto-rollback", channel_id=room)
    run = records.get(bot.deps.store, "VER-1")
    assert run.state is RunState.FAILED
    assert run.detail["rollback"]["deployment_id"] == "DEP-1"
    assert deployments.get(bot.deps.store, "DEP-1").state is State.ROLLED_BACK
    assert image(k8s, "payments") == f"{REPO}:v2.1.0"
