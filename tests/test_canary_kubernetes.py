"""The canary backend against the Kubernetes API emulator, through the real client.

Metrics come from a fake querier (the real Prometheus is in test_canary_e2e.py). The
clock is manual: every sleep of the canary loop ticks the emulator's controller once.
Every request the emulator received in a test must fit the Kubernetes OpenAPI spec.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from bot.wiring import build_deps, close_deps
from handlers.console.chat import ConsoleChat
from handlers.core.context import Deps
from services import timeline
from services.clock import ManualClock
from services.deploy import approvals, deployments, engine, live
from services.deploy.analysis.prometheus import QueryResult, Series
from services.deploy.backend import (
    PAUSED_BY_PERSON,
    WAITING_FOR_DECISION,
    AbortedError,
    Controls,
    DeployContext,
)
from services.deploy.backends.kubernetes.canary.backend import CanaryBackend
from services.deploy.backends.kubernetes.canary.cluster import CanaryCluster
from services.deploy.backends.kubernetes.canary.route import (
    WeightError,
    check_weights,
    find_route,
    plan_weights,
    weight_patch,
)
from services.deploy.backends.kubernetes.settings import KubernetesTarget
from services.deploy.engine import DeployDeps
from services.deploy.live import CanaryState, MetricRow, Phase
from services.deploy.model import Deployment, State
from services.deploy.registry import make_backend
from services.errors import DeployError
from services.kube.client import JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, KubeClient
from services.settings import Settings
from tests.harness.deploy_requests import console_deploy
from tests.harness.k8s_emulator import K8sEmulator, RecordedRequest
from tests.harness.k8s_reads import image, replicas

pytestmark = [pytest.mark.unit, pytest.mark.slow]

NS = "prod"
REPO = "registry.example.com/payments"
VS_PATH = "/apis/networking.istio.io/v1beta1/namespaces/prod/virtualservices/payments"
STABLE = {"host": "payments.prod.svc.cluster.local", "subset": "stable"}
CANARY = {"host": "payments.prod.svc.cluster.local", "subset": "canary"}
ERRORS = 'error_ratio{service="payments",version="v2.1.1"}'
LATENCY = 'p95{service="payments",version="v2.1.1"}'


class Ticks:
    """The clock's sleeps: tick the cluster, then run whatever the test scheduled."""

    def __init__(self, k8s: K8sEmulator) -> None:
        self.k8s = k8s
        self.count = 0
        self.hooks: list[Callable[[int], None]] = []

    def __call__(self, _: float) -> None:
        self.count += 1
        self.k8s.tick()
        for hook in list(self.hooks):
            hook(self.count)


@pytest.fixture
def ticks(k8s: K8sEmulator) -> Ticks:
    return Ticks(k8s)


@pytest.fixture
def kclock(ticks: Ticks) -> ManualClock:
    return ManualClock(datetime(2026, 3, 14, 9, 0, tzinfo=UTC), on_sleep=ticks)


def virtual_service(stable: int = 100, canary_weight: int = 0) -> dict[str, Any]:
    return {
        "hosts": ["payments.example.com"],
        "gateways": ["public"],
        "http": [
            {
                "name": "admin",
                "match": [{"uri": {"prefix": "/admin"}}],
                "route": [{"destination": {"host": "admin.prod.svc.cluster.local"}}],
            },
            {
                "name": "primary",
                "route": [
                    {"destination": dict(STABLE), "weight": stable},
                    {"destination": dict(CANARY), "weight": canary_weight},
                ],
            },
        ],
    }


@pytest.fixture
def cluster(k8s: K8sEmulator) -> K8sEmulator:
    """payments (stable, v2.1.0, 3 replicas), payments-canary (v2.1.0, 0), the VirtualService."""
    k8s.add_deployment(
        NS, "payments", image=f"{REPO}:v2.1.0", labels={"app": "payments", "track": "stable"}
    )
    k8s.add_deployment(
        NS,
        "payments-canary",
        image=f"{REPO}:v2.1.0",
        replicas=0,
        labels={"app": "payments", "track": "canary"},
    )
    k8s.add_virtual_service(NS, "payments", virtual_service())
    return k8s


