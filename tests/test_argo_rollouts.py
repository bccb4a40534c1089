"""The Argo Rollouts backend against the Kubernetes emulator serving the Rollout CRD.

Real HTTP through the official client; every object and patch is validated against the
CRD's schema by the emulator (422 when invalid) and nothing the bot writes may be pruned as
unknown. The clock is manual: every sleep of the backend's poll ticks the Rollout controller;
the card's buttons are the in-memory context's flags, set by the test between ticks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import kubernetes.client
import pytest

from services.clock import ManualClock
from services.deploy.backend import (
    PAUSED_BY_PERSON,
    WAITING_FOR_DECISION,
    AbortedError,
    AlreadyThereError,
    Controls,
    DeployContext,
)
from services.deploy.backends.argo_rollouts import BACKEND
from services.deploy.backends.argo_rollouts.backend import ArgoRolloutsBackend
from services.deploy.backends.argo_rollouts.settings import ArgoRolloutsTarget
from services.deploy.live import Phase
from services.deploy.registry import BACKENDS
from services.errors import DeployError
from services.kube.client import JSON_PATCH, MERGE_PATCH, KubeForbiddenError
from tests.harness.argo_rollouts import (
    NAME,
    NS,
    PATH,
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

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def crd(k8s: K8sEmulator) -> Iterator[None]:
    require_crd()
    yield
    assert k8s.pruned == [], "fields the Rollout CRD does not declare were written"


class Cluster:
    """The manual clock's sleeps: tick the Rollout controller, then the test's hooks."""

    def __init__(self, k8s: K8sEmulator) -> None:
        self.k8s = k8s
        self.ticks = 0
        self.hooks: list[Callable[[int], None]] = []

    def __call__(self, _: float) -> None:
        self.ticks += 1
        self.k8s.tick()
        for hook in list(self.hooks):
            hook(self.ticks)


@pytest.fixture
def cluster(k8s: K8sEmulator) -> Cluster:
    return Cluster(k8s)


@pytest.fixture
def context() -> DeployContext:
    return DeployContext(service=NAME)


@pytest.fixture
def make(
    k8s: K8sEmulator, cluster: Cluster, context: DeployContext
) -> Callable[..., ArgoRolloutsBackend]:
    def build(
        strategy: str = "canary", kind: str = "deploy", **settings: Any
    ) -> ArgoRolloutsBackend:
        target = ArgoRolloutsTarget(
            host=k8s.url,
            namespace=NS,
            rollout=NAME,
            image=REPO,
            poll_interval_seconds=1,
            step_timeout_seconds=30,
            **settings,
        )
        clock = ManualClock(datetime(2026, 3, 14, 9, 0, tzinfo=UTC), on_sleep=cluster)
        return ArgoRolloutsBackend(
            target, strategy=strategy, clock=clock, kind=kind, context=context
        )

    return build


def resume_when_waiting(context: DeployContext) -> Callable[[int], None]:
    """A person who clicks Resume whenever the card asks for a decision."""

    def hook(_: int) -> None:
        if context.flags.paused == WAITING_FOR_DECISION:
            context.flags = Controls()

    return hook


def lines() -> tuple[list[str], Callable[[str], None]]:
    said: list[str] = []
    return said, said.append


def never() -> bool:
    return False


# --------------------------------------------------------------------------- deploy


def test_a_canary_walks_its_steps_to_healthy_and_resume_promotes_past_the_untimed_pause(
    k8s: K8sEmulator, cluster: Cluster, context: DeployContext, make: Callable[..., Any]
) -> None:
    add_rollout(k8s)
    cluster.hooks.append(resume_when_waiting(context))
    said, progress = lines()
    result = make().deploy("v2.1.1", progress=progress, should_abort=never)

    assert result["image"] == f"{REPO}:v2.1.1"
    assert result["revision"] == "2"
    assert result["previous_image"] == f"{REPO}:v2.1.0"
    status = rollout_status(k8s)
    assert status["phase"] == "Healthy"
    assert status["stableRS"] == status["currentPodHash"]
    assert rollout_image(k8s) == f"{REPO}:v2.1.1"
    # The card saw every weight, and waited for a person at the untimed pause.
    walked = [(s.phase, s.weight, s.stage) for s in context.reports]
    assert (Phase.STAGE, 20, 0) in walked and (Phase.STAGE, 50, 1) in walked
    assert walked[-1] == (Phase.DONE, 100, 2)
    assert any(s.waiting for s in context.reports)
    assert context.announcements == [
        f"Rollout {NS}/{NAME} waits for a person at step 2/4 (CanaryPauseStep): Resume on the"
        f" card, or kubectl argo rollouts promote {NAME} -n {NS}."
    ]
    assert context.reports[-1].extra["rollout_phase"] == "Healthy"
    # The writes the plugin would make: set the image (test + replace), then promote.
    writes = bot_writes(k8s)
    assert writes[0] == (
        "PATCH",
        "",
        [
            {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "app"},
            {
                "op": "replace",
                "path": "/spec/template/spec/containers/0/image",
                "value": f"{REPO}:v2.1.1",
            },
        ],
    )
    assert writes[1:] == [("PATCH", "/status", {"status": {"pauseConditions": None}})]
    assert [r.content_type for r in k8s.requests_matching("PATCH", PATH)] == [
        JSON_PATCH,
        MERGE_PATCH,
    ]
    assert "Paused: step 2/4, weight 20% (CanaryPauseStep)" in said


def test_blue_green_waits_for_promotion_then_switches_the_active_service(
    k8s: K8sEmulator, cluster: Cluster, context: DeployContext, make: Callable[..., Any]
) -> None:
    blue_green(k8s)
    seen: list[dict[str, Any]] = []

    def promote_when_waiting(_: int) -> None:
        if context.flags.paused == WAITING_FOR_DECISION:
            seen.append(rollout_status(k8s))
            context.flags = Controls(paused=WAITING_FOR_DECISION, promote=True)

    cluster.hooks.append(promote_when_waiting)
    result = make("blue-green").deploy("v2.1.1", progress=lambda _: None, should_abort=never)

    assert result["strategy"] == "blue-green"
    waiting = seen[0]
    assert waiting["phase"] == "Paused"
    assert waiting["pauseConditions"][0]["reason"] == "BlueGreenPause"
    assert waiting["blueGreen"]["previewSelector"] == waiting["currentPodHash"]
    assert waiting["blueGreen"]["activeSelector"] == waiting["stableRS"]
    status = rollout_status(k8s)
    assert status["phase"] == "Healthy"
    assert status["blueGreen"]["activeSelector"] == status["currentPodHash"]
    active = k8s.get("svc", NS, "payments-active")
    assert active is not None
    assert active["spec"]["selector"]["rollouts-pod-template-hash"] == status["currentPodHash"]
    assert ("PATCH", "/status", {"status": {"promoteFull": True}}) in bot_writes(k8s)


def test_pause_and_resume_buttons_set_spec_paused_like_the_plugin(
    k8s: K8sEmulator, cluster: Cluster, context: DeployContext, make: Callable[..., Any]
) -> None:
    add_rollout(k8s, strategy={"canary": {"steps": [{"setWeight": 30}, {"setWeight": 60}]}})
    held: list[dict[str, Any]] = []

    def buttons(tick: int) -> None:
        if tick == 1:
            context.flags = Controls(paused=PAUSED_BY_PERSON, reason="paused by carol")
        elif tick == 5:
            held.append(rollout(k8s))
            context.flags = Controls()

    cluster.hooks.append(buttons)
    make().deploy("v2.1.1", progress=lambda _: None, should_abort=never)

    paused = held[0]
    assert paused["spec"]["paused"] is True
    assert paused["status"]["phase"] == "Paused"
    assert paused["status"]["message"] == "manually paused"
    writes = [body for method, _, body in bot_writes(k8s)[1:]]
    assert writes == [{"spec": {"paused": True}}, {"spec": {"paused": False}}]
    assert rollout_status(k8s)["phase"] == "Healthy"
    assert any(s.paused for s in context.reports)


def test_promote_skips_the_remaining_steps_with_promote_full(
    k8s: K8sEmulator, cluster: Cluster, context: DeployContext, make: Callable[..., Any]
) -> None:
    add_rollout(k8s)
    cluster.hooks.append(lambda tick: setattr(context, "flags", Controls(promote=True)))
    result = make().deploy("v2.1.1", progress=lambda _: None, should_abort=never)

    assert result["promoted_by_person"] is True
    assert bot_writes(k8s)[1:] == [("PATCH", "/status", {"status": {"promoteFull": True}})]
    status = rollout_status(k8s)
    assert status["phase"] == "Healthy" and status["currentStepIndex"] == 4
    assert context.reports[-1].promoted_by_person


# --------------------------------------------------------------------------- abort & rollback


def test_abort_sets_status_abort_and_the_rollback_undoes_to_the_stable_revision(
    k8s: K8sEmulator, cluster: Cluster, context: DeployContext, make: Callable[..., Any]
) -> None:
    add_rollout(k8s)
    backend = make()
    before = backend.current().as_data()
    abort = {"now": False}
    cluster.hooks.append(lambda tick: abort.update(now=tick >= 1))
    with pytest.raises(AbortedError, match="Abort requested at step 2/4"):
        backend.deploy("v2.1.1", progress=lambda _: None, should_abort=lambda: abort["now"])

    status = rollout_status(k8s)
    assert status["abort"] is True and "abortedAt" in status
    assert status["phase"] == "Degraded"
    assert status["message"] == "RolloutAborted: Rollout aborted update to revision 2"
    assert context.reports[-1].phase is Phase.ABORTED
    canary = [rs for rs in k8s.rollout_replica_sets(NS, NAME) if rs["spec"]["replicas"] == 0]
    assert len(canary) == 1  # scaled away; the stable ReplicaSet carries everything
    assert ("PATCH", "/status", {"status": {"abort": True}}) in bot_writes(k8s)

    done = backend.rollback(
        to_version=None, before=before, progress=lambda _: None, should_abort=never
    )
    assert done["image"] == f"{REPO}:v2.1.0"
    assert done["restored_revision"] == "1"
    assert rollout_image(k8s) == f"{REPO}:v2.1.0"
    status = rollout_status(k8s)
    assert status["phase"] == "Healthy" and status["stableRS"] == status["currentPodHash"]
    method, _, undo = bot_writes(k8s)[-1]
    assert method == "PATCH" and [op["path"] for op in undo] == ["/spec/template"]
    assert "rollouts-pod-template-hash" not in undo[0]["value"]["metadata"]["labels"]


def test_a_degraded_rollout_fails_the_deploy_and_the_rollback_aborts_then_undoes(
    k8s: K8sEmulator, context: DeployContext, make: Callable[..., Any]
) -> None:
    add_rollout(k8s)
    k8s.script_rollout(NS, NAME, "degraded", deadline_ticks=3)
    backend = make()
    before = backend.current().as_data()
    with pytest.raises(DeployError, match="ProgressDeadlineExceeded"):
        backend.deploy("v2.1.1", progress=lambda _: None, should_abort=never)
    assert context.reports[-1].phase is Phase.ABORTED

    said, progress = lines()
    done = backend.rollback(to_version=None, before=before, progress=progress, should_abort=never)
    assert done["image"] == f"{REPO}:v2.1.0"
    assert said[0] == f"aborting the update of Rollout {NS}/{NAME}: traffic back to stable"
    writes = [body for _, _, body in bot_writes(k8s)[1:]]
    assert writes[0] == {"status": {"abort": True}}
    assert writes[1][0]["path"] == "/spec/template"
    assert rollout_status(k8s)["phase"] == "Healthy"


def test_an_analysis_failure_aborts_the_rollout_and_the_deploy_says_so(
    k8s: K8sEmulator, make: Callable[..., Any]
) -> None:
    add_rollout(k8s, strategy={"canary": {"steps": [{"setWeight": 20}, {"analysis": {}}]}})
    k8s.script_rollout(NS, NAME, "aborts", at_step=1)
    with pytest.raises(DeployError, match=r'RolloutAborted: .*Metric "error-rate" assessed Failed'):
        make().deploy("v2.1.1", progress=lambda _: None, should_abort=never)
    assert rollout_status(k8s)["abort"] is True


def test_rollback_mode_abort_only_aborts_and_leaves_the_spec(
    k8s: K8sEmulator, make: Callable[..., Any]
) -> None:
    add_rollout(k8s)
    k8s.script_rollout(NS, NAME, "degraded")
    backend = make(rollback="abort")
    with pytest.raises(DeployError):
        backend.deploy("v2.1.1", progress=lambda _: None, should_abort=never)
    done = backend.rollback(to_version=None, before={}, progress=lambda _: None, should_abort=never)
    assert "aborted: traffic back on the stable ReplicaSet" in done["summary"]
    assert rollout_image(k8s) == f"{REPO}:v2.1.1"
    assert [body for _, _, body in bot_writes(k8s)[1:]] == [{"status": {"abort": True}}]
    with pytest.raises(AlreadyThereError, match="is already aborted: there is nothing to abort"):
        make(rollback="abort", kind="rollback").rollback(
            to_version=None, before={}, progress=lambda _: None, should_abort=never
        )


def test_a_rollback_after_a_finished_update_undoes_to_the_previous_revision_or_a_named_one(
    k8s: K8sEmulator, make: Callable[..., Any]
) -> None:
    add_rollout(k8s, strategy={"canary": {"steps": [{"setWeight": 50}]}})
    make().deploy("v2.1.1", progress=lambda _: None, should_abort=never)
    make().deploy("v2.1.2", progress=lambda _: None, should_abort=never)

    done = make(kind="rollback").rollback(
        to_version=None, before={}, progress=lambda _: None, should_abort=never
    )
    assert done["image"] == f"{REPO}:v2.1.1" and done["revision"] == "4"
    done = make(kind="rollback").rollback(
        to_version="v2.1.0", before={}, progress=lambda _: None, should_abort=never
    )
    assert done["image"] == f"{REPO}:v2.1.0"
    with pytest.raises(AlreadyThereError, match="skipped rollback"):
        make(kind="rollback").rollback(
            to_version="v2.1.0", before={}, progress=lambda _: None, should_abort=never
        )
    with pytest.raises(DeployError, match=r"No revision .* ran version v9\. Available: v2\.1\.0"):
        make(kind="rollback").rollback(
            to_version="v9", before={}, progress=lambda _: None, should_abort=never
        )


# --------------------------------------------------------------------------- refusals


def test_a_missing_rollout_and_a_forbidden_one_are_refused_with_a_clear_message(
    k8s: K8sEmulator, make: Callable[..., Any]
) -> None:
    (problem,) = make().validate("v2.1.1")
    assert problem.startswith(f"Rollout {NS}/{NAME} does not exist: check argo_rollouts.namespace")
    with pytest.raises(DeployError, match="does not exist") as missing:
        make().deploy("v2.1.1", progress=lambda _: None, should_abort=never)
    assert missing.value.changed is False

    add_rollout(k8s)
    k8s.fail_next("GET", f"{PATH}$", 403, message='rollouts.argoproj.io "payments" is forbidden')
    with pytest.raises(KubeForbiddenError) as refused:
        make().deploy("v2.1.1", progress=lambda _: None, should_abort=never)
    assert "the cluster refused" in refused.value.message
    assert '"get" on rollouts.argoproj.io in namespace prod' in (refused.value.hint or "")
    assert bot_writes(k8s) == []


@pytest.mark.parametrize(
    "version",
    ["v2.1.1\nrm -rf /", "v" * 10_000, "v2.1.1\u202e", "\u200fv2.1.1", "v2 1"],
    ids=["newline", "10KB", "rtl-override", "rtl-mark", "space"],
)
def test_a_hostile_version_is_refused_before_anything_is_written(
    k8s: K8sEmulator, make: Callable[..., Any], version: str
) -> None:
    add_rollout(k8s)
    problems = make().validate(version)
    assert problems and "is not an image tag" in problems[0]
    assert len(problems[0]) < 300  # a 10 KB version is not echoed whole
    with pytest.raises(DeployError, match="is not an image tag") as refused:
        make().deploy(version, progress=lambda _: None, should_abort=never)
    assert refused.value.changed is False
    assert bot_writes(k8s) == []


def test_validate_names_a_strategy_mismatch_a_wrong_repository_and_an_update_in_flight(
    k8s: K8sEmulator, make: Callable[..., Any]
) -> None:
    add_rollout(k8s, version="v2.1.0")
    assert make().validate("v2.1.1") == []
    (mismatch,) = make("blue-green").validate("v2.1.1")
    assert "uses strategy canary, but this environment says blue-green" in mismatch
    k8s.edit(
        "Rollout",
        NS,
        NAME,
        {
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "app", "image": "other.example.com/x:v1"}]}
                }
            }
        },
    )
    problems = make().validate("v2.1.1")
    assert any("not from the configured repository" in p for p in problems)
    assert any("an update of Rollout prod/payments is in progress" in p for p in problems)


def test_the_backend_type_declares_its_section_strategies_and_checks() -> None:
    assert BACKENDS["argo_rollouts"] is BACKEND
    assert BACKEND.strategies == ("canary", "blue-green")
    target = ArgoRolloutsTarget(namespace=NS, rollout=NAME, image=REPO)
    assert BACKEND.problems(target, "canary") == []
    (rolling,) = BACKEND.problems(target, "rolling")
    assert "follows the Rollout's own strategy" in rolling
    assert BACKEND.query_values(target) == {"namespace": NS}


# --------------------------------------------------------------------------- the emulator


def test_the_emulator_refuses_a_patch_the_crd_schema_rejects_with_422_and_its_causes(
    k8s: K8sEmulator,
) -> None:
    add_rollout(k8s)
    api = kubernetes.client.CustomObjectsApi(k8s.api_client())
    args = ("argoproj.io", "v1alpha1", NS, "rollouts", NAME)
    with pytest.raises(kubernetes.client.ApiException) as bad_status:
        api.patch_namespaced_custom_object_status(
            *args, {"status": {"abort": "yes"}}, _content_type=MERGE_PATCH
        )
    body = json.loads(bad_status.value.body)
    assert bad_status.value.status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueTypeInvalid",
            "message": 'Invalid value: "string": status.abort in body must be of type boolean:'
            ' "string"',
            "field": "status.abort",
        }
    ]
    steps = [{"op": "replace", "path": "/spec/strategy/canary/steps/0/setWeight", "value": "x"}]
    with pytest.raises(kubernetes.client.ApiException) as bad_step:
        api.patch_namespaced_custom_object(*args, steps, _content_type=JSON_PATCH)
    assert bad_step.value.status == 422
    assert "spec.strategy.canary.steps[0].setWeight" in json.loads(bad_step.value.body)["message"]
    no_service = {
        "spec": {"strategy": {"canary": None, "blueGreen": {"autoPromotionEnabled": False}}}
    }
    with pytest.raises(kubernetes.client.ApiException) as missing:
        api.patch_namespaced_custom_object(*args, no_service, _content_type=MERGE_PATCH)
    (cause,) = json.loads(missing.value.body)["details"]["causes"]
    assert cause == {
        "reason": "FieldValueRequired",
        "message": "Required value",
        "field": "spec.strategy.blueGreen.activeService",
    }
    assert rollout_status(k8s)["phase"] == "Healthy"  # nothing of it was stored


def test_the_emulator_prunes_fields_the_crd_does_not_declare_and_says_so(
    k8s: K8sEmulator,
) -> None:
    add_rollout(k8s)
    k8s.edit("Rollout", NS, NAME, {"spec": {"colour": "blue"}})
    assert "colour" not in rollout(k8s)["spec"]
    assert k8s.pruned == [f"Rollout {NS}/{NAME}: spec.colour"]
    k8s.pruned.clear()


# --------------------------------------------------------------------------- in flight, restarts


class Crash(BaseException):
    """The bot process dying: nothing in the backend catches it."""


def restarted(context: DeployContext, controls: Controls) -> DeployContext:
    """The context a restarted bot gives the same deployment: its recorded state, the
    controls as the store kept them."""
    again = DeployContext(service=NAME, recorded=context.recorded())
    again.flags = controls
    return again


def test_while_an_update_is_in_flight_current_reports_the_stable_side(
    k8s: K8sEmulator, cluster: Cluster, make: Callable[..., Any]
) -> None:
    add_rollout(k8s)
    new = {
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": f"{REPO}:v2.1.1"}]}}}
    }
    k8s.edit("Rollout", NS, NAME, new)
    for _ in range(3):
        cluster(1)
    assert rollout_status(k8s)["pauseConditions"][0]["reason"] == "CanaryPauseStep"

    running = make().current()
    assert (running.version, running.image, running.revision) == ("v2.1.0", f"{REPO}:v2.1.0", "1")
    assert running.summary == (
        f"{REPO}:v2.1.0 (stable, revision 1); an update to {REPO}:v2.1.1 is in flight"
        " (revision 2, Paused, step 1)"
    )

    k8s.edit(
        "Rollout", NS, NAME, {"spec": {"strategy": {"canary": {"steps": [{"setWeight": 20}]}}}}
    )
    for _ in range(3):
        cluster(1)
    assert make().current().version == "v2.1.1"


def test_a_restart_while_paused_from_the_card_lets_resume_unpause_the_rollout(
    k8s: K8sEmulator, cluster: Cluster, context: DeployContext, make: Callable[..., Any]
) -> None:
    add_rollout(k8s, strategy={"canary": {"steps": [{"setWeight": 30}, {"setWeight": 60}]}})

    def pause_then_die(tick: int) -> None:
        if tick == 1:
            context.flags = Controls(paused=PAUSED_BY_PERSON, reason="paused by carol")
        elif tick == 4:
            raise Crash

    cluster.hooks.append(pause_then_die)
    with pytest.raises(Crash):
        make().deploy("v2.1.1", progress=lambda _: None, should_abort=never)
    cluster.hooks.clear()
    assert rollout(k8s)["spec"]["paused"] is True
    recorded = context.recorded()
    assert recorded is not None and recorded.extra["paused_by_bot"] is True

    # The restarted bot: someone pressed Resume meanwhile. The step timeout (30 s) did not
    # run out while the card held the Rollout paused (40 ticks of 1 s) before.
    again = restarted(context, Controls())
    backend = ArgoRolloutsBackend(
        make().target, strategy="canary", clock=make().clock, context=again
    )
    backend.deploy("v2.1.1", progress=lambda _: None, should_abort=never)
    assert rollout(k8s)["spec"]["paused"] is False
    assert rollout_status(k8s)["phase"] == "Healthy"
    assert [body for _, _, body in bot_writes(k8s)[1:]] == [
        {"spec": {"paused": True}},
        {"spec": {"paused": False}},
    ]


def test_a_card_pause_holds_the_step_timeout_for_as_long_as_the_person_wants(
    k8s: K8sEmulator, cluster: Cluster, context: DeployContext, make: Callable[..., Any]
) -> None:
    add_rollout(k8s, strategy={"canary": {"steps": [{"setWeight": 30}, {"setWeight": 60}]}})

    def buttons(tick: int) -> None:
        if tick == 1:
            context.flags = Controls(paused=PAUSED_BY_PERSON, reason="paused by carol")
        elif tick == 100:  # the step timeout is 30 s, one tick a second
            context.flags = Controls()

    cluster.hooks.append(buttons)
    make().deploy("v2.1.1", progress=lambda _: None, should_abort=never)
    assert rollout_status(k8s)["phase"] == "Healthy" and cluster.ticks > 100


def test_a_restart_while_waiting_for_a_person_keeps_the_hold_and_resume_promotes(
    k8s: K8sEmulator, cluster: Cluster, context: DeployContext, make: Callable[..., Any]
) -> None:
    add_rollout(k8s)

    def die_when_waiting(_: int) -> None:
        if context.flags.paused == WAITING_FOR_DECISION:
            raise Crash

    cluster.hooks.append(die_when_waiting)
    with pytest.raises(Crash):
        make().deploy("v2.1.1", progress=lambda _: None, should_abort=never)
    cluster.hooks.clear()
    held = context.flags

    again = restarted(context, held)
    cluster.hooks.append(lambda tick: setattr(again, "flags", Controls()) if tick > 45 else None)
    backend = ArgoRolloutsBackend(
        make().target, strategy="canary", clock=make().clock, context=again
    )
    backend.deploy("v2.1.1", progress=lambda _: None, should_abort=never)
    assert rollout_status(k8s)["phase"] == "Healthy"
    assert again.announcements == []  # the hold was known: not asked again
    assert ("PATCH", "/status", {"status": {"pauseConditions": None}}) in bot_writes(k8s)


# --------------------------------------------------------------------------- review findings


def test_an_inconclusive_step_analysis_waits_for_a_person_and_resume_promotes_past_it(
    k8s: K8sEmulator, cluster: Cluster, context: DeployContext, make: Callable[..., Any]
) -> None:
    steps = [{"setWeight": 20}, {"analysis": {}}, {"setWeight": 50}]
    add_rollout(k8s, strategy={"canary": {"steps": steps}})
    k8s.script_rollout(NS, NAME, "inconclusive", at_step=1)
    seen: list[dict[str, Any]] = []

    def resume_after_a_while(tick: int) -> None:
        if context.flags.paused == WAITING_FOR_DECISION:
            seen.append(rollout_status(k8s))
            if len(seen) == 40:  # beyond the 30 s step timeout: a person's pace
                context.flags = Controls()

    cluster.hooks.append(resume_after_a_while)
    make().deploy("v2.1.1", progress=lambda _: None, should_abort=never)

    assert seen[0]["pauseConditions"][0]["reason"] == "InconclusiveAnalysisRun"
    assert context.announcements == [
        f"Rollout {NS}/{NAME} waits for a person at step 2/3 (InconclusiveAnalysisRun): Resume"
        f" on the card, or kubectl argo rollouts promote {NAME} -n {NS}."
    ]
    # What `kubectl argo rollouts promote` sends after an inconclusive step analysis.
    promote = {"status": {"pauseConditions": None, "controllerPause": False, "currentStepIndex": 2}}
    assert bot_writes(k8s)[1:] == [("PATCH", "/status", promote)]
    assert rollout_status(k8s)["phase"] == "Healthy"


def test_an_inconclusive_experiment_waits_for_a_person_and_resume_clears_the_pause(
    k8s: K8sEmulator, cluster: Cluster, context: DeployContext, make: Callable[..., Any]
) -> None:
    steps = [{"setWeight": 20}, {"experiment": {"templates": []}}, {"setWeight": 50}]
    add_rollout(k8s, strategy={"canary": {"steps": steps}})
    k8s.script_rollout(NS, NAME, "inconclusive", at_step=1)
    cluster.hooks.append(resume_when_waiting(context))
    make().deploy("v2.1.1", progress=lambda _: None, should_abort=never)
    assert "(InconclusiveExperiment)" in context.announcements[0]
    assert bot_writes(k8s)[1:] == [("PATCH", "/status", {"status": {"pauseConditions": None}})]
    assert rollout_status(k8s)["phase"] == "Healthy"


def test_a_refused_write_after_the_image_was_set_leaves_the_deployment_changed(
    k8s: K8sEmulator, cluster: Cluster, context: DeployContext, make: Callable[..., Any]
) -> None:
    add_rollout(k8s)
    cluster.hooks.append(lambda tick: setattr(context, "flags", Controls(promote=True)))
    k8s.fail_next("PATCH", f"{PATH}/status$", 403, message="rollouts.argoproj.io is forbidden")
    with pytest.raises(KubeForbiddenError) as refused:
        make().deploy("v2.1.1", progress=lambda _: None, should_abort=never)
    assert refused.value.changed is True  # the image is set: the engine offers a rollback
    assert rollout_image(k8s) == f"{REPO}:v2.1.1"


def test_deploying_the_version_of_an_aborted_update_again_retries_it(
    k8s: K8sEmulator, cluster: Cluster, context: DeployContext, make: Callable[..., Any]
) -> None:
    add_rollout(k8s, strategy={"canary": {"steps": [{"setWeight": 20}, {"analysis": {}}]}})
    k8s.script_rollout(NS, NAME, "aborts", at_step=1)
    with pytest.raises(DeployError, match="RolloutAborted"):
        make().deploy("v2.1.1", progress=lambda _: None, should_abort=never)
    assert rollout_status(k8s)["abort"] is True

    k8s.script_rollout(NS, NAME, "healthy")
    fresh = ArgoRolloutsBackend(
        make().target, strategy="canary", clock=make().clock, context=DeployContext(service=NAME)
    )
    said, progress = lines()
    result = fresh.deploy("v2.1.1", progress=progress, should_abort=never)
    assert said[0] == f"Rollout {NS}/{NAME} aborted its update to {REPO}:v2.1.1: retrying it"
    assert result["previous_image"] == f"{REPO}:v2.1.0"
    assert bot_writes(k8s)[-1] == ("PATCH", "/status", {"status": {"abort": False}})
    status = rollout_status(k8s)
    assert status["phase"] == "Healthy" and status["stableRS"] == status["currentPodHash"]
