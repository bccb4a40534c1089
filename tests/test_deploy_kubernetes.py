"""The Kubernetes backend against the Kubernetes API emulator, through the real client.

Rollouts move on the injected clock: every `clock.sleep` of the backend ticks the
emulator's controller once. Every request the emulator received in a test must fit
the real Kubernetes OpenAPI spec; the `k8s` fixture checks it after each test.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from services import timeline
from services.clock import ManualClock
from services.deploy import deployments
from services.deploy.backend import AbortedError, AlreadyThereError, Backend
from services.deploy.backends.kubernetes.backend import kubernetes_backend
from services.deploy.backends.kubernetes.bluegreen_cleanup import scale_down_idle
from services.deploy.backends.kubernetes.rollout import rollout_status
from services.deploy.backends.kubernetes.settings import KubernetesTarget
from services.deploy.deployments import NewDeployment
from services.deploy.model import Kind, State
from services.errors import DeployError, UserFacingError
from services.kube.client import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    KubeConflictError,
    KubeError,
    KubeForbiddenError,
    KubeNotFoundError,
    KubeUnavailableError,
)
from services.kube.images import split_image
from services.settings import Settings
from services.store import Store
from services.store.migrations import migrate
from tests.harness.k8s_emulator import K8sEmulator, RecordedRequest
from tests.harness.k8s_reads import image, replicas

pytestmark = [pytest.mark.unit, pytest.mark.slow]

NS = "prod"
REPO = "registry.example.com/payments"


@pytest.fixture
def kclock(k8s: K8sEmulator) -> ManualClock:
    return ManualClock(datetime(2026, 3, 14, 9, 0, tzinfo=UTC), on_sleep=lambda _: k8s.tick())


def target(k8s: K8sEmulator, **overrides: Any) -> KubernetesTarget:
    return KubernetesTarget.model_validate(
        {
            "host": k8s.url,
            "namespace": NS,
            "deployment": "payments",
            "image": REPO,
            "rollout_timeout_seconds": 60,
            "poll_interval_seconds": 2,
            **overrides,
        }
    )


def rolling(k8s: K8sEmulator, clock: ManualClock, kind: str = "deploy", **over: Any) -> Backend:
    return kubernetes_backend(target(k8s, **over), strategy="rolling", clock=clock, kind=kind)


def writes(k8s: K8sEmulator) -> list[RecordedRequest]:
    return [r for r in k8s.requests if r.method != "GET"]


def rs_table(k8s: K8sEmulator, name: str = "payments") -> list[tuple[str, str, int]]:
    """(revision, image tag, replicas) of the Deployment's ReplicaSets."""
    return [
        (
            rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
            split_image(rs["spec"]["template"]["spec"]["containers"][0]["image"])[1] or "",
            rs["spec"]["replicas"],
        )
        for rs in k8s.replica_sets(NS, name)
    ]


def noop(_: str) -> None:
    pass


def never() -> bool:
    return False


@pytest.fixture
def payments(k8s: K8sEmulator) -> dict[str, Any]:
    """payments at v2.1.0, revision 1, with a sidecar the deploy must leave alone."""
    return k8s.add_deployment(
        NS,
        "payments",
        image=f"{REPO}:v2.1.0",
        extra_containers=[{"name": "proxy", "image": "envoyproxy/envoy:v1.30"}],
    )


# --------------------------------------------------------------------------- rolling: deploy


def test_current_names_image_tag_and_revision(
    k8s: K8sEmulator, kclock: ManualClock, payments: dict[str, Any]
) -> None:
    now = rolling(k8s, kclock).current()
    assert (now.version, now.image, now.revision) == ("v2.1.0", f"{REPO}:v2.1.0", "1")
    assert now.summary == f"{REPO}:v2.1.0 (revision 1)"
    assert [(r.method, r.path) for r in k8s.requests] == [
        ("GET", "/apis/apps/v1/namespaces/prod/deployments/payments")
    ]