def analysis_settings(**overrides: Any) -> dict[str, Any]:
    return {
        "prometheus_url": "http://prometheus.invalid:9090",
        "queries": [
            {
                "name": "canary-error-rate",
                "query": 'error_ratio{service="{service}",version="{canary}"}',
                "fail_when": ">",
                "threshold": 0.05,
            },
            {
                "name": "canary-p95-latency",
                "query": 'p95{service="{service}",version="{canary}"}',
                "fail_when": ">",
                "threshold": 0.5,
            },
        ],
        "interval_seconds": 5,
        "failure_limit": 0,
        **overrides,
    }


def target(k8s: K8sEmulator, *, analysis: bool = True, **canary_over: Any) -> KubernetesTarget:
    return KubernetesTarget.model_validate(
        {
            "host": k8s.url,
            "namespace": NS,
            "deployment": "payments",
            "image": REPO,
            "rollout_timeout_seconds": 60,
            "poll_interval_seconds": 2,
            "canary": {
                "virtual_service": "payments",
                "route": "primary",
                "stable": STABLE,
                "canary": CANARY,
                "stage_seconds": 10,
                **({"analysis": analysis_settings()} if analysis else {}),
                **canary_over,
            },
        }
    )


class Metrics:
    """A fake Prometheus: the value each query answers now (None: no data)."""

    def __init__(self) -> None:
        self.values: dict[str, float | None] = {ERRORS: 0.001, LATENCY: 0.08}
        self.calls: list[str] = []

    def query(self, promql: str, *, at: datetime | None = None) -> QueryResult:
        self.calls.append(promql)
        value = self.values[promql]
        return QueryResult("vector", () if value is None else (Series(value),))


def backend(
    k8s: K8sEmulator,
    clock: ManualClock,
    metrics: Metrics | None = None,
    *,
    hooks: DeployContext | None = None,
    kind: str = "deploy",
    **canary_over: Any,
) -> CanaryBackend:
    return CanaryBackend(
        target(k8s, **canary_over),
        clock=clock,
        kind=kind,
        querier=metrics or Metrics(),
        hooks=hooks or DeployContext(service="payments"),
    )


def never() -> bool:
    return False


def vs_writes(k8s: K8sEmulator) -> list[RecordedRequest]:
    return [r for r in k8s.requests if r.method == "PATCH" and r.path == VS_PATH]


def splits(k8s: K8sEmulator) -> list[tuple[int, int]]:
    """(stable, canary) weights of every VirtualService write, in order."""
    found = []
    for write in vs_writes(k8s):
        weights = {
            int(op["path"].split("/")[-2]): op["value"]
            for op in write.body
            if op["path"].endswith("/weight")
        }
        found.append((weights[0], weights[1]))
    return found


def weights_now(k8s: K8sEmulator) -> tuple[int, int]:
    vs = k8s.get("vs", NS, "payments")
    assert vs is not None
    route = vs["spec"]["http"][1]["route"]
    return route[0]["weight"], route[1]["weight"]


def writes(k8s: K8sEmulator) -> list[tuple[str, str | None]]:
    return [
        (
            r.path.rsplit("/", 2)[-2] if r.path.endswith("/scale") else r.path.rsplit("/", 1)[-1],
            r.content_type,
        )
        for r in k8s.requests
        if r.method != "GET"
    ]


# --------------------------------------------------------------------------- the walk


