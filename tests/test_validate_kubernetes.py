"""/hotfix validate's configuration check against a Kubernetes target: the real client over
real HTTP to the Kubernetes emulator, through the bot and the Slack emulator."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from services.clock import ManualClock
from services.pipeline import records
from services.pipeline.records import RunState
from tests.harness.argo_rollouts import require_crd
from tests.harness.bot_actions import command
from tests.harness.k8s_emulator import K8sEmulator
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NS = "staging"
REPO = "registry.example.com/payments"
VALIDATE = (
    "validate --environment=staging --test-suite=critical-path --service=payments --version=v2.1.1"
)


@pytest.fixture
def start(
    slack: SlackEmulator, k8s: K8sEmulator, tmp_path: Path, clock: ManualClock
) -> Iterator[Callable[..., RunningBot]]:
    started: list[RunningBot] = []

    def run(**overrides: Any) -> RunningBot:
        environment = {
            "backend": "kubernetes",
            "kubernetes": {
                "host": k8s.url,
                "namespace": NS,
                "deployment": "payments",
                "image": REPO,
            },
            "suites": {"critical-path": [[sys.executable, "-c", "print('ok')"]]},
            **overrides,
        }
        environment = {k: v for k, v in environment.items() if v is not None}
        bot = start_bot(
            slack=slack,
            store_path=tmp_path / "bot.db",
            clock=clock,
            extra_settings={
                "services": {"payments": {"environments": {"staging": environment}}},
                "access": {"deployers": ["U0ALICE"]},
            },
        )
        started.append(bot)
        return bot

    yield run
    for bot in started:
        bot.stop()


def configuration(bot: RunningBot) -> dict[str, object]:
    run = records.get(bot.deps.store, "VAL-1")
    (row,) = [c for c in run.detail["checks"] if c["name"] == "configuration"]
    return dict(row)


def card(bot: RunningBot) -> str:
    run = records.get(bot.deps.store, "VAL-1")
    assert run.channel_id and run.card_ts
    message = bot.slack.message(run.channel_id, run.card_ts)
    assert message is not None
    return str(message["blocks"])


def test_a_target_as_configured_passes(start: Callable[..., RunningBot], k8s: K8sEmulator) -> None:
    # It runs the version validated: the suite (no {version} in it) tests it where it runs.
    k8s.add_deployment(NS, "payments", image=f"{REPO}:v2.1.1")
    bot = start()
    # --test-suite left out: the environment's only suite.
    reply = command(bot, VALIDATE.replace(" --test-suite=critical-path", ""))
    assert "of critical-path on payments/staging" in reply["text"], reply
    assert records.get(bot.deps.store, "VAL-1").state is RunState.PASSED
    assert configuration(bot)["state"] == "passed"
    assert records.get(bot.deps.store, "VAL-1").detail["running_version"] == "v2.1.1"
    # Reads only: validation changes nothing in the cluster.
    assert not k8s.requests_matching("PATCH") and not k8s.requests_matching("PUT")


def test_an_image_from_another_repository_is_caught(
    start: Callable[..., RunningBot], k8s: K8sEmulator
) -> None:
    k8s.add_deployment(NS, "payments", image="docker.io/someone/payments:v2.1.0")
    bot = start()
    command(bot, VALIDATE)
    assert records.get(bot.deps.store, "VAL-1").state is RunState.FAILED
    row = configuration(bot)
    assert row["state"] == "failed"
    assert (
        f"Deployment staging/payments runs docker.io/someone/payments:v2.1.0, which is not from"
        f" the configured repository {REPO}"
    ) in str(row["output"])
    assert "not from the configured repository" in card(bot)


def test_missing_deployment_container_and_unready_replicas_are_caught(
    start: Callable[..., RunningBot], k8s: K8sEmulator
) -> None:
    bot = start()
    command(bot, VALIDATE)
    assert "Deployment staging/payments does not exist" in str(configuration(bot)["output"])

    k8s.add_deployment(NS, "payments", image=f"{REPO}:v2.1.0", container="web")
    k8s.edit("deployment", NS, "payments", {"spec": {"replicas": 5}})  # not ready yet
    command(bot, VALIDATE.replace("v2.1.1", "v2.1.2"))
    run = records.get(bot.deps.store, "VAL-2")
    (row,) = [c for c in run.detail["checks"] if c["name"] == "configuration"]
    assert "has no container 'app' (it has: web)" in row["output"]
    assert "has 3 of 5 desired replicas ready" in row["output"]


def test_blue_green_checks_the_colour_that_serves(
    start: Callable[..., RunningBot], k8s: K8sEmulator
) -> None:
    k8s.add_deployment(NS, "payments-blue", image=f"{REPO}:v2.1.0")
    k8s.add_deployment(NS, "payments-green", image="docker.io/someone/payments:v2.0.0")
    k8s.add_service(NS, "payments", {"app": "payments", "color": "green"})
    bot = start(
        strategy="blue-green",
        kubernetes={
            "host": k8s.url,
            "namespace": NS,
            "deployment": "payments",
            "image": REPO,
            "blue_green": {"service": "payments"},
        },
    )
    command(bot, VALIDATE)
    output = str(configuration(bot)["output"])
    assert "Deployment staging/payments-green runs docker.io/someone/payments:v2.0.0" in output
    assert "payments-blue" not in output


def test_an_argo_rollout_is_checked_like_a_deployment(
    start: Callable[..., RunningBot], k8s: K8sEmulator
) -> None:
    require_crd()
    k8s.add_rollout(NS, "payments", image="docker.io/someone/payments:v2.1.0")
    bot = start(
        backend="argo_rollouts",
        strategy="canary",
        kubernetes=None,
        argo_rollouts={"host": k8s.url, "namespace": NS, "rollout": "payments", "image": REPO},
    )
    command(bot, VALIDATE)
    output = str(configuration(bot)["output"])
    assert (
        f"Rollout staging/payments runs docker.io/someone/payments:v2.1.0, which is not from the"
        f" configured repository {REPO}"
    ) in output
