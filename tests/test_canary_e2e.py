"""Canary deployments through Slack: the real bot, the Slack emulator, the Kubernetes API
emulator, and a REAL Prometheus scraping tests/harness/metrics_app.py.

Prometheus answers for real time, so the bot runs on the system clock; stages last a
second and the analysis samples every half second, so each canary takes seconds.
Rollouts in the emulator are scripted "instant" (no clock ticks them here). Every
request the emulator received must fit the Kubernetes OpenAPI spec.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from services import timeline
from services.clock import SystemClock
from services.deploy import deployments
from services.deploy.model import IN_FLIGHT, State
from services.kube.client import JSON_PATCH
from tests.harness.bot_actions import card_buttons, card_text, click, command
from tests.harness.k8s_emulator import K8sEmulator
from tests.harness.k8s_reads import image, replicas
from tests.harness.metrics_app import ERROR_RATE, P95, REQUESTS, MetricsApp
from tests.harness.prometheus_server import PrometheusServer, prometheus_binary, running_prometheus
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NS = "prod"
REPO = "registry.example.com/payments"
VS_PATH = "/apis/networking.istio.io/v1beta1/namespaces/prod/virtualservices/payments"
STABLE = {"host": "payments.prod.svc.cluster.local", "subset": "stable"}
CANARY = {"host": "payments.prod.svc.cluster.local", "subset": "canary"}

# Each test deploys its own service, so their series never mix in the shared Prometheus.
TRAFFIC: dict[str, dict[str, Any]] = {
    "pay-healthy": {"error_ratio": 0.0},
    "pay-spike": {"error_ratio": 0.5},
    "pay-slow": {"latency_seconds": 1.2},
    "pay-buttons": {"error_ratio": 0.0},
}
SILENT = "pay-silent"


def render(query: str, service: str) -> str:
    return query.replace("{service}", service).replace("{canary}", "v2.1.1")


@pytest.fixture(scope="module")
def app() -> Iterator[MetricsApp]:
    prometheus_binary()
    with MetricsApp(tick=0.1) as running:
        for service, traffic in TRAFFIC.items():
            running.set_traffic(service, "v2.1.1", **traffic)
        running.silence(SILENT, "v2.1.1")
        yield running


@pytest.fixture(scope="module")
def prometheus(
    app: MetricsApp, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    with running_prometheus([app.target], tmp_path_factory.mktemp("prometheus")) as server:
        for service in TRAFFIC:
            server.wait_for_value(render(ERROR_RATE, service))
        yield server


@pytest.fixture
def k8s(k8s: K8sEmulator) -> K8sEmulator:
    """The validated emulator (tests/harness/k8s_fixtures.py) with the stable and canary tracks."""
    emu = k8s
    emu.add_deployment(
        NS, "payments", image=f"{REPO}:v2.1.0", labels={"app": "payments", "track": "stable"}
    )
    emu.add_deployment(
        NS,
        "payments-canary",
        image=f"{REPO}:v2.1.0",
        replicas=0,
        labels={"app": "payments", "track": "canary"},
    )
    for name in ("payments", "payments-canary"):
        emu.script(NS, name, "instant")
    emu.add_virtual_service(
        NS,
        "payments",
        {
            "hosts": ["payments.example.com"],
            "http": [
                {
                    "name": "primary",
                    "route": [
                        {"destination": STABLE, "weight": 100},
                        {"destination": CANARY, "weight": 0},
                    ],
                }
            ],
        },
    )
    return emu


@pytest.fixture
def start(
    slack: SlackEmulator, k8s: K8sEmulator, prometheus: PrometheusServer, tmp_path: Path
) -> Iterator[Callable[..., RunningBot]]:
    slack.add_user("U0CAROL", "carol")
    slack.add_user("U0DAVE", "dave")
    slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
    started: list[RunningBot] = []

    def run(service: str, *, stage_seconds: float = 1, **analysis: Any) -> RunningBot:
        environment = {
            "backend": "kubernetes",
            "strategy": "canary",
            "approvers": ["U0BOB", "U0CAROL"],
            "approvals": 1,
            "verify_seconds": 0,
            "kubernetes": {
                "host": k8s.url,
                "namespace": NS,
                "deployment": "payments",
                "image": REPO,
                "rollout_timeout_seconds": 20,
                "poll_interval_seconds": 0.1,
                "canary": {
                    "virtual_service": "payments",
                    "route": "primary",
                    "stable": STABLE,
                    "canary": CANARY,
                    "stage_seconds": stage_seconds,
                    "card_update_seconds": 1,
                    "analysis": {
                        "prometheus_url": prometheus.url,
                        "queries": [
                            {
                                "name": "canary-error-rate",
                                "query": ERROR_RATE,
                                "fail_when": ">",
                                "threshold": 0.05,
                            },
                            {
                                "name": "canary-p95-latency",
                                "query": P95,
                                "fail_when": ">",
                                "threshold": 0.5,
                            },
                        ],
                        "min_requests": {"query": REQUESTS, "minimum": 10},
                        "interval_seconds": 0.5,
                        "failure_limit": 0,
                        **analysis,
                    },
                },
            },
        }
        bot = start_bot(
            slack=slack,
            store_path=tmp_path / f"bot{len(started)}.db",
            clock=SystemClock(),  # Prometheus answers for real time
            extra_settings={
                "services": {service: {"environments": {"production": environment}}},
                "access": {"deployers": ["U0ALICE"]},
                "incidents": {"announcement_channel": "C0INCIDENTS"},
            },
        )
        started.append(bot)
        return bot

    yield run
    for bot in started:
        for deployment in deployments.in_states(bot.deps.store, set(IN_FLIGHT)):
            deployments.request_abort(bot.deps.store, deployment.id)  # a failed test's canary
        bot.settle(timeout=30)
        bot.stop()


# --------------------------------------------------------------------------- helpers


def deploy(bot: RunningBot, service: str, channel: str = "C0GENERAL") -> str:
    reply = command(
        bot,
        f"deploy --target=production --service={service} --version=v2.1.1 --strategy=canary",
        settle=False,
        channel_id=channel,
    )
    assert reply["text"] == "DEP-1 requested: waiting for 1 approval(s).", reply
    click(bot, "hotfix_deploy_approve", "DEP-1", "U0BOB", settle=False)
    return "DEP-1"


def canary(bot: RunningBot, deployment_id: str = "DEP-1") -> dict[str, Any]:
    found = deployments.get(bot.deps.store, deployment_id).detail.get("canary")
    return dict(found) if isinstance(found, dict) else {}


def wait_until(what: str, predicate: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"waited {timeout}s for {what}"
        time.sleep(0.05)


def splits(k8s: K8sEmulator) -> list[tuple[int, int]]:
    found = []
    for write in k8s.requests_matching("PATCH", VS_PATH + "$"):
        assert write.content_type == JSON_PATCH
        weights = {
            int(op["path"].split("/")[-2]): op["value"]
            for op in write.body
            if op["path"].endswith("/weight")
        }
        found.append((weights[0], weights[1]))
    return found


def states(bot: RunningBot, deployment_id: str = "DEP-1") -> list[str]:
    return [
        e.data["state"]["new"]
        for e in timeline.events(bot.deps.store, incident_id=None)
        if e.kind.startswith("deploy_")
        and "state" in e.data
        and e.data.get("deployment_id") == deployment_id
    ]


def sev1_war_room(bot: RunningBot) -> str:
    """Declare a SEV1 incident; its war room's channel id."""
    command(bot, 'incident create --severity=sev1 --title="Payments failing"')
    room = bot.deps.store.query_one("SELECT channel_id FROM incidents WHERE id = 'INC-1'")
    assert room and room["channel_id"]
    return str(room["channel_id"])