def test_a_healthy_canary_walks_every_stage_then_promotes_stable(
    cluster: K8sEmulator, kclock: ManualClock
) -> None:
    metrics = Metrics()
    hooks = DeployContext(service="payments")
    lines: list[str] = []
    detail = backend(cluster, kclock, metrics, hooks=hooks).deploy(
        "v2.1.1", progress=lines.append, should_abort=never
    )

    # Every weight written, in order: the five stages, then traffic back to the promoted stable.
    assert splits(cluster) == [(90, 10), (75, 25), (50, 50), (25, 75), (0, 100), (100, 0)]
    assert weights_now(cluster) == (100, 0)
    for write in vs_writes(cluster):
        assert write.content_type == JSON_PATCH
        assert write.query == {"fieldManager": "hotfix-bot"}
    assert vs_writes(cluster)[0].body == [
        {"op": "test", "path": "/spec/http/1/name", "value": "primary"},
        {"op": "test", "path": "/spec/http/1/route/0/destination", "value": STABLE},
        {"op": "test", "path": "/spec/http/1/route/1/destination", "value": CANARY},
        {"op": "replace", "path": "/spec/http/1/route/0/weight", "value": 90},
        {"op": "replace", "path": "/spec/http/1/route/1/weight", "value": 10},
    ]
    # The canary got the image and a replica first; stable got it only at the end.
    assert writes(cluster) == [
        ("payments-canary", STRATEGIC_MERGE_PATCH),
        ("payments-canary", MERGE_PATCH),
        *[("payments", JSON_PATCH)] * 5,
        ("payments", STRATEGIC_MERGE_PATCH),
        ("payments", JSON_PATCH),
        ("payments-canary", MERGE_PATCH),
    ]
    assert image(cluster, "payments") == f"{REPO}:v2.1.1"
    assert replicas(cluster, "payments-canary") == 0
    # Two samples (10 s pause / 5 s interval) of both queries at each of the five stages.
    assert metrics.calls.count(ERRORS) == 10 and metrics.calls.count(LATENCY) == 10
    assert detail["revision"] == "2" and detail["previous_image"] == f"{REPO}:v2.1.0"
    assert "promoted through 10→25→50→75→100%" in detail["summary"]
    last = hooks.reports[-1]
    assert last.phase is Phase.DONE and last.weight == 0
    stage_reports = [r for r in hooks.reports if r.phase is Phase.STAGE]
    assert {r.weight for r in stage_reports} == {0, 10, 25, 50, 75, 100}  # 0 before stage 1
    shown = next(r for r in stage_reports if r.weight == 50 and r.metrics[0].value != "—")
    assert shown.metrics[0] == MetricRow(
        name="canary-error-rate",
        value="0.001",
        condition="> 0.05",
        outcome="pass",
        reason="0.001, fails when > 0.05",
    )
    assert any(r.time_left_seconds == 10 for r in stage_reports)
    # The timeline's entries, from the walk's records: each stage's weight, then promotion.
    kinds = [kind for kind, _ in hooks.events]
    assert kinds == ["canary_weight"] * 5 + ["canary_promoted"]
    assert hooks.events[1] == (
        "canary_weight",
        "canary at 25% (stage 2/5), was stable 90 / canary 10",
    )
    assert hooks.events[-1] == ("canary_promoted", f"{REPO}:v2.1.1 promoted (every stage passed)")


def test_weights_are_validated_before_any_write(cluster: K8sEmulator, kclock: ManualClock) -> None:
    vs = cluster.get("vs", NS, "payments")
    assert vs is not None
    route = find_route(vs, target(cluster).canary)  # type: ignore[arg-type]
    assert (route.index, route.stable, route.canary, route.weights) == (1, 0, 1, (100, 0))
    assert plan_weights(route, 25) == (75, 25)
    for bad in (110, -5, True):
        with pytest.raises(WeightError):
            plan_weights(route, bad)  # type: ignore[arg-type]
    for weights in ((90, 20), (50, 49), (101, -1)):
        with pytest.raises(WeightError) as refused:
            weight_patch(route, weights)
        assert "must make 100" in refused.value.message
    check_weights((0, 100))
    assert not vs_writes(cluster)

    # A route weighting a third destination is refused up front.
    third = virtual_service()
    third["http"][1]["route"].append(
        {"destination": {"host": "legacy.prod.svc.cluster.local"}, "weight": 10}
    )
    third["http"][1]["route"][0]["weight"] = 90
    cluster.edit("vs", NS, "payments", {"spec": third})
    problems = backend(cluster, kclock).validate("v2.1.1")
    assert any("sends traffic to other destinations" in p for p in problems)
    assert not vs_writes(cluster)


def test_settings_refuse_a_canary_that_cannot_work(k8s: K8sEmulator) -> None:
    from pydantic import ValidationError

    from services.deploy.settings import EnvironmentSettings

    base = target(k8s).model_dump()
    with pytest.raises(ValidationError, match=r"strategy canary needs kubernetes\.canary"):
        EnvironmentSettings.model_validate(
            {"backend": "kubernetes", "strategy": "canary", "kubernetes": {**base, "canary": None}}
        )
    for stages, problem in (([10, 50], "must be 100"), ([50, 25, 100], "must increase")):
        with pytest.raises(ValidationError, match=problem):
            target(k8s, stages=stages)
    with pytest.raises(ValidationError, match="must differ"):
        target(k8s, canary=STABLE)
    with pytest.raises(ValidationError, match="must differ from deployment"):
        target(k8s, canary_deployment="payments")
    assert target(k8s).canary.stages == [10, 25, 50, 75, 100]  # type: ignore[union-attr]
    assert target(k8s).canary.virtual_service_version == "v1beta1"  # type: ignore[union-attr]