def test_healthy_rollout_patches_one_container_and_waits_like_rollout_status(
    k8s: K8sEmulator, kclock: ManualClock, payments: dict[str, Any]
) -> None:
    lines: list[str] = []
    detail = rolling(k8s, kclock).deploy("v2.1.1", progress=lines.append, should_abort=never)

    (patch,) = writes(k8s)
    assert (patch.method, patch.path) == (
        "PATCH",
        "/apis/apps/v1/namespaces/prod/deployments/payments",
    )
    assert patch.content_type == STRATEGIC_MERGE_PATCH
    assert patch.body == {
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": f"{REPO}:v2.1.1"}]}}}
    }
    assert patch.query == {"fieldManager": "hotfix-bot"}
    # The cluster runs the new image; the sidecar is untouched; the old ReplicaSet is at 0.
    assert image(k8s, "payments") == f"{REPO}:v2.1.1"
    assert image(k8s, "payments", container="proxy") == "envoyproxy/envoy:v1.30"
    assert rs_table(k8s) == [("1", "v2.1.0", 0), ("2", "v2.1.1", 3)]
    assert detail["revision"] == "2" and detail["previous_revision"] == "1"
    assert detail["summary"] == f"{REPO}:v2.1.1 rolled out (revision 2)"
    # One poll per tick, three ticks for three replicas, each status said once.
    assert lines[-1] == 'deployment "payments" successfully rolled out'
    assert "1 of 3 updated replicas are available" in " / ".join(lines) or any(
        "out of 3 new replicas" in line for line in lines
    )
    assert kclock.now() == datetime(2026, 3, 14, 9, 0, tzinfo=UTC) + timedelta(seconds=6)