def war_room(bot: RunningBot, channel: str = "C0GENERAL") -> list[str]:
    return [m.get("text", "") for m in bot.slack.messages(channel)]


# --------------------------------------------------------------------------- the tests


def test_a_healthy_canary_promotes_through_every_stage(
    start: Callable[..., RunningBot], k8s: K8sEmulator, slack: SlackEmulator
) -> None:
    bot = start("pay-healthy")
    deploy(bot, "pay-healthy")
    wait_until("the card at stage 2", lambda: "stage 2/5" in card_text(bot))
    live = card_text(bot)
    print(live)
    assert "*Canary* 25% → v2.1.1 · 75% → stable v2.1.0 · stage 2/5" in live
    assert "`canary-error-rate`" in live and "(fails when &gt; 0.05)" in live
    assert card_buttons(bot) == [
        "hotfix_canary_promote",
        "hotfix_canary_pause",
        "hotfix_canary_abort",
    ]
    bot.settle(timeout=60)

    deployment = deployments.get(bot.deps.store, "DEP-1")
    assert deployment.state is State.SUCCEEDED, deployment.detail
    assert splits(k8s) == [(90, 10), (75, 25), (50, 50), (25, 75), (0, 100), (100, 0)]
    assert image(k8s, "payments") == f"{REPO}:v2.1.1"
    assert replicas(k8s, "payments-canary") == 0
    assert states(bot) == ["approved", "validating", "deploying", "verifying", "succeeded"]
    text = card_text(bot)
    assert "promoted: stable runs v2.1.1, canary scaled to 0" in text
    assert ":large_green_circle: `canary-error-rate` 0 (fails when &gt; 0.05)" in text
    # One card, edited in place, and not at every poll.
    cards = [c for c in slack.calls_to("chat.postMessage") if "DEP-1" in str(c.args.get("text"))]
    assert len(cards) == 1
    edits = [c for c in slack.calls_to("chat.update") if c.args.get("ts") == deployment.card_ts]
    assert 5 < len(edits) < 60
    weights = [
        e for e in timeline.events(bot.deps.store, incident_id=None) if e.kind == "canary_weight"
    ]
    assert len(weights) == 5