def test_validate_names_what_is_missing(k8s: K8sEmulator, kclock: ManualClock) -> None:
    k8s.add_deployment(NS, "payments", image=f"{REPO}:v2.1.0")
    problems = backend(k8s, kclock).validate("v2.1.1")
    assert any("payments-canary (canary) does not exist" in p for p in problems)
    assert any("VirtualService prod/payments does not exist" in p for p in problems)
    k8s.add_virtual_service(NS, "payments", {"http": [{"route": [{"destination": STABLE}]}]})
    problems = backend(k8s, kclock).validate("v2.1.1")
    assert any("has no http route named 'primary'" in p for p in problems)
    problems = backend(k8s, kclock, route=0).validate("v2.1.1")
    assert any("once each; it has 1 and 0" in p for p in problems)


def test_drift_is_corrected_at_the_next_poll_and_told(
    cluster: K8sEmulator, kclock: ManualClock, ticks: Ticks
) -> None:
    hooks = DeployContext(service="payments")

    def gitops(count: int) -> None:
        if weights_now(cluster) == (75, 25) and count > 0 and not hasattr(gitops, "done"):
            gitops.done = True  # type: ignore[attr-defined]
            cluster.edit("vs", NS, "payments", {"spec": virtual_service(100, 0)})

    ticks.hooks.append(gitops)
    backend(cluster, kclock, hooks=hooks).deploy("v2.1.1", progress=print, should_abort=never)

    assert splits(cluster) == [(90, 10), (75, 25), (75, 25), (50, 50), (25, 75), (0, 100), (100, 0)]
    (told,) = [a for a in hooks.announcements if "behind the bot's back" in a]
    assert (
        "at 25% (stage 2/5): found stable 100 / canary 0, set it back to stable 75 / canary 25"
        in told
    )
    assert any(kind == "canary_drift" for kind, _ in hooks.events)
    assert hooks.reports[-1].drift_corrections == 1
    assert hooks.reports[-1].last_drift == "found stable 100 / canary 0, set 75/25"


def test_a_concurrent_rewrite_of_the_route_fails_the_test_and_is_re_read(
    cluster: K8sEmulator, kclock: ManualClock
) -> None:
    canary_backend = backend(cluster, kclock)
    with KubeClient.connect(canary_backend.target) as kube:
        canary_cluster = CanaryCluster(kube, canary_backend.target)
        stale = canary_cluster.read_route()
        # Someone reorders the destinations between our read and our write.
        swapped = virtual_service()
        swapped["http"][1]["route"].reverse()
        cluster.edit("vs", NS, "payments", {"spec": swapped})
        canary_cluster.write_weights(10, route=stale)
    first, second = vs_writes(cluster)
    assert first.status == 422  # the `test` of route/0/destination failed: nothing written
    assert second.status == 200
    route = cluster.get("vs", NS, "payments")["spec"]["http"][1]["route"]  # type: ignore[index]
    assert {r["destination"]["subset"]: r["weight"] for r in route} == {"stable": 90, "canary": 10}


# --------------------------------------------------------------------------- analysis