def test_rollout_status_follows_kubectl() -> None:
    def deployment(generation: int = 2, **status: Any) -> dict[str, Any]:
        return {
            "metadata": {"name": "web", "generation": generation},
            "spec": {"replicas": 3},
            "status": {"observedGeneration": 2, **status},
        }

    full = {"replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}
    assert rollout_status(deployment(generation=3, **full)).message.startswith("waiting for the")
    assert rollout_status(deployment(**full)).done
    assert "1 out of 3 new" in rollout_status(deployment(updatedReplicas=1)).message
    old = rollout_status(deployment(replicas=4, updatedReplicas=3, availableReplicas=3))
    assert old.message == "1 old replicas are pending termination" and not old.done
    assert (
        "2 of 3 updated" in rollout_status(deployment(**{**full, "availableReplicas": 2})).message
    )
    deadline = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    failed = rollout_status(deployment(conditions=[deadline], **full))
    assert failed.failed and not failed.done


def test_stuck_rollout_fails_on_progress_deadline_and_says_why(
    k8s: K8sEmulator, kclock: ManualClock, payments: dict[str, Any]
) -> None:
    k8s.script(NS, "payments", "stuck", deadline_ticks=3)
    with pytest.raises(DeployError) as failed:
        rolling(k8s, kclock).deploy("v2.1.1", progress=noop, should_abort=never)
    assert failed.value.changed is True
    assert 'deployment "payments" exceeded its progress deadline' in failed.value.message
    assert "Insufficient cpu" in failed.value.message  # from the Pending pods
    assert "kubectl -n prod describe deployment/payments" in (failed.value.hint or "")


def test_crashlooping_rollout_times_out(
    k8s: K8sEmulator, kclock: ManualClock, payments: dict[str, Any]
) -> None:
    k8s.script(NS, "payments", "crashloop", deadline_ticks=1000)
    backend = rolling(k8s, kclock, rollout_timeout_seconds=10)
    with pytest.raises(DeployError) as failed:
        backend.deploy("v2.1.1", progress=noop, should_abort=never)
    assert failed.value.changed is True
    assert failed.value.message.startswith(
        "The rollout of Deployment prod/payments did not finish within 10 s:"
    )
    assert "CrashLoopBackOff" in failed.value.message
    assert image(k8s, "payments") == f"{REPO}:v2.1.1"  # the engine rolls back; the backend reports


def test_abort_during_the_wait_stops_it(
    k8s: K8sEmulator, kclock: ManualClock, payments: dict[str, Any]
) -> None:
    k8s.script(NS, "payments", "slow", ticks=10)
    asked = iter([False, False, False, True])
    with pytest.raises(AbortedError) as aborted:
        rolling(k8s, kclock).deploy("v2.1.1", progress=noop, should_abort=lambda: next(asked))
    assert aborted.value.changed is True
    assert "Rollback requested while waiting for the rollout" in aborted.value.message
    polls = k8s.requests_matching("GET", "/deployments/payments$")
    assert len(polls) == 1 + 2  # the read before the patch, then two polls
    assert kclock.now() == datetime(2026, 3, 14, 9, 0, tzinfo=UTC) + timedelta(seconds=4)


def test_a_passing_api_outage_during_the_wait_is_retried(
    k8s: K8sEmulator, kclock: ManualClock, payments: dict[str, Any]
) -> None:
    lines: list[str] = []
    k8s.script(NS, "payments", "healthy")
    backend = rolling(k8s, kclock)
    original = kclock.on_sleep

    def tick_then_fail(seconds: float) -> None:
        assert original is not None
        original(seconds)
        kclock.on_sleep = original
        k8s.fail_next("GET", r"/deployments/payments$", 503, times=2)

    kclock.on_sleep = tick_then_fail
    backend.deploy("v2.1.1", progress=lines.append, should_abort=never)
    assert image(k8s, "payments") == f"{REPO}:v2.1.1"
    assert sum("(retrying)" in line for line in lines) == 2
    assert [r.status for r in k8s.requests_matching("GET", "/deployments/payments$")].count(
        503
    ) == 2


# --------------------------------------------------------------------------- rolling: validate


def test_validate_passes_a_ready_deployment(
    k8s: K8sEmulator, kclock: ManualClock, payments: dict[str, Any]
) -> None:
    assert rolling(k8s, kclock).validate("v2.1.1") == []
    assert writes(k8s) == []


def test_validate_lists_every_problem(k8s: K8sEmulator, kclock: ManualClock) -> None:
    k8s.add_deployment(NS, "payments", image="docker.io/other/payments:v2.1.0", paused=True)
    problems = rolling(k8s, kclock, container="web").validate("v2.1.1;rm")
    assert problems == [
        "'v2.1.1;rm' is not an image tag (letters, digits, '.', '_', '-'; at most 128).",
        "Deployment prod/payments is paused: resume it first"
        " (kubectl -n prod rollout resume deployment/payments).",
        "Deployment prod/payments has no container 'web' (it has: app); check kubernetes.container.",
    ]
    wrong_repo = rolling(k8s, kclock).validate("v2.1.1")
    assert wrong_repo[-1] == (
        "Deployment prod/payments runs docker.io/other/payments:v2.1.0, which is not from the"
        f" configured repository {REPO}: check kubernetes.image in the config."
    )
    tagged = rolling(k8s, kclock, image=f"{REPO}:latest").validate("v2.1.1")
    assert any("not an image repository without tag" in p for p in tagged)


def test_validate_refuses_a_rollout_in_progress(
    k8s: K8sEmulator, kclock: ManualClock, payments: dict[str, Any]
) -> None:
    k8s.script(NS, "payments", "slow", ticks=5)
    k8s.edit(
        "deploy",
        NS,
        "payments",
        {"spec": {"template": {"metadata": {"annotations": {"restartedAt": "now"}}}}},
    )
    (problem,) = rolling(k8s, kclock).validate("v2.1.1")
    assert problem.startswith("a rollout of Deployment prod/payments is in progress: ")


def test_validate_says_when_the_deployment_or_the_cluster_is_missing(
    k8s: K8sEmulator, kclock: ManualClock
) -> None:
    assert rolling(k8s, kclock).validate("v2.1.1") == [
        "Deployment prod/payments does not exist: check kubernetes.namespace and kubernetes.deployment."
    ]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    (problem,) = rolling(k8s, kclock, host=closed).validate("v2.1.1")
    assert problem.startswith(
        f"Could not read Deployment prod/payments: cannot reach the Kubernetes API at {closed}:"
    )
    with pytest.raises(KubeUnavailableError) as down:
        rolling(k8s, kclock, host=closed).current()
    assert down.value.retryable and not down.value.changed


def test_paused_deployment_is_refused_everywhere(k8s: K8sEmulator, kclock: ManualClock) -> None:
    k8s.add_deployment(NS, "payments", image=f"{REPO}:v2.1.0", paused=True)
    assert any("is paused" in p for p in rolling(k8s, kclock).validate("v2.1.1"))
    with pytest.raises(DeployError) as deploy:
        rolling(k8s, kclock).deploy("v2.1.1", progress=noop, should_abort=never)
    with pytest.raises(DeployError) as undo:
        rolling(k8s, kclock, kind="rollback").rollback(
            to_version=None, before={}, progress=noop, should_abort=never
        )
    assert deploy.value.changed is False and undo.value.changed is False
    assert (
        undo.value.message == "You cannot roll back a paused Deployment (Deployment prod/payments)."
    )
    assert "kubectl -n prod rollout resume deployment/payments" in (undo.value.hint or "")
    assert writes(k8s) == []


def test_forbidden_patch_says_the_cluster_refused_and_to_check_rbac(
    k8s: K8sEmulator, kclock: ManualClock, payments: dict[str, Any]
) -> None:
    refusal = (
        'deployments.apps "payments" is forbidden: User "system:serviceaccount:ops:hotfix-bot"'
        ' cannot patch resource "deployments" in API group "apps" in the namespace "prod"'
    )
    k8s.fail_next("PATCH", r"/deployments/payments$", 403, "Forbidden", message=refusal)
    with pytest.raises(KubeForbiddenError) as refused:
        rolling(k8s, kclock).deploy("v2.1.1", progress=noop, should_abort=never)
    assert refused.value.message == (
        f"Could not set the image of Deployment prod/payments: the cluster refused: {refusal};"
        " check the bot's RBAC"
    )
    assert "namespace prod" in (refused.value.hint or "")
    assert refused.value.changed is False and refused.value.retryable is False
    assert image(k8s, "payments") == f"{REPO}:v2.1.0"


def test_kubeconfig_and_context_are_used_and_the_token_never_shows(
    k8s: K8sEmulator, kclock: ManualClock, payments: dict[str, Any], tmp_path: Path
) -> None:
    token = "s3cr3t-bearer-token-do-not-print"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "emu", "cluster": {"server": k8s.url}}],
                "users": [{"name": "bot", "user": {"token": token}}],
                "contexts": [{"name": "prod-ctx", "context": {"cluster": "emu", "user": "bot"}}],
                "current-context": "missing",
            }
        )
    )
    backend = rolling(k8s, kclock, host=None, kubeconfig=str(kubeconfig), context="prod-ctx")
    assert backend.current().version == "v2.1.0"
    k8s.fail_next("PATCH", r"/deployments/payments$", 403, message="forbidden for this user")
    with pytest.raises(KubeForbiddenError) as refused:
        backend.deploy("v2.1.1", progress=noop, should_abort=never)
    assert token not in f"{refused.value.message} {refused.value.hint} {refused.value!r}"

    kubeconfig.write_text(f"token: {token}\n  - : [unbalanced")
    with pytest.raises(KubeError) as broken:
        backend.current()
    assert broken.value.message.startswith(
        f"Cannot load the Kubernetes configuration from kubeconfig {kubeconfig}, context prod-ctx:"
    )
    assert token not in broken.value.message
    assert "kubernetes.in_cluster" in (broken.value.hint or "")


