"""Deployments to Kubernetes through Slack: the real bot, the Slack emulator, the Kubernetes
API emulator, and a health endpoint that answers for whatever the "cluster" serves.

The bot's clock is manual; each of its sleeps (rollout polls, verification samples)
ticks the emulator's rollout controller once. Every request the emulator received must
fit the Kubernetes OpenAPI spec.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from services import timeline
from services.clock import ManualClock
from services.deploy import deployments
from services.deploy.model import State
from services.kube.client import JSON_PATCH, STRATEGIC_MERGE_PATCH
from tests.harness.bot_actions import card_text, click, command, war_room
from tests.harness.k8s_emulator import K8sEmulator
from tests.harness.k8s_reads import image
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NS = "prod"
REPO = "registry.example.com/payments"
DEPLOY = "deploy --target=production --service=payments --version=v2.1.1"


class Health:
    """`/healthz` answers 200 with the serving version unless that version is in `bad`."""

    def __init__(self, serving: Callable[[], str]) -> None:
        self.bad: set[str] = set()
        health = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                version = serving()
                ok = version not in health.bad
                body = json.dumps({"status": "ok" if ok else "error", "version": version}).encode()
                self.send_response(200 if ok else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/healthz"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serving_version(k8s: K8sEmulator) -> str:
    """The tag the payments Service's traffic reaches: blue-green's colour, else the Deployment."""
    service = k8s.get("svc", NS, "payments")
    name = f"payments-{service['spec']['selector']['color']}" if service else "payments"
    return image(k8s, name).rsplit(":", 1)[-1]


@pytest.fixture
def health(k8s: K8sEmulator) -> Iterator[Health]:
    server = Health(lambda: serving_version(k8s))
    yield server
    server.stop()


@pytest.fixture
def start(
    slack: SlackEmulator, k8s: K8sEmulator, health: Health, tmp_path: Path
) -> Iterator[Callable[..., RunningBot]]:
    """Start the bot with production on the emulator; the bot's sleeps tick the cluster."""
    slack.add_user("U0CAROL", "carol")
    slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
    started: list[RunningBot] = []

    def run(**production: Any) -> RunningBot:
        kubernetes = {
            "host": k8s.url,
            "namespace": NS,
            "deployment": "payments",
            "image": REPO,
            "rollout_timeout_seconds": 120,
            "poll_interval_seconds": 2,
            **production.pop("kubernetes", {}),
        }
        environment = {
            "backend": "kubernetes",
            "kubernetes": kubernetes,
            "approvers": ["U0BOB", "U0CAROL"],
            "health_checks": [{"url": health.url, "expect_status": 200, "body_contains": '"ok"'}],
            "verify_seconds": 20,
            "verify_interval_seconds": 10,
            **production,
        }
        clock = ManualClock(datetime(2026, 3, 14, 9, 0, tzinfo=UTC), on_sleep=lambda _: k8s.tick())
        bot = start_bot(
            slack=slack,
            store_path=tmp_path / f"bot{len(started)}.db",
            clock=clock,
            extra_settings={
                "services": {"payments": {"environments": {"production": environment}}},
                "access": {"deployers": ["U0ALICE"]},
                "incidents": {"announcement_channel": "C0INCIDENTS"},
            },
        )
        started.append(bot)
        return bot

    yield run
    for bot in started:
        bot.stop()


def request_and_approve(bot: RunningBot) -> str:
    room = war_room(bot)
    reply = command(bot, DEPLOY, channel_id=room)
    assert reply["text"] == "DEP-1 requested: waiting for 2 approval(s)."
    click(bot, "hotfix_deploy_approve", "DEP-1", "U0BOB")
    click(bot, "hotfix_deploy_approve", "DEP-1", "U0CAROL")
    return room


def states(bot: RunningBot) -> list[str]:
    return [
        e.data["state"]["new"]
        for e in timeline.events(bot.deps.store, incident_id="INC-1")
        if e.kind.startswith("deploy_") and "state" in e.data
    ]