def test_a_failed_analysis_aborts_in_one_write_and_scales_the_canary_down(
    cluster: K8sEmulator, kclock: ManualClock, ticks: Ticks
) -> None:
    metrics = Metrics()
    hooks = DeployContext(service="payments")
    canary_backend = backend(cluster, kclock, metrics, hooks=hooks)

    def spike(_: int) -> None:
        if weights_now(cluster) == (75, 25):
            metrics.values[ERRORS] = 0.31

    ticks.hooks.append(spike)
    with pytest.raises(DeployError) as failed:
        canary_backend.deploy("v2.1.1", progress=print, should_abort=never)

    assert not isinstance(failed.value, AbortedError) and failed.value.changed
    message = failed.value.message
    assert message.startswith("Canary analysis failed at 25% (stage 2/5): canary-error-rate = 0.31")
    assert "fails when > 0.05" in message
    # Exactly one write took the traffic back: 100 % stable; then the canary went to 0.
    assert splits(cluster) == [(90, 10), (75, 25), (100, 0)]
    assert weights_now(cluster) == (100, 0)
    assert replicas(cluster, "payments-canary") == 0
    assert image(cluster, "payments") == f"{REPO}:v2.1.0"  # stable never changed
    (told,) = hooks.announcements
    assert "canary-error-rate = 0.31" in told and f"`{ERRORS}`" in told
    assert any(k == "canary_analysis_failed" and message.startswith(t) for k, t in hooks.events)
    assert hooks.reports[-1].phase is Phase.ABORTED
    assert hooks.reports[-1].aborted == "analysis failed"

    # The engine's rollback afterwards is a fast path: no analysis, nothing left to write.
    calls = len(metrics.calls)
    before = {"image": f"{REPO}:v2.1.0", "version": "v2.1.0"}
    undone = canary_backend.rollback(
        to_version=None, before=before, progress=print, should_abort=never
    )
    assert undone["changed"] is False and len(metrics.calls) == calls
    assert len(vs_writes(cluster)) == 3


def test_a_latency_breach_trips_the_p95_rule(cluster: K8sEmulator, kclock: ManualClock) -> None:
    metrics = Metrics()
    metrics.values[LATENCY] = 1.7
    with pytest.raises(DeployError) as failed:
        backend(cluster, kclock, metrics).deploy("v2.1.1", progress=print, should_abort=never)
    assert "canary-p95-latency = 1.7 (fails when > 0.5" in failed.value.message
    assert splits(cluster) == [(90, 10), (100, 0)]


def test_an_inconclusive_analysis_holds_the_weight_until_a_person_decides(
    cluster: K8sEmulator, kclock: ManualClock, ticks: Ticks
) -> None:
    metrics = Metrics()
    metrics.values[ERRORS] = math.nan  # 0/0: no traffic reaches the canary
    hooks = DeployContext(service="payments")
    held: list[int] = []

    def person(count: int) -> None:
        if hooks.flags.paused == WAITING_FOR_DECISION:
            held.append(count)
            if len(held) == 5:  # a while later someone fixed the traffic and pressed Resume
                metrics.values[ERRORS] = 0.0
                hooks.flags = Controls()

    ticks.hooks.append(person)
    backend(cluster, kclock, metrics, hooks=hooks).deploy(
        "v2.1.1", progress=print, should_abort=never
    )
    assert len(held) == 5
    # Held at 10 % while waiting (no write), then the stage started over and the walk went on.
    assert splits(cluster) == [(90, 10), (75, 25), (50, 50), (25, 75), (0, 100), (100, 0)]
    (told,) = hooks.announcements
    assert told.startswith("Canary analysis inconclusive at 10% (stage 1/5)")
    assert "no data: NaN" in told and "Resume" in told
    waiting = [r for r in hooks.reports if (r.analysis or "").startswith("2 inconclusive")]
    assert waiting
    assert [kind for kind, _ in hooks.events].count("canary_inconclusive") == 1


def test_pause_holds_the_weight_and_stops_the_stage_clock(
    cluster: K8sEmulator, kclock: ManualClock, ticks: Ticks
) -> None:
    metrics = Metrics()
    hooks = DeployContext(service="payments")
    paused_at: list[tuple[int, int]] = []

    def person(count: int) -> None:
        if count == 3:
            hooks.flags = Controls(PAUSED_BY_PERSON, "paused by U0BOB")
        elif hooks.flags.holding:
            paused_at.append(weights_now(cluster))
            if len(paused_at) == 20:
                hooks.flags = Controls()

    ticks.hooks.append(person)
    start = kclock.now()
    backend(cluster, kclock, metrics, hooks=hooks, stages=[20, 100]).deploy(
        "v2.1.1", progress=print, should_abort=never
    )
    assert set(paused_at) == {(80, 20)}
    assert splits(cluster) == [(80, 20), (0, 100), (100, 0)]
    # Still two samples per stage: none were taken while paused, the stage lasted longer.
    assert metrics.calls.count(ERRORS) == 4
    assert (kclock.now() - start).total_seconds() >= 20 + 2 * 20


