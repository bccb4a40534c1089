"""From the Rollback click to the cluster: the bot's overhead next to the API's own latency.

The bot runs in HTTP mode on a localhost port; Slack and Kubernetes are the
emulators, reached over real localhost HTTP with the real clients. For each
sample a deployment succeeds first, then a signed `block_actions` Rollback
click is sent and the time until the Kubernetes emulator records the first
write is taken: `rollout undo`'s patch for rolling, the Service selector
switch for blue-green. In the same run, plain GETs through the official
client measure what one API round trip costs.

    python -m bench.rollback_click [--samples 40]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import kubernetes

from bench.stats import summary_ms, table
from services.clock import ManualClock
from services.deploy import deployments
from services.deploy.model import State
from tests.harness.k8s_emulator import K8sEmulator
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator

NS = "prod"
REPO = "registry.example.com/payments"


def start(slack: SlackEmulator, k8s: K8sEmulator, tmp: Path, strategy: str) -> RunningBot:
    kubernetes_target: dict[str, object] = {
        "host": k8s.url,
        "namespace": NS,
        "deployment": "payments",
        "image": REPO,
        "poll_interval_seconds": 1,
    }
    if strategy == "blue-green":
        kubernetes_target["blue_green"] = {"service": "payments"}
    environment = {
        "backend": "kubernetes",
        "strategy": strategy,
        "kubernetes": kubernetes_target,
        "approvals": 0,
        "verify_seconds": 0,
        "immediate_rollback_severities": [],
    }
    clock = ManualClock(datetime(2026, 3, 14, 9, 0, tzinfo=UTC), on_sleep=lambda _: k8s.tick())
    return start_bot(
        slack=slack,
        store_path=tmp / f"{strategy}.db",
        clock=clock,
        extra_settings={
            "services": {"payments": {"environments": {"production": environment}}},
            "access": {"deployers": ["U0ALICE"]},
        },
    )


def wait_for_write(k8s: K8sEmulator, path: str, timeout: float = 10.0) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if any(r.method in ("PATCH", "PUT", "POST") for r in k8s.requests_matching(path=path)):
            return time.perf_counter()
        time.sleep(0.0002)
    raise TimeoutError(f"no write to {path}")


def sample(bot: RunningBot, k8s: K8sEmulator, n: int, write_path: str) -> float:
    deploy = bot.driver.slash(f"deploy --target=production --service=payments --version=v2.{n}.0")
    (reply,) = bot.slack.wait_for_response(deploy.response_id, timeout=20)
    bot.settle(timeout=30)
    if not reply["text"].endswith("needs no approval: started."):
        raise RuntimeError(f"deploy refused: {reply['text']}")
    deployment_id = f"DEP-{n}"
    deployment = deployments.get(bot.deps.store, deployment_id)
    assert deployment.state is State.SUCCEEDED, deployment.state
    k8s.clear_requests()
    started = time.perf_counter()
    bot.driver.block_action(
        "hotfix_deploy_rollback",
        value=deployment_id,
        user_id="U0ALICE",
        channel_id=deployment.channel_id or "C0GENERAL",
        message_ts=deployment.card_ts,
    )
    elapsed = wait_for_write(k8s, write_path) - started
    bot.settle(timeout=30)
    assert deployments.get(bot.deps.store, deployment_id).state is State.ROLLED_BACK
    return elapsed


def api_latency(k8s: K8sEmulator, count: int) -> list[float]:
    apps = kubernetes.client.AppsV1Api(k8s.api_client())
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        apps.read_namespaced_deployment("payments", NS)
        samples.append(time.perf_counter() - started)
    return samples


def run(samples: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for strategy, path in (
        ("rolling", r"/deployments/payments$"),
        ("blue-green", r"/services/payments$"),
    ):
        with (
            SlackEmulator() as slack,
            K8sEmulator(default_mode="instant") as k8s,
            tempfile.TemporaryDirectory() as tmp,
        ):
            slack.add_user("U0ALICE", "alice")
            slack.add_channel("general", channel_id="C0GENERAL", members=("UBOT", "U0ALICE"))
            if strategy == "rolling":
                k8s.add_deployment(NS, "payments", image=f"{REPO}:v2.0.0")
            else:
                for colour in ("blue", "green"):
                    k8s.add_deployment(
                        NS,
                        f"payments-{colour}",
                        image=f"{REPO}:v2.0.0",
                        labels={"app": "payments", "color": colour},
                    )
                k8s.add_service(NS, "payments", {"app": "payments", "color": "blue"})
            bot = start(slack, k8s, Path(tmp), strategy)
            try:
                label = (
                    "rollback click → undo patch"
                    if strategy == "rolling"
                    else "rollback click → Service switch"
                )
                results[f"{label} ({strategy})"] = summary_ms(
                    [sample(bot, k8s, n + 1, path) for n in range(samples)]
                )
                if strategy == "rolling":
                    results["emulator: one GET (same run)"] = summary_ms(api_latency(k8s, 500))
            finally:
                bot.stop()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Rollback click to first Kubernetes write")
    parser.add_argument("--samples", type=int, default=40)
    args = parser.parse_args(argv)
    results = run(args.samples)
    print("Rollback click (signed block_actions) → first Kubernetes write, bot in HTTP mode")
    print(table(results))
    api = results["emulator: one GET (same run)"]
    for name, figures in results.items():
        if name.startswith("rollback"):
            print(
                f"{name}: p50 {figures['p50'] / api['p50']:.1f}x, p99 {figures['p99'] / api['p99']:.1f}x one API round trip"
            )


if __name__ == "__main__":
    main()