def test_an_error_spike_aborts_and_tells_the_war_room_which_query_failed(
    start: Callable[..., RunningBot], k8s: K8sEmulator
) -> None:
    bot = start("pay-spike")
    deploy(bot, "pay-spike")
    bot.settle(timeout=60)

    deployment = deployments.get(bot.deps.store, "DEP-1")
    assert deployment.state is State.ROLLED_BACK
    assert splits(k8s) == [(90, 10), (100, 0)]  # the abort: ONE write back to stable
    assert replicas(k8s, "payments-canary") == 0
    assert image(k8s, "payments") == f"{REPO}:v2.1.0"
    assert states(bot) == [
        "approved",
        "validating",
        "deploying",
        "failed",
        "rolling_back",
        "rolled_back",
    ]
    (told,) = [t for t in war_room(bot) if "Canary analysis failed" in t]
    assert "Canary analysis failed at 10% (stage 1/5): canary-error-rate = 0.5" in told
    assert render(ERROR_RATE, "pay-spike") in told
    audit = [a for a in bot.audit() if a["action"] == "canary_analysis_failed:DEP-1"]
    assert audit and audit[0]["actor"] == "hotfix-bot"
    assert "aborted (analysis failed)" in card_text(bot)


def test_a_latency_breach_trips_the_p95_rule(
    start: Callable[..., RunningBot], k8s: K8sEmulator
) -> None:
    bot = start("pay-slow")
    deploy(bot, "pay-slow")
    bot.settle(timeout=60)
    assert deployments.get(bot.deps.store, "DEP-1").state is State.ROLLED_BACK
    (told,) = [t for t in war_room(bot) if "Canary analysis failed" in t]
    assert "canary-p95-latency = 1.4" in told and "fails when &gt; 0.5" in told
    assert "canary-error-rate" not in told.split("Quer")[0]
    assert splits(k8s) == [(90, 10), (100, 0)]


def test_a_silent_canary_waits_for_a_person_and_resume_and_promote_work(
    start: Callable[..., RunningBot], k8s: K8sEmulator
) -> None:
    bot = start(SILENT)
    deploy(bot, SILENT)
    wait_until("a decision to be needed", lambda: "Waiting for a decision" in card_text(bot))
    text = card_text(bot)
    assert "*Waiting for a decision:* inconclusive" in text and "too little traffic" in text
    assert card_buttons(bot) == [
        "hotfix_canary_promote",
        "hotfix_canary_resume",
        "hotfix_canary_abort",
    ]
    assert any("Canary analysis inconclusive at 10% (stage 1/5)" in t for t in war_room(bot))
    assert splits(k8s) == [(90, 10)]  # held, not passed

    refused = click(bot, "hotfix_canary_resume", "DEP-1", "U0DAVE", settle=False)
    assert "Only deployers and this environment's approvers" in refused["text"]
    assert canary(bot)["waiting"] is True

    reply = click(bot, "hotfix_canary_resume", "DEP-1", "U0BOB", settle=False)
    assert reply["text"] == (
        "Resumed DEP-1 at 10% (stage 1/5) (the inconclusive analysis starts over)."
    )
    wait_until("the analysis to start over", lambda: not canary(bot).get("waiting"))
    # Still no traffic: it holds again rather than passing.
    wait_until("a decision again", lambda: canary(bot).get("waiting") is True)
    reply = click(bot, "hotfix_canary_promote", "DEP-1", "U0ALICE", settle=False)
    assert reply["text"].startswith("Promoting DEP-1: skipping to 100%")
    bot.settle(timeout=60)

    deployment = deployments.get(bot.deps.store, "DEP-1")
    assert deployment.state is State.SUCCEEDED
    assert deployment.detail["deployed"]["promoted_by_person"] is True
    assert splits(k8s) == [(90, 10), (0, 100), (100, 0)]
    assert image(k8s, "payments") == f"{REPO}:v2.1.1"
    clicks = [
        (e.actor, e.kind)
        for e in timeline.events(bot.deps.store, incident_id=None)
        if e.kind.startswith("canary_") and e.actor != "hotfix-bot"
    ]
    assert clicks == [("U0BOB", "canary_resume"), ("U0ALICE", "canary_promote")]
    outcomes = [(a["actor"], a["action"], a["outcome"]) for a in bot.audit()]
    assert ("U0DAVE", "click:hotfix_canary_resume", "refused") in outcomes