def test_promote_skips_the_remaining_stages_and_their_analysis(
    cluster: K8sEmulator, kclock: ManualClock, ticks: Ticks
) -> None:
    metrics = Metrics()
    hooks = DeployContext(service="payments")

    def person(_: int) -> None:
        if weights_now(cluster) == (75, 25) and metrics.calls.count(ERRORS) == 3:
            hooks.flags = Controls(promote=True)

    ticks.hooks.append(person)
    detail = backend(cluster, kclock, metrics, hooks=hooks).deploy(
        "v2.1.1", progress=print, should_abort=never
    )
    assert splits(cluster) == [(90, 10), (75, 25), (0, 100), (100, 0)]
    assert metrics.calls.count(ERRORS) == 3
    assert detail["promoted_by_person"] is True and "promoted by a person" in detail["summary"]
    assert image(cluster, "payments") == f"{REPO}:v2.1.1"
    assert replicas(cluster, "payments-canary") == 0


def test_abort_is_one_write_to_stable_and_the_canary_to_zero(
    cluster: K8sEmulator, kclock: ManualClock
) -> None:
    asked = {"abort": False}

    def should_abort() -> bool:
        if weights_now(cluster) == (50, 50):
            asked["abort"] = True
        return asked["abort"]

    with pytest.raises(AbortedError) as aborted:
        backend(cluster, kclock).deploy("v2.1.1", progress=print, should_abort=should_abort)
    assert aborted.value.changed and "Abort requested at 50% (stage 3/5)" in aborted.value.message
    assert splits(cluster) == [(90, 10), (75, 25), (50, 50), (100, 0)]
    assert replicas(cluster, "payments-canary") == 0
    assert image(cluster, "payments") == f"{REPO}:v2.1.0"


def test_rollback_after_promotion_moves_nothing_and_undoes_stable(
    cluster: K8sEmulator, kclock: ManualClock
) -> None:
    canary_backend = backend(cluster, kclock)
    before = canary_backend.current().as_data()
    assert before["version"] == "v2.1.0" and before["canary_weight"] == 0
    canary_backend.deploy("v2.1.1", progress=print, should_abort=never)
    cluster.clear_requests()
    undone = canary_backend.rollback(
        to_version=None, before=before, progress=print, should_abort=never
    )
    assert not vs_writes(cluster)  # traffic was already all on stable
    assert [
        (r.path.rsplit("/", 1)[-1], r.content_type) for r in cluster.requests if r.method != "GET"
    ] == [
        ("payments", JSON_PATCH)  # rollout undo of stable
    ]
    assert image(cluster, "payments") == f"{REPO}:v2.1.0"
    assert undone["version"] == "v2.1.0"


def test_a_requested_rollback_mid_canary_takes_the_fast_path(
    cluster: K8sEmulator, kclock: ManualClock
) -> None:
    cluster.edit("vs", NS, "payments", {"spec": virtual_service(50, 50)})
    cluster.edit("deploy", NS, "payments-canary", {"spec": {"replicas": 1}})
    canary_backend = backend(cluster, kclock, kind="rollback")
    now = canary_backend.current()
    assert now.version is None and "gets 50% of the traffic" in now.summary
    done = canary_backend.rollback(to_version=None, before={}, progress=print, should_abort=never)
    assert splits(cluster) == [(100, 0)]
    assert replicas(cluster, "payments-canary") == 0
    # Stable has no earlier revision: the traffic move alone is the rollback.
    assert (
        done["changed"] is True
        and "traffic back on stable (was stable 50 / canary 50)" in done["summary"]
    )


# --------------------------------------------------------------------------- resume