@pytest.mark.parametrize(
    ("method", "status", "error", "retryable", "changed"),
    [
        ("PATCH", 409, KubeConflictError, True, False),
        ("PATCH", 429, KubeUnavailableError, True, False),
        ("PATCH", 503, KubeUnavailableError, True, True),  # the write may have landed
        ("PATCH", 422, KubeError, False, False),
        ("GET", 404, KubeNotFoundError, False, False),
        ("GET", 401, KubeForbiddenError, False, False),
    ],
)
def test_api_errors_map_to_the_kube_error_tree(
    k8s: K8sEmulator,
    kclock: ManualClock,
    payments: dict[str, Any],
    method: str,
    status: int,
    error: type[KubeError],
    retryable: bool,
    changed: bool,
) -> None:
    k8s.fail_next(method, r"/deployments/payments$", status, message="injected")
    with pytest.raises(KubeError) as raised:
        rolling(k8s, kclock).deploy("v2.1.1", progress=noop, should_abort=never)
    assert type(raised.value) is error
    assert (raised.value.retryable, raised.value.changed) == (retryable, changed)
    assert raised.value.message.startswith("Could not ")
    assert raised.value.hint


def test_the_factory_refuses_strategies_it_cannot_do(k8s: K8sEmulator, kclock: ManualClock) -> None:
    with pytest.raises(UserFacingError) as canary:
        kubernetes_backend(target(k8s), strategy="canary", clock=kclock)
    assert canary.value.message == "The Kubernetes backend cannot deploy with strategy 'canary'."
    with pytest.raises(UserFacingError) as no_colours:
        kubernetes_backend(target(k8s), strategy="blue-green", clock=kclock)
    assert "kubernetes.blue_green" in no_colours.value.message


# --------------------------------------------------------------------------- rolling: undo


def deployed_twice(k8s: K8sEmulator, clock: ManualClock) -> None:
    for version in ("v2.1.1", "v2.1.2"):
        rolling(k8s, clock).deploy(version, progress=noop, should_abort=never)
    k8s.clear_requests()