def test_pause_abort_and_promote_from_slack_then_the_rollback_fast_path(
    start: Callable[..., RunningBot], k8s: K8sEmulator, slack: SlackEmulator
) -> None:
    bot = start("pay-buttons", stage_seconds=30)
    room_id = sev1_war_room(bot)

    # DEP-1: paused by an approver, then aborted by the deployer.
    deploy(bot, "pay-buttons", channel=room_id)
    wait_until("stage 1", lambda: "stage 1/5" in card_text(bot))
    reply = click(bot, "hotfix_canary_pause", "DEP-1", "U0CAROL", settle=False)
    assert reply["text"].startswith("Paused DEP-1 at 10% (stage 1/5)")
    assert "*Paused* (paused by U0CAROL)" in card_text(bot)
    assert "hotfix_canary_resume" in card_buttons(bot)
    assert (
        click(bot, "hotfix_canary_pause", "DEP-1", "U0BOB", settle=False)["text"]
        == "DEP-1 is already paused."
    )
    reply = click(bot, "hotfix_canary_abort", "DEP-1", "U0ALICE", settle=False)
    assert reply["text"].startswith("Aborting DEP-1")
    bot.settle(timeout=30)
    assert deployments.get(bot.deps.store, "DEP-1").state is State.ROLLED_BACK
    assert splits(k8s) == [(90, 10), (100, 0)]
    assert replicas(k8s, "payments-canary") == 0
    kinds = [(e.actor, e.kind) for e in timeline.events(bot.deps.store, incident_id="INC-1")]
    assert ("U0CAROL", "canary_pause") in kinds and ("U0ALICE", "canary_abort") in kinds

    # DEP-2: promoted from Slack at stage 1 without waiting for the stages.
    began = time.monotonic()
    reply = command(
        bot,
        "deploy --target=production --service=pay-buttons --version=v2.1.1",
        settle=False,
        channel_id=room_id,
    )
    assert reply["text"] == "DEP-2 requested: waiting for 1 approval(s)."
    click(bot, "hotfix_deploy_approve", "DEP-2", "U0BOB", settle=False)
    wait_until("stage 1", lambda: "stage 1/5" in card_text(bot, "DEP-2"))
    click(bot, "hotfix_canary_promote", "DEP-2", "U0CAROL", settle=False)
    bot.settle(timeout=30)
    assert deployments.get(bot.deps.store, "DEP-2").state is State.SUCCEEDED
    assert time.monotonic() - began < 20  # far less than 5 stages of 30 s
    assert image(k8s, "payments") == f"{REPO}:v2.1.1"
    assert splits(k8s)[2:] == [(90, 10), (0, 100), (100, 0)]

    # /hotfix rollback during the incident: no approval, no analysis, stable undone.
    began = time.monotonic()
    reply = command(
        bot,
        "rollback --target=production --service=pay-buttons --immediate",
        channel_id=room_id,
    )
    rollback = deployments.get(bot.deps.store, "DEP-3")
    assert rollback.state is State.ROLLED_BACK, rollback.detail
    assert time.monotonic() - began < 10
    assert image(k8s, "payments") == f"{REPO}:v2.1.0"
    assert len(splits(k8s)) == 5  # the traffic was already all on stable: nothing to move
    assert "stable: back on" in rollback.detail["rolled_back"]["summary"]


def test_a_rollback_typed_during_a_canary_names_who_asked_like_the_abort_button(
    start: Callable[..., RunningBot], k8s: K8sEmulator, slack: SlackEmulator
) -> None:
    bot = start("pay-typed", stage_seconds=30)
    room_id = sev1_war_room(bot)
    deploy(bot, "pay-typed", channel=room_id)
    wait_until("stage 1", lambda: "stage 1/5" in card_text(bot))
    reply = command(
        bot,
        "rollback --target=production --service=pay-typed",
        channel_id=room_id,
        user_id="U0ALICE",
    )
    assert reply["text"] == "Rollback requested: DEP-1 stops and rolls back."
    bot.settle(timeout=30)
    assert deployments.get(bot.deps.store, "DEP-1").state is State.ROLLED_BACK
    asked = [
        (e.actor, e.text)
        for e in timeline.events(bot.deps.store, incident_id="INC-1")
        if e.kind == "canary_abort"
    ]
    assert asked == [("U0ALICE", "DEP-1: canary abort requested by U0ALICE at 10% (stage 1/5)")]