def test_resume_from_a_recorded_stage_corrects_the_weights_found(
    cluster: K8sEmulator, kclock: ManualClock
) -> None:
    cluster.edit("deploy", NS, "payments-canary", {"spec": {"replicas": 1}})
    cluster.edit(
        "deploy",
        NS,
        "payments-canary",
        {
            "spec": {
                "template": {"spec": {"containers": [{"name": "app", "image": f"{REPO}:v2.1.1"}]}}
            }
        },
    )
    cluster.tick(3)
    cluster.edit("vs", NS, "payments", {"spec": virtual_service(80, 20)})  # drifted meanwhile
    recorded = {
        "phase": "stage",
        "stage": 2,
        "stages": [10, 25, 50, 75, 100],
        "weight": 50,
        "canary_version": "v2.1.1",
        "stable_version": "v2.1.0",
        "stable_image": f"{REPO}:v2.1.0",
    }
    hooks = DeployContext(service="payments", recorded=CanaryState.from_data(recorded))
    cluster.clear_requests()
    backend(cluster, kclock, hooks=hooks).deploy("v2.1.1", progress=print, should_abort=never)
    assert splits(cluster) == [(50, 50), (25, 75), (0, 100), (100, 0)]
    told = hooks.announcements[0]
    assert told == (
        "Canary resumed at 50% (stage 3/5): found stable 80 / canary 20 in VirtualService"
        " prod/payments, correcting it to 50/50. The stage's pause and analysis start over."
    )
    # The canary already ran the new image: it was not patched again.
    assert ("payments-canary", STRATEGIC_MERGE_PATCH) not in writes(cluster)


class Crash(BaseException):
    """The bot process dying: nothing in the engine catches it."""


@contextmanager
def engine_deps(
    cluster: K8sEmulator, kclock: ManualClock, tmp_path: Path
) -> Iterator[tuple[Deps, DeployDeps, io.StringIO]]:
    """The bot's dependencies (a real store, the console as chat) for the engine's canary."""
    settings = Settings.model_validate(
        {
            "store": {"path": str(tmp_path / "bot.db")},
            "access": {"deployers": ["U0ALICE"]},
            "services": {
                "payments": {
                    "environments": {
                        "production": {
                            "backend": "kubernetes",
                            "strategy": "canary",
                            "approvals": 0,
                            "verify_seconds": 0,
                            "kubernetes": target(cluster, analysis=False).model_dump(),
                        }
                    }
                }
            },
        }
    )
    out = io.StringIO()
    deps: Deps = build_deps(
        settings, clock=kclock, chat=lambda renderer, _store, _clock: ConsoleChat(renderer, out=out)
    )
    try:
        yield (
            deps,
            DeployDeps(
                settings=settings,
                store=deps.store,
                clock=kclock,
                chat=deps.chat,
                backend_for=partial(make_backend, clock=kclock),
            ),
            out,
        )
    finally:
        close_deps(deps)


def interrupted_at_half(
    cluster: K8sEmulator, ticks: Ticks, deps: Deps, deploy_deps: DeployDeps
) -> Deployment:
    """A canary deployment of v2.1.1 whose bot died at 50 %, found interrupted on restart."""
    deployment, created, _ = approvals.request(
        deploy_deps,
        console_deploy(),
    )
    assert created and deployment.before["version"] == "v2.1.0"
    approvals.approve_without_gate(deploy_deps, deployment, actor="console:alice")

    def die(_: int) -> None:
        if weights_now(cluster) == (50, 50):
            raise Crash

    ticks.hooks.append(die)
    with pytest.raises(Crash):
        engine.start(deploy_deps, deployment.id)
    ticks.hooks.remove(die)
    assert deployments.get(deps.store, deployment.id).state is State.DEPLOYING

    (found,) = engine.recover_after_restart(deploy_deps)
    interrupted = deployments.get(deps.store, found)
    assert interrupted.state is State.INTERRUPTED
    return interrupted