def test_undo_goes_to_the_previous_revision_with_kubectls_json_patch(
    k8s: K8sEmulator, kclock: ManualClock, payments: dict[str, Any]
) -> None:
    rolling(k8s, kclock).deploy("v2.1.1", progress=noop, should_abort=never)
    old_template = k8s.replica_sets(NS, "payments")[0]["spec"]["template"]
    k8s.clear_requests()

    detail = rolling(k8s, kclock, kind="rollback").rollback(
        to_version=None, before={}, progress=noop, should_abort=never
    )
    (patch,) = writes(k8s)
    assert patch.content_type == JSON_PATCH
    expected = {
        **old_template,
        "metadata": {
            **old_template["metadata"],
            "labels": {
                k: v
                for k, v in old_template["metadata"]["labels"].items()
                if k != "pod-template-hash"
            },
        },
    }
    assert patch.body == [
        {"op": "replace", "path": "/spec/template", "value": expected},
        # The Deployment keeps its own revision bookkeeping (kubectl's annotationsToSkip).
        {
            "op": "replace",
            "path": "/metadata/annotations",
            "value": {"deployment.kubernetes.io/revision": "2"},
        },
    ]
    assert "pod-template-hash" in old_template["metadata"]["labels"]
    # The old ReplicaSet is reused under a new revision, as Kubernetes does.
    assert rs_table(k8s) == [("2", "v2.1.1", 0), ("3", "v2.1.0", 3)]
    assert image(k8s, "payments") == f"{REPO}:v2.1.0"
    assert image(k8s, "payments", container="proxy") == "envoyproxy/envoy:v1.30"
    assert detail["summary"] == f"back on {REPO}:v2.1.0: revision 1 restored as revision 3"


def test_undoing_a_deploy_returns_to_what_ran_before_it(
    k8s: K8sEmulator, kclock: ManualClock, payments: dict[str, Any]
) -> None:
    backend = rolling(k8s, kclock)
    before = backend.current().as_data()
    backend.deploy("v2.1.1", progress=noop, should_abort=never)
    backend.rollback(to_version=None, before=before, progress=noop, should_abort=never)
    assert image(k8s, "payments") == f"{REPO}:v2.1.0"
    k8s.clear_requests()
    # A deployment whose write never landed (or that deployed the same image): nothing to undo,
    # and no step back to an older revision either.
    again = backend.rollback(to_version=None, before=before, progress=noop, should_abort=never)
    assert again["summary"] == (
        f"nothing to undo: {REPO}:v2.1.0 (revision 3) still runs, as before the deployment"
    )
    assert writes(k8s) == [] and image(k8s, "payments") == f"{REPO}:v2.1.0"


def test_undo_to_a_named_version_picks_the_newest_replica_set_running_it(
    k8s: K8sEmulator, kclock: ManualClock, payments: dict[str, Any]
) -> None:
    deployed_twice(k8s, kclock)
    rolling(k8s, kclock, kind="rollback").rollback(
        to_version="v2.1.0", before={}, progress=noop, should_abort=never
    )
    assert image(k8s, "payments") == f"{REPO}:v2.1.0"
    assert rs_table(k8s) == [("2", "v2.1.1", 0), ("3", "v2.1.2", 0), ("4", "v2.1.0", 3)]


def test_undo_to_an_unknown_version_lists_the_available_ones(
    k8s: K8sEmulator, kclock: ManualClock, payments: dict[str, Any]
) -> None:
    deployed_twice(k8s, kclock)
    with pytest.raises(DeployError) as missing:
        rolling(k8s, kclock, kind="rollback").rollback(
            to_version="v1.9.0", before={}, progress=noop, should_abort=never
        )
    assert missing.value.changed is False
    assert missing.value.message == (
        "No revision of Deployment prod/payments ran version v1.9.0. Available:"
        " v2.1.2 (revision 3, current), v2.1.1 (revision 2), v2.1.0 (revision 1)."
    )
    assert writes(k8s) == []


def test_undo_to_the_running_version_is_a_skipped_rollback_as_kubectl_says(
    k8s: K8sEmulator, kclock: ManualClock, payments: dict[str, Any]
) -> None:
    deployed_twice(k8s, kclock)
    with pytest.raises(AlreadyThereError) as same:
        rolling(k8s, kclock, kind="rollback").rollback(
            to_version="v2.1.2", before={}, progress=noop, should_abort=never
        )
    assert same.value.changed is False
    assert same.value.message == (
        "Deployment prod/payments: skipped rollback (current template already matches"
        f" revision 3, {REPO}:v2.1.2); nothing was changed."
    )
    assert writes(k8s) == []