def test_rolling_deploy_through_slack_then_the_rollback_button_undoes_it(
    start: Callable[..., RunningBot], k8s: K8sEmulator
) -> None:
    k8s.add_deployment(NS, "payments", image=f"{REPO}:v2.1.0")
    bot = start()
    request_and_approve(bot)

    deployment = deployments.get(bot.deps.store, "DEP-1")
    assert deployment.state is State.SUCCEEDED
    assert deployment.before["summary"] == f"{REPO}:v2.1.0 (revision 1)"
    assert deployment.detail["deployed"]["revision"] == "2"
    assert image(k8s, "payments") == f"{REPO}:v2.1.1"
    (patch,) = k8s.requests_matching("PATCH")
    assert patch.content_type == STRATEGIC_MERGE_PATCH
    text = card_text(bot, "DEP-1")
    assert ":white_check_mark: Succeeded" in text
    # What runs now, read again when the deployment ended (not what ran when it was asked for).
    assert f"*Running now*\n{REPO}:v2.1.1 (revision 2)" in text
    assert states(bot) == ["approved", "validating", "deploying", "verifying", "succeeded"]

    reply = click(bot, "hotfix_deploy_rollback", "DEP-1", "U0ALICE")
    assert reply["text"] == "Rolling back DEP-1."
    assert deployments.get(bot.deps.store, "DEP-1").state is State.ROLLED_BACK
    assert image(k8s, "payments") == f"{REPO}:v2.1.0"
    text = card_text(bot, "DEP-1")
    assert "Rolled back to v2.1.0" in text
    assert f"*Running now*\n{REPO}:v2.1.0 (revision 3)" in text
    undo = k8s.requests_matching("PATCH")[-1]
    assert undo.content_type == JSON_PATCH
    assert [op["path"] for op in undo.body] == ["/spec/template", "/metadata/annotations"]
    revisions = [
        (rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"], rs["spec"]["replicas"])
        for rs in k8s.replica_sets(NS, "payments")
    ]
    assert revisions == [("2", 0), ("3", 3)]  # revision 1's ReplicaSet, back as revision 3
    rolled = deployments.get(bot.deps.store, "DEP-1").detail["rolled_back"]
    assert rolled["restored_revision"] == "1"


def test_blue_green_deploy_through_slack_switches_the_service(
    start: Callable[..., RunningBot], k8s: K8sEmulator
) -> None:
    for colour, version in (("blue", "v2.1.0"), ("green", "v2.0.9")):
        k8s.add_deployment(
            NS,
            f"payments-{colour}",
            image=f"{REPO}:{version}",
            labels={"app": "payments", "color": colour},
        )
    k8s.add_service(NS, "payments", {"app": "payments", "color": "blue"})
    bot = start(strategy="blue-green", kubernetes={"blue_green": {"service": "payments"}})
    request_and_approve(bot)

    deployment = deployments.get(bot.deps.store, "DEP-1")
    assert deployment.state is State.SUCCEEDED
    assert deployment.before["color"] == "blue"
    assert deployment.detail["deployed"]["new_color"] == "green"
    service = k8s.get("svc", NS, "payments")
    assert service is not None and service["spec"]["selector"]["color"] == "green"
    assert image(k8s, "payments-green") == f"{REPO}:v2.1.1"
    blue = k8s.get("deploy", NS, "payments-blue")
    assert blue is not None and blue["spec"]["replicas"] == 3  # kept for a quick switch back
    assert "*Running now*\ngreen: " in card_text(bot, "DEP-1")  # read again at the end


def test_a_stuck_rollout_fails_and_rolls_back_automatically(
    start: Callable[..., RunningBot], k8s: K8sEmulator, slack: SlackEmulator
) -> None:
    k8s.add_deployment(NS, "payments", image=f"{REPO}:v2.1.0")
    k8s.script(NS, "payments", "stuck", deadline_ticks=3)
    bot = start()
    room = request_and_approve(bot)

    deployment = deployments.get(bot.deps.store, "DEP-1")
    assert deployment.state is State.ROLLED_BACK
    assert states(bot) == [
        "approved",
        "validating",
        "deploying",
        "failed",
        "rolling_back",
        "rolled_back",
    ]
    assert image(k8s, "payments") == f"{REPO}:v2.1.0"
    told = [
        m
        for m in slack.thread(room, deployment.card_ts or "")
        if "exceeded its progress deadline" in m.get("text", "")
    ]
    assert told and "Insufficient cpu" in told[0]["text"]
    writes = [(r.method, r.content_type) for r in k8s.requests if r.method != "GET"]
    assert writes == [("PATCH", STRATEGIC_MERGE_PATCH), ("PATCH", JSON_PATCH)]


def test_a_rollback_to_the_running_revision_is_skipped_like_kubectl_and_pages_nobody(
    start: Callable[..., RunningBot], k8s: K8sEmulator
) -> None:
    k8s.add_deployment(NS, "payments", image=f"{REPO}:v2.1.0")
    bot = start()
    room = request_and_approve(bot)
    writes = len(k8s.requests_matching("PATCH"))
    rollback = "rollback --target=production --service=payments --version=v2.1.1 --immediate"
    command(bot, rollback, channel_id=room)
    skipped = deployments.get(bot.deps.store, "DEP-2")
    assert skipped.state is State.ROLLBACK_SKIPPED
    assert len(k8s.requests_matching("PATCH")) == writes  # nothing written
    assert image(k8s, "payments") == f"{REPO}:v2.1.1"
    text = card_text(bot, "DEP-2")
    assert ":fast_forward: Rollback skipped" in text
    assert "skipped rollback (current template already matches revision 2" in text
    (row,) = [
        e
        for e in timeline.events(bot.deps.store, incident_id="INC-1")
        if e.kind == "deploy_rollback_skipped"
    ]
    assert row.text.startswith("DEP-2: Deployment prod/payments: skipped rollback")
    thread = bot.slack.thread(room, skipped.card_ts or "")
    assert not [m for m in thread if "did not restore" in m["text"] or "failed" in m["text"]]


def test_a_cli_rollback_of_a_paused_deployment_tells_the_terminal_why(
    k8s: K8sEmulator, tmp_path: Path
) -> None:
    """No channel: the reason still reaches whoever typed the command."""
    import yaml

    from tests.harness.cli import run_cli

    k8s.add_deployment(NS, "payments", image=f"{REPO}:v2.1.0", paused=True)
    config = tmp_path / "hotfix.yml"
    environment = {
        "backend": "kubernetes",
        "kubernetes": {"host": k8s.url, "namespace": NS, "deployment": "payments", "image": REPO},
        "approvals": 0,
    }
    config.write_text(
        yaml.safe_dump(
            {
                "store": {"path": str(tmp_path / "cli.db")},
                "access": {"deployers": ["U0ALICE"], "console_is_trusted": True},
                "services": {"payments": {"environments": {"production": environment}}},
            }
        )
    )
    result = run_cli(
        "--config",
        str(config),
        "rollback",
        "--target=production",
        "--service=payments",
        "--version=v2.0.9",
        cwd=tmp_path,
    )
    out = result.stdout
    assert "DEP-1 needs no approval: started." in out, out + result.stderr
    assert "You cannot roll back a paused Deployment (Deployment prod/payments)." in out, out
    assert "Resume it first: kubectl -n prod rollout resume deployment/payments" in out, out
    assert k8s.requests_matching("PATCH") == []


def test_a_strategy_the_target_is_not_set_up_for_is_refused_with_what_to_configure(
    start: Callable[..., RunningBot], k8s: K8sEmulator
) -> None:
    """`--strategy=blue-green` where the environment has no blue-green setup, and
    `--strategy=canary` where it may not switch: refused before anything is recorded."""
    bot = start()
    room = war_room(bot)
    reply = command(bot, f"{DEPLOY} --strategy=blue-green", channel_id=room)
    assert reply["text"] == "payments/production has no blue-green setup."
    hint = str(reply.get("blocks"))
    assert "Strategy blue-green needs kubernetes.blue_green: configure it, or use" in hint
    assert "--strategy=rolling (nothing was requested)" in hint
    reply = command(bot, f"{DEPLOY} --strategy=canary", channel_id=room)
    assert reply["text"] == "payments/production cannot deploy with strategy canary."
    assert deployments.in_states(bot.deps.store, set(State)) == []
    assert k8s.requests_matching("PATCH") == []