def test_a_restart_mid_canary_is_interrupted_then_resumes_at_the_recorded_stage(
    cluster: K8sEmulator, kclock: ManualClock, ticks: Ticks, tmp_path: Path
) -> None:
    with engine_deps(cluster, kclock, tmp_path) as (deps, deploy_deps, out):
        interrupted = interrupted_at_half(cluster, ticks, deps, deploy_deps)
        assert interrupted.detail["running_now"]["version"] is None  # mixed traffic
        assert "gets 50% of the traffic" in interrupted.detail["running_now"]["summary"]
        recorded = live.stored(interrupted.detail)
        assert recorded is not None
        assert (recorded.phase, recorded.stage, recorded.weight) == (Phase.STAGE, 2, 50)

        cluster.edit("vs", NS, "payments", {"spec": virtual_service(70, 30)})  # drift meanwhile
        cluster.clear_requests()
        engine.resume(deploy_deps, interrupted, actor="console:alice")

        done = deployments.get(deps.store, interrupted.id)
        assert done.state is State.SUCCEEDED
        assert splits(cluster) == [(50, 50), (25, 75), (0, 100), (100, 0)]
        assert image(cluster, "payments") == f"{REPO}:v2.1.1"
        assert "Canary resumed at 50% (stage 3/5): found stable 70 / canary 30" in out.getvalue()
        events = timeline.events(deps.store, incident_id=None)
        kinds = [e.kind for e in events]
        assert "canary_resumed" in kinds and kinds[-1] == "deploy_succeeded"
        # The entries' data, built from the walk's records, as the timeline has always kept it.
        by_kind = {e.kind: e.data for e in events}
        assert by_kind["canary_resumed"] == {
            "deployment_id": interrupted.id,
            "phase": "stage",
            "found": "stable 70 / canary 30",
        }
        assert by_kind["canary_weight"] == {
            "deployment_id": interrupted.id,
            "weight": 100,
            "was": [25, 75],
        }
        assert by_kind["canary_promoted"] == {"deployment_id": interrupted.id, "revision": 2}


# The live state as the walk stored it before it was typed (a dict, only the keys it had
# set, the controls overlaid), at stage 3 of 5 after one drift correction.
OLD_ROW = {
    "phase": "stage",
    "stage": 2,
    "stages": [10, 25, 50, 75, 100],
    "weight": 50,
    "canary_version": "v2.1.1",
    "canary_image": f"{REPO}:v2.1.1",
    "canary_deployment": "payments-canary",
    "stable_deployment": "payments",
    "stable_image": f"{REPO}:v2.1.0",
    "stable_version": "v2.1.0",
    "virtual_service": "payments",
    "drift_corrections": 1,
    "last_drift": "found stable 100 / canary 0, set 75/25",
    "metrics": [
        {
            "name": "canary-error-rate",
            "value": "0.001",
            "condition": "> 0.05",
            "outcome": "pass",
            "reason": "0.001, fails when > 0.05",
        }
    ],
    "started_at": "2026-03-14T09:00:00+00:00",
    "stage_started_at": "2026-03-14T09:01:00+00:00",
    "stage_ends_at": "2026-03-14T09:01:10+00:00",
    "time_left_seconds": 4,
    "paused": False,
    "waiting": False,
    "pause_reason": None,
    "promote_requested": False,
}


def test_a_row_stored_in_the_old_dict_form_resumes_across_the_upgrade(
    cluster: K8sEmulator, kclock: ManualClock, ticks: Ticks, tmp_path: Path
) -> None:
    with engine_deps(cluster, kclock, tmp_path) as (deps, deploy_deps, out):
        interrupted = interrupted_at_half(cluster, ticks, deps, deploy_deps)
        # The row as the previous release wrote it (JSON in SQLite), replacing the new form.
        deps.store.conn.execute(
            "UPDATE deployments SET detail = json_set(detail, '$.canary', json(?)) WHERE id = ?",
            (json.dumps(OLD_ROW), interrupted.id),
        )
        interrupted = deployments.get(deps.store, interrupted.id)
        assert interrupted.detail["canary"] == OLD_ROW
        # Its readers (the card, the controls) read it typed.
        recorded = live.stored(interrupted.detail)
        assert recorded is not None and recorded.phase is Phase.STAGE
        assert (recorded.stage, recorded.weight, recorded.drift_corrections) == (2, 50, 1)
        assert recorded.metrics[0].outcome == "pass" and recorded.stages[-1] == 100

        cluster.clear_requests()
        engine.resume(deploy_deps, interrupted, actor="console:alice")

        done = deployments.get(deps.store, interrupted.id)
        assert done.state is State.SUCCEEDED
        # Resumed at the recorded stage (50 % as recorded: nothing corrected), then on.
        assert splits(cluster) == [(25, 75), (0, 100), (100, 0)]
        assert (
            "Canary resumed at 50% (stage 3/5): found stable 50 / canary 50 in VirtualService"
            " prod/payments, as recorded." in out.getvalue()
        )
        stored = done.detail["canary"]
        assert set(OLD_ROW) <= set(stored)  # every key the old readers knew is still written
        assert stored["phase"] == "done" and stored["drift_corrections"] == 1
        assert stored["started_at"] == OLD_ROW["started_at"]