def test_undo_without_history_says_so(
    k8s: K8sEmulator, kclock: ManualClock, payments: dict[str, Any]
) -> None:
    with pytest.raises(DeployError) as none:
        rolling(k8s, kclock, kind="rollback").rollback(
            to_version=None, before={}, progress=noop, should_abort=never
        )
    assert "has no earlier revision to roll back to" in none.value.message
    assert none.value.changed is False


# --------------------------------------------------------------------------- blue-green

BG = {"blue_green": {"service": "payments", "scale_down_after_minutes": 30}}


@pytest.fixture
def colours(k8s: K8sEmulator) -> None:
    """blue serves v2.1.0 with 3 replicas; green is idle at v2.0.9, scaled to 1."""
    for colour, version, count in (("blue", "v2.1.0", 3), ("green", "v2.0.9", 1)):
        k8s.add_deployment(
            NS,
            f"payments-{colour}",
            image=f"{REPO}:{version}",
            replicas=count,
            labels={"app": "payments", "color": colour},
        )
    k8s.add_service(NS, "payments", {"app": "payments", "color": "blue"})
    k8s.clear_requests()


def bluegreen(k8s: K8sEmulator, clock: ManualClock, kind: str = "deploy") -> Backend:
    return kubernetes_backend(target(k8s, **BG), strategy="blue-green", clock=clock, kind=kind)


def selector(k8s: K8sEmulator) -> dict[str, str]:
    service = k8s.get("svc", NS, "payments")
    assert service is not None
    return dict(service["spec"]["selector"])


def test_blue_green_deploys_to_the_idle_colour_then_switches_the_service(
    k8s: K8sEmulator, kclock: ManualClock, colours: None
) -> None:
    backend = bluegreen(k8s, kclock)
    now = backend.current()
    assert (now.color, now.version, now.summary) == (
        "blue",
        "v2.1.0",
        f"blue: {REPO}:v2.1.0 (revision 1)",
    )
    assert backend.validate("v2.1.1") == []

    detail = backend.deploy("v2.1.1", progress=noop, should_abort=never)
    assert [(r.method, r.path, r.content_type, r.body) for r in writes(k8s)] == [
        (
            "PATCH",
            "/apis/apps/v1/namespaces/prod/deployments/payments-green",
            STRATEGIC_MERGE_PATCH,
            {
                "spec": {
                    "template": {
                        "spec": {"containers": [{"name": "app", "image": f"{REPO}:v2.1.1"}]}
                    }
                }
            },
        ),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/prod/deployments/payments-green/scale",
            MERGE_PATCH,
            {"spec": {"replicas": 3}},
        ),
        (
            "PATCH",
            "/api/v1/namespaces/prod/services/payments",
            STRATEGIC_MERGE_PATCH,
            {"spec": {"selector": {"color": "green"}}},
        ),
    ]
    assert selector(k8s) == {"app": "payments", "color": "green"}
    assert image(k8s, "payments-green") == f"{REPO}:v2.1.1"
    assert replicas(k8s, "payments-green") == 3
    green = k8s.get("deploy", NS, "payments-green")
    assert green is not None and rollout_status(green).done
    assert replicas(k8s, "payments-blue") == 3  # the old colour keeps running
    assert {k: detail[k] for k in ("previous_color", "new_color", "old_replicas")} == {
        "previous_color": "blue",
        "new_color": "green",
        "old_replicas": 3,
    }
    assert backend.current().color == "green"


def test_blue_green_switch_back_is_one_request(
    k8s: K8sEmulator, kclock: ManualClock, colours: None
) -> None:
    backend = bluegreen(k8s, kclock)
    before = backend.current().as_data()
    backend.deploy("v2.1.1", progress=noop, should_abort=never)
    k8s.clear_requests()

    detail = backend.rollback(to_version=None, before=before, progress=noop, should_abort=never)
    (switch,) = writes(k8s)
    assert (switch.path, switch.body) == (
        "/api/v1/namespaces/prod/services/payments",
        {"spec": {"selector": {"color": "blue"}}},
    )
    assert selector(k8s)["color"] == "blue"
    assert detail["summary"] == f"payments sends traffic to blue ({REPO}:v2.1.0) again"
    # A requested rollback ("previous") flips to the other colour again.
    bluegreen(k8s, kclock, kind="rollback").rollback(
        to_version=None, before={}, progress=noop, should_abort=never
    )
    assert selector(k8s)["color"] == "green"
    with pytest.raises(AlreadyThereError) as same:
        bluegreen(k8s, kclock, kind="rollback").rollback(
            to_version="v2.1.1", before={}, progress=noop, should_abort=never
        )
    assert same.value.message.startswith(
        "Service prod/payments: skipped rollback (it already sends traffic to green"
    )
    with pytest.raises(DeployError) as unknown:
        bluegreen(k8s, kclock, kind="rollback").rollback(
            to_version="v1.0.0", before={}, progress=noop, should_abort=never
        )
    assert unknown.value.message == "Neither colour runs v1.0.0 (blue: v2.1.0, green: v2.1.1)."


def test_blue_green_failure_before_the_switch_leaves_traffic_alone(
    k8s: K8sEmulator, kclock: ManualClock, colours: None
) -> None:
    k8s.script(NS, "payments-green", "stuck", deadline_ticks=2)
    backend = bluegreen(k8s, kclock)
    before = backend.current().as_data()
    with pytest.raises(DeployError) as failed:
        backend.deploy("v2.1.1", progress=noop, should_abort=never)
    assert failed.value.changed is True and "progress deadline" in failed.value.message
    assert selector(k8s)["color"] == "blue"
    k8s.clear_requests()

    detail = backend.rollback(to_version=None, before=before, progress=noop, should_abort=never)
    assert detail["switched"] is False and selector(k8s)["color"] == "blue"
    assert [(r.path, r.body) for r in writes(k8s)] == [
        (
            "/apis/apps/v1/namespaces/prod/deployments/payments-green/scale",
            {"spec": {"replicas": 0}},
        )
    ]


def test_blue_green_switch_back_to_a_scaled_down_colour_scales_it_up_first(
    k8s: K8sEmulator, kclock: ManualClock, colours: None
) -> None:
    backend = bluegreen(k8s, kclock)
    before = backend.current().as_data()
    backend.deploy("v2.1.1", progress=noop, should_abort=never)
    k8s.edit("deploy", NS, "payments-blue", {"spec": {"replicas": 0}})
    k8s.tick()
    k8s.clear_requests()

    backend.rollback(to_version=None, before=before, progress=noop, should_abort=never)
    assert [(r.path, r.body) for r in writes(k8s)] == [
        (
            "/apis/apps/v1/namespaces/prod/deployments/payments-blue/scale",
            {"spec": {"replicas": 3}},
        ),
        ("/api/v1/namespaces/prod/services/payments", {"spec": {"selector": {"color": "blue"}}}),
    ]
    blue = k8s.get("deploy", NS, "payments-blue")
    assert blue is not None and rollout_status(blue).done
    assert blue["status"]["availableReplicas"] == 3


def test_blue_green_validate_checks_both_colours_and_the_service(
    k8s: K8sEmulator, kclock: ManualClock
) -> None:
    k8s.add_deployment(
        NS, "payments-blue", image=f"{REPO}:v2.1.0", labels={"app": "payments", "color": "blue"}
    )
    k8s.add_service(NS, "payments", {"app": "payments", "color": "purple"})
    assert bluegreen(k8s, kclock).validate("v2.1.1") == [
        "Service prod/payments selects color=purple, not one of blue / green.",
        "Deployment prod/payments-green (green) does not exist: blue-green needs one Deployment"
        " per colour (kubernetes.blue_green.deployment_pattern).",
    ]


# --------------------------------------------------------------------------- blue-green cleanup


@pytest.fixture
def store(tmp_path: Path, kclock: ManualClock) -> Iterator[Store]:
    opened = Store(tmp_path / "hotfix.db")
    migrate(opened, clock=kclock)
    yield opened
    opened.close()


def succeeded_bluegreen(store: Store, clock: ManualClock, detail: dict[str, Any]) -> str:
    deployment, _ = deployments.create(
        store,
        clock=clock,
        new=NewDeployment(
            kind=Kind.DEPLOY,
            incident_id="INC-1",
            service="payments",
            environment="production",
            version="v2.1.1",
            strategy="blue-green",
            backend="kubernetes",
            requested_by="U0ALICE",
            channel_id=None,
            approvals_required=0,
            expires_at=None,
            break_glass=False,
            verify=True,
            notify_stakeholders=False,
            before={"color": "blue"},
            request_key=None,
        ),
    )
    deployments.merge_detail(store, deployment.id, deployed=detail)
    deployments.transition(
        store,
        clock=clock,
        deployment=deployment,
        to=State.SUCCEEDED,
        actor="hotfix-bot",
        text="live",
    )
    return deployment.id


def test_cleanup_scales_the_old_colour_down_once_when_due(
    k8s: K8sEmulator, kclock: ManualClock, colours: None, store: Store
) -> None:
    settings = Settings.model_validate(
        {
            "store": {"path": str(store.path)},
            "services": {
                "payments": {
                    "environments": {
                        "production": {
                            "backend": "kubernetes",
                            "strategy": "blue-green",
                            "kubernetes": target(k8s, **BG).model_dump(),
                        }
                    }
                }
            },
        }
    )
    detail = bluegreen(k8s, kclock).deploy("v2.1.1", progress=noop, should_abort=never)
    dep_id = succeeded_bluegreen(store, kclock, detail)
    k8s.clear_requests()

    kclock.advance(timedelta(minutes=29))
    early = scale_down_idle(store=store, clock=kclock, settings=settings)
    assert early.scaled == [] and k8s.requests == []

    kclock.advance(timedelta(minutes=2))
    report = scale_down_idle(store=store, clock=kclock, settings=settings)
    assert report.scaled == [dep_id] and report.problems == []
    assert [(r.path, r.body) for r in writes(k8s)] == [
        ("/apis/apps/v1/namespaces/prod/deployments/payments-blue/scale", {"spec": {"replicas": 0}})
    ]
    assert replicas(k8s, "payments-blue") == 0 and replicas(k8s, "payments-green") == 3
    assert selector(k8s)["color"] == "green"
    recorded = deployments.get(store, dep_id).detail["scaled_down"]
    assert recorded["done"] is True and recorded["replicas"] == {"old": 3, "new": 0}
    events = [
        e for e in timeline.events(store, incident_id="INC-1") if e.kind == "deploy_scaled_down"
    ]
    assert [e.text for e in events] == [
        f"{dep_id}: scaled blue (payments-blue) from 3 to 0 replicas, 30 min after the switch"
    ]

    k8s.clear_requests()
    kclock.advance(timedelta(hours=1))
    again = scale_down_idle(store=store, clock=kclock, settings=settings)
    assert again.scaled == [] and k8s.requests == []


def test_cleanup_leaves_a_colour_that_serves_again_and_waits_for_busy_targets(
    k8s: K8sEmulator, kclock: ManualClock, colours: None, store: Store
) -> None:
    settings = Settings.model_validate(
        {
            "store": {"path": str(store.path)},
            "services": {
                "payments": {
                    "environments": {
                        "production": {
                            "backend": "kubernetes",
                            "strategy": "blue-green",
                            "kubernetes": target(k8s, **BG).model_dump(),
                        }
                    }
                }
            },
        }
    )
    backend = bluegreen(k8s, kclock)
    before = backend.current().as_data()
    detail = backend.deploy("v2.1.1", progress=noop, should_abort=never)
    dep_id = succeeded_bluegreen(store, kclock, detail)
    kclock.advance(timedelta(hours=1))
    store.conn.execute(
        "INSERT INTO target_locks (target, deployment_id, held_by, since) VALUES (?, ?, ?, ?)",
        ("payments/production", "DEP-9", "U0BOB", "2026-03-14T10:00:00+00:00"),
    )
    assert scale_down_idle(store=store, clock=kclock, settings=settings).scaled == []
    store.conn.execute("DELETE FROM target_locks")

    backend.rollback(to_version=None, before=before, progress=noop, should_abort=never)
    report = scale_down_idle(store=store, clock=kclock, settings=settings)
    assert report.settled == [dep_id] and report.scaled == []
    assert replicas(k8s, "payments-blue") == 3
    assert (
        deployments.get(store, dep_id).detail["scaled_down"]["why"] == "blue serves traffic again"
    )

    # Two switches within the delay: only the later deployment's old colour goes to 0.
    first = succeeded_bluegreen(
        store, kclock, backend.deploy("v2.1.2", progress=noop, should_abort=never)
    )
    second = succeeded_bluegreen(
        store, kclock, backend.deploy("v2.1.3", progress=noop, should_abort=never)
    )
    assert selector(k8s)["color"] == "blue"
    kclock.advance(timedelta(minutes=31))
    report = scale_down_idle(store=store, clock=kclock, settings=settings)
    assert (report.settled, report.scaled) == ([first], [second])
    assert replicas(k8s, "payments-green") == 0 and replicas(k8s, "payments-blue") == 3
    assert deployments.get(store, first).detail["scaled_down"]["why"] == f"superseded by {second}"
