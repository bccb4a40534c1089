"""The Kubernetes API emulator, driven by the real ``kubernetes`` client over HTTP.

Every request these tests send is also checked against the real Kubernetes
OpenAPI spec (``../shared/specs``), so an emulator that accepts a wrong request
cannot make a wrong client look right.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.harness.k8s_emulator import MODES, K8sEmulator
from tests.harness.k8s_openapi import (
    load_spec,
    spec_path,
    validate_object,
    validate_request,
    validate_requests,
)

pytestmark = pytest.mark.unit

NS = "prod"
REVISION = "deployment.kubernetes.io/revision"
SPEC = load_spec()
NO_SPEC = f"the Kubernetes OpenAPI spec is absent ({spec_path()}); request validation skipped"


@pytest.fixture
def k8s() -> Iterator[K8sEmulator]:
    """An emulator whose every received request must fit the OpenAPI spec."""
    with K8sEmulator() as emu:
        yield emu
        if SPEC is not None:
            problems = validate_requests(SPEC, emu.requests)
            assert not problems, "requests that do not fit the Kubernetes API:\n" + "\n".join(
                problems
            )


@pytest.fixture
def apps(k8s: K8sEmulator) -> client.AppsV1Api:
    return client.AppsV1Api(k8s.api_client())


@pytest.fixture
def core(k8s: K8sEmulator) -> client.CoreV1Api:
    return client.CoreV1Api(k8s.api_client())


def _status(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body)
    return body


def _deployment(
    name: str, image: str = "web:1", labels: dict[str, str] | None = None
) -> dict[str, Any]:
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def _image_patch(image: str, container: str = "app") -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}}


def _conditions(emu: K8sEmulator, name: str) -> dict[str, tuple[str, str]]:
    deploy = emu.get("Deployment", NS, name)
    assert deploy is not None
    return {c["type"]: (c["status"], c["reason"]) for c in deploy["status"]["conditions"]}


def _rs_table(emu: K8sEmulator, name: str) -> list[tuple[str, int, int]]:
    """(revision, spec.replicas, readyReplicas) per ReplicaSet, oldest revision first."""
    return [
        (
            rs["metadata"]["annotations"][REVISION],
            rs["spec"]["replicas"],
            rs["status"].get("readyReplicas", 0),
        )
        for rs in emu.replica_sets(NS, name)
    ]


# --------------------------------------------------------------------------- CRUD


def test_create_get_not_found_and_already_exists(k8s: K8sEmulator, apps: client.AppsV1Api) -> None:
    body = client.V1Deployment(
        api_version="apps/v1",
        kind="Deployment",
        metadata=client.V1ObjectMeta(name="web", labels={"app": "web"}),
        spec=client.V1DeploymentSpec(
            replicas=2,
            selector=client.V1LabelSelector(match_labels={"app": "web"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "web"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="app", image="web:1")]),
            ),
        ),
    )
    created, code, _headers = apps.create_namespaced_deployment_with_http_info(NS, body)
    assert code == 201
    meta = created.metadata
    assert meta.uid and meta.creation_timestamp and meta.resource_version
    assert meta.generation == 1 and meta.namespace == NS

    fetched = apps.read_namespaced_deployment("web", NS)
    assert fetched.metadata.uid == meta.uid
    assert fetched.spec.strategy.rolling_update.max_surge == "25%"  # defaulted by the server
    assert fetched.spec.template.spec.containers[0].image_pull_policy == "IfNotPresent"

    with pytest.raises(ApiException) as missing:
        apps.read_namespaced_deployment("nope", NS)
    assert missing.value.status == 404
    status = _status(missing.value)
    assert status["kind"] == "Status" and status["status"] == "Failure"
    assert status["reason"] == "NotFound" and status["code"] == 404
    assert status["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}

    with pytest.raises(ApiException) as duplicate:
        apps.create_namespaced_deployment(NS, _deployment("web"))
    assert duplicate.value.status == 409
    assert _status(duplicate.value)["reason"] == "AlreadyExists"


def test_invalid_objects_are_refused_with_422(apps: client.AppsV1Api) -> None:
    mismatched = _deployment("web")
    mismatched["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment(NS, mismatched)
    assert err.value.status == 422
    status = _status(err.value)
    assert status["reason"] == "Invalid"
    assert "`selector` does not match template `labels`" in status["message"]

    with pytest.raises(ApiException) as upper:
        apps.create_namespaced_deployment(NS, _deployment("PROD-2847"))
    assert upper.value.status == 422 and "metadata.name" in _status(upper.value)["message"]

    apps.create_namespaced_deployment(NS, _deployment("web"))
    selector_change = {"spec": {"selector": {"matchLabels": {"app": "web", "tier": "x"}}}}
    with pytest.raises(ApiException) as immutable:
        apps.patch_namespaced_deployment("web", NS, selector_change)
    assert immutable.value.status == 422 and "immutable" in _status(immutable.value)["message"]


def test_list_with_label_selectors(k8s: K8sEmulator, apps: client.AppsV1Api) -> None:
    k8s.add_deployment(NS, "web", image="web:1", labels={"app": "web", "tier": "front"})
    k8s.add_deployment(NS, "api", image="api:1", labels={"app": "api", "tier": "back"})
    k8s.add_deployment(NS, "jobs", image="jobs:1", labels={"app": "jobs"})
    k8s.add_deployment("staging", "web", image="web:0", labels={"app": "web", "tier": "front"})

    def names(selector: str) -> list[str]:
        return [
            d.metadata.name
            for d in apps.list_namespaced_deployment(NS, label_selector=selector).items
        ]

    assert names("") == ["api", "jobs", "web"]
    assert names("app=web") == ["web"]
    assert names("app==web") == ["web"]
    assert names("app!=web") == ["api", "jobs"]
    assert names("tier in (front,back)") == ["api", "web"]
    assert names("tier notin (front)") == ["api", "jobs"]
    assert names("tier") == ["api", "web"]
    assert names("!tier") == ["jobs"]
    assert names("tier,app!=api") == ["web"]

    listed = apps.list_namespaced_deployment(NS)
    assert int(listed.metadata.resource_version) >= max(
        int(d.metadata.resource_version) for d in listed.items
    )
    everywhere = apps.list_deployment_for_all_namespaces(label_selector="app=web")
    assert [(d.metadata.namespace, d.metadata.name) for d in everywhere.items] == [
        ("prod", "web"),
        ("staging", "web"),
    ]
    replica_sets = apps.list_namespaced_replica_set(NS, label_selector="app=web")
    assert [rs.metadata.owner_references[0].name for rs in replica_sets.items] == ["web"]

    with pytest.raises(ApiException) as bad:
        apps.list_namespaced_deployment(NS, label_selector="tier in front")
    assert bad.value.status == 400


def test_replace_with_stale_resource_version_conflicts(
    k8s: K8sEmulator, apps: client.AppsV1Api
) -> None:
    k8s.add_deployment(NS, "web", image="web:1")
    mine = apps.read_namespaced_deployment("web", NS)
    k8s.edit("Deployment", NS, "web", {"metadata": {"labels": {"app": "web", "team": "payments"}}})

    mine.spec.replicas = 5
    with pytest.raises(ApiException) as err:
        apps.replace_namespaced_deployment("web", NS, mine)
    assert err.value.status == 409
    status = _status(err.value)
    assert status["reason"] == "Conflict" and "the object has been modified" in status["message"]

    fresh = apps.read_namespaced_deployment("web", NS)
    fresh.spec.replicas = 5
    replaced = apps.replace_namespaced_deployment("web", NS, fresh)
    assert replaced.spec.replicas == 5
    assert replaced.metadata.generation == fresh.metadata.generation + 1
    assert int(replaced.metadata.resource_version) > int(fresh.metadata.resource_version)


def test_no_op_and_dry_run_patches_change_nothing(k8s: K8sEmulator, apps: client.AppsV1Api) -> None:
    k8s.add_deployment(NS, "web", image="web:1")
    before = apps.read_namespaced_deployment("web", NS).metadata.resource_version
    after = apps.patch_namespaced_deployment("web", NS, _image_patch("web:1"))
    assert after.metadata.resource_version == before and after.metadata.generation == 1

    dry = apps.patch_namespaced_deployment("web", NS, _image_patch("web:2"), dry_run="All")
    assert dry.spec.template.spec.containers[0].image == "web:2" and dry.metadata.generation == 2
    stored = apps.read_namespaced_deployment("web", NS)
    assert stored.spec.template.spec.containers[0].image == "web:1"
    assert stored.metadata.resource_version == before
    assert _rs_table(k8s, "web") == [("1", 3, 3)]


# --------------------------------------------------------------------------- patches


def test_strategic_merge_changes_one_container_only(
    k8s: K8sEmulator, apps: client.AppsV1Api
) -> None:
    k8s.add_deployment(
        NS,
        "web",
        image="web:1",
        extra_containers=[
            {"name": "proxy", "image": "envoy:1.30", "env": [{"name": "LEVEL", "value": "info"}]}
        ],
    )
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "web:2",
                            "env": [{"name": "RELEASE", "value": "PROD-2847"}],
                        },
                        {"name": "proxy", "env": [{"name": "LEVEL", "value": "debug"}]},
                    ]
                }
            }
        }
    }
    result = apps.patch_namespaced_deployment("web", NS, patch)
    app, proxy = result.spec.template.spec.containers
    assert (app.name, app.image) == ("app", "web:2")
    assert [(e.name, e.value) for e in app.env] == [("RELEASE", "PROD-2847")]
    assert (proxy.name, proxy.image) == ("proxy", "envoy:1.30")
    assert [(e.name, e.value) for e in proxy.env] == [("LEVEL", "debug")]

    (sent,) = k8s.requests_matching("PATCH", r"/deployments/web$")
    assert sent.content_type == "application/strategic-merge-patch+json"
    assert sent.body == patch and sent.status == 200

    deleted = {
        "spec": {"template": {"spec": {"containers": [{"name": "proxy", "$patch": "delete"}]}}}
    }
    result = apps.patch_namespaced_deployment("web", NS, deleted)
    assert [c.name for c in result.spec.template.spec.containers] == ["app"]


def test_merge_patch_replaces_lists_and_json_patch_edits_in_place(
    k8s: K8sEmulator, apps: client.AppsV1Api
) -> None:
    k8s.add_deployment(
        NS, "web", image="web:1", extra_containers=[{"name": "proxy", "image": "envoy:1"}]
    )

    json_ops = [
        {"op": "test", "path": "/spec/template/spec/containers/1/name", "value": "proxy"},
        {"op": "replace", "path": "/spec/template/spec/containers/1/image", "value": "envoy:2"},
        {"op": "add", "path": "/metadata/annotations", "value": {"hotfix/issue": "PROD-2847"}},
    ]
    result = apps.patch_namespaced_deployment("web", NS, json_ops)
    assert [c.image for c in result.spec.template.spec.containers] == ["web:1", "envoy:2"]
    assert result.metadata.annotations["hotfix/issue"] == "PROD-2847"

    failing = [{"op": "test", "path": "/spec/replicas", "value": 7}]
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment("web", NS, failing)
    assert err.value.status == 422

    # RFC 7386: a list in a merge patch replaces the whole list - the sidecar is gone.
    merged = apps.patch_namespaced_deployment(
        "web", NS, _image_patch("web:2"), _content_type="application/merge-patch+json"
    )
    assert [(c.name, c.image) for c in merged.spec.template.spec.containers] == [("app", "web:2")]
    assert merged.spec.replicas == 3  # untouched keys stay

    types = [r.content_type for r in k8s.requests_matching("PATCH")]
    assert types == [
        "application/json-patch+json",
        "application/json-patch+json",
        "application/merge-patch+json",
    ]


def test_unsupported_patch_types_answer_415() -> None:
    # Deliberately wrong requests: no OpenAPI check on this emulator.
    with K8sEmulator() as emu:
        emu.add_deployment(NS, "web", image="web:1")
        emu.add_virtual_service(NS, "web", {"hosts": ["web"], "http": []})
        apps = client.AppsV1Api(emu.api_client())
        custom = client.CustomObjectsApi(emu.api_client())
        with pytest.raises(ApiException) as apply:
            apps.patch_namespaced_deployment(
                "web", NS, _image_patch("web:2"), _content_type="application/apply-patch+yaml"
            )
        assert apply.value.status == 415
        assert _status(apply.value)["reason"] == "UnsupportedMediaType"
        with pytest.raises(ApiException) as smp:  # custom resources take no strategic merge patch
            custom.patch_namespaced_custom_object(
                "networking.istio.io",
                "v1beta1",
                NS,
                "virtualservices",
                "web",
                {"spec": {"hosts": ["x"]}},
                _content_type="application/strategic-merge-patch+json",
            )
        assert smp.value.status == 415
        assert (
            emu.get("Deployment", NS, "web")["spec"]["template"]["spec"]["containers"][0]["image"]
            == "web:1"
        )  # type: ignore[index]


# --------------------------------------------------------------------------- subresources


def test_scale_subresource(k8s: K8sEmulator, apps: client.AppsV1Api) -> None:
    k8s.script(NS, "web", "instant")
    k8s.add_deployment(NS, "web", image="web:1")
    scale = apps.read_namespaced_deployment_scale("web", NS)
    assert scale.spec.replicas == 3 and scale.status.replicas == 3
    assert scale.status.selector == "app=web"

    patched = apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 5}})
    assert patched.spec.replicas == 5
    deploy = apps.read_namespaced_deployment("web", NS)
    assert deploy.spec.replicas == 5 and deploy.metadata.generation == 2
    assert deploy.status.ready_replicas == 5 and deploy.status.observed_generation == 2
    assert _rs_table(k8s, "web") == [("1", 5, 5)]  # a scale is not a new revision

    scale = apps.read_namespaced_deployment_scale("web", NS)
    scale.spec.replicas = 1
    assert apps.replace_namespaced_deployment_scale("web", NS, scale).spec.replicas == 1
    stale = client.V1Scale(
        metadata=client.V1ObjectMeta(name="web", resource_version=scale.metadata.resource_version),
        spec=client.V1ScaleSpec(replicas=2),
    )
    with pytest.raises(ApiException) as err:
        apps.replace_namespaced_deployment_scale("web", NS, stale)
    assert err.value.status == 409


def test_status_subresource_and_generation(k8s: K8sEmulator, apps: client.AppsV1Api) -> None:
    k8s.add_deployment(NS, "web", image="web:1")
    before = apps.read_namespaced_deployment("web", NS)
    # Status in a main-resource patch is ignored; through /status it lands without a new generation.
    ignored = apps.patch_namespaced_deployment("web", NS, {"status": {"replicas": 9}})
    assert ignored.status.replicas == 3 and ignored.metadata.generation == 1
    written = apps.patch_namespaced_deployment_status("web", NS, {"status": {"collisionCount": 1}})
    assert written.status.collision_count == 1
    assert written.metadata.generation == before.metadata.generation
    assert int(written.metadata.resource_version) > int(before.metadata.resource_version)
    # A user's annotation change bumps a Deployment's generation, as in Kubernetes.
    annotated = apps.patch_namespaced_deployment(
        "web", NS, {"metadata": {"annotations": {"a": "b"}}}
    )
    assert annotated.metadata.generation == 2


# --------------------------------------------------------------------------- the controller


def test_healthy_rollout_advances_one_replica_per_tick(
    k8s: K8sEmulator, apps: client.AppsV1Api
) -> None:
    k8s.add_deployment(NS, "web", image="web:1")
    first = apps.read_namespaced_deployment("web", NS)
    assert first.metadata.annotations[REVISION] == "1"
    assert (
        first.status.replicas,
        first.status.updated_replicas,
        first.status.available_replicas,
    ) == (3, 3, 3)
    assert len(k8s.objects("pods", NS, "app=web")) == 3

    response = apps.patch_namespaced_deployment("web", NS, _image_patch("web:2"))
    assert response.metadata.generation == 2
    assert response.status.observed_generation == 1  # the controller runs after the write

    deploy = apps.read_namespaced_deployment("web", NS)
    assert deploy.status.observed_generation == 2
    assert deploy.metadata.annotations[REVISION] == "2"
    assert deploy.status.updated_replicas is None  # zero fields are omitted, as in Kubernetes
    assert _conditions(k8s, "web")["Progressing"] == ("True", "ReplicaSetUpdated")
    assert _rs_table(k8s, "web") == [("1", 3, 3), ("2", 0, 0)]
    new_rs = k8s.replica_sets(NS, "web")[-1]
    template_hash = new_rs["metadata"]["labels"]["pod-template-hash"]
    assert new_rs["metadata"]["name"] == f"web-{template_hash}"
    assert new_rs["spec"]["selector"]["matchLabels"] == {
        "app": "web",
        "pod-template-hash": template_hash,
    }
    owner = new_rs["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "Deployment",
        "web",
        deploy.metadata.uid,
        True,
    )

    k8s.tick()
    assert _rs_table(k8s, "web") == [("1", 2, 2), ("2", 1, 1)]
    status = apps.read_namespaced_deployment_status("web", NS).status
    assert (status.replicas, status.updated_replicas, status.ready_replicas) == (3, 1, 3)

    k8s.tick(2)
    assert _rs_table(k8s, "web") == [("1", 0, 0), ("2", 3, 3)]
    status = apps.read_namespaced_deployment("web", NS).status
    assert (status.replicas, status.updated_replicas, status.available_replicas) == (3, 3, 3)
    assert status.unavailable_replicas is None
    assert _conditions(k8s, "web") == {
        "Available": ("True", "MinimumReplicasAvailable"),
        "Progressing": ("True", "NewReplicaSetAvailable"),
    }
    pods = k8s.objects("pods", NS, f"pod-template-hash={template_hash}")
    assert len(pods) == 3 and all(p["status"]["phase"] == "Running" for p in pods)
    assert {p["spec"]["containers"][0]["image"] for p in k8s.objects("pods", NS)} == {"web:2"}


@pytest.mark.parametrize("mode", MODES)
def test_a_settled_deployment_stays_put(k8s: K8sEmulator, mode: str) -> None:
    k8s.add_deployment(NS, "web", image="web:1")
    k8s.script(NS, "web", mode)
    before = k8s.get("Deployment", NS, "web")
    k8s.tick(3)
    assert k8s.get("Deployment", NS, "web") == before
    assert _rs_table(k8s, "web") == [("1", 3, 3)]


def test_instant_and_slow_rollouts(k8s: K8sEmulator, apps: client.AppsV1Api) -> None:
    k8s.add_deployment(NS, "fast", image="web:1")
    k8s.add_deployment(NS, "slow", image="web:1", replicas=4)
    k8s.script(NS, "fast", "instant")
    k8s.script(NS, "slow", "slow", ticks=4)
    apps.patch_namespaced_deployment("fast", NS, _image_patch("web:2"))
    apps.patch_namespaced_deployment("slow", NS, _image_patch("web:2"))
    assert _rs_table(k8s, "fast") == [("1", 0, 0), ("2", 3, 3)]
    progress = []
    for _ in range(4):
        k8s.tick()
        progress.append(_rs_table(k8s, "slow")[-1][2])
    assert progress == [1, 2, 3, 4]
    assert _conditions(k8s, "slow")["Progressing"] == ("True", "NewReplicaSetAvailable")


def test_stuck_rollout_exceeds_its_progress_deadline(
    k8s: K8sEmulator, apps: client.AppsV1Api
) -> None:
    k8s.add_deployment(NS, "web", image="web:1", replicas=4)
    k8s.script(NS, "web", "stuck", deadline_ticks=2)
    apps.patch_namespaced_deployment("web", NS, _image_patch("web:broken"))
    k8s.tick()
    # maxUnavailable 25% of 4 lets one old pod go; maxSurge 25% lets two new pods start.
    assert _rs_table(k8s, "web") == [("1", 3, 3), ("2", 2, 0)]
    assert _conditions(k8s, "web")["Progressing"] == ("True", "ReplicaSetUpdated")
    k8s.tick()
    status = apps.read_namespaced_deployment("web", NS).status
    assert _conditions(k8s, "web") == {
        "Available": ("True", "MinimumReplicasAvailable"),
        "Progressing": ("False", "ProgressDeadlineExceeded"),
    }
    assert (status.replicas, status.updated_replicas, status.available_replicas) == (5, 2, 3)
    assert status.unavailable_replicas == 2
    pending = [p for p in k8s.objects("pods", NS) if p["status"]["phase"] == "Pending"]
    assert len(pending) == 2
    k8s.tick(5)
    assert _rs_table(k8s, "web") == [("1", 3, 3), ("2", 2, 0)]

    # Rolling back to revision 1: its ReplicaSet worked before, so it scales back up healthy.
    apps.patch_namespaced_deployment("web", NS, _image_patch("web:1"))
    assert _rs_table(k8s, "web") == [("2", 0, 0), ("3", 3, 3)]
    assert _conditions(k8s, "web")["Progressing"] == ("True", "ReplicaSetUpdated")
    k8s.tick()
    assert _rs_table(k8s, "web") == [("2", 0, 0), ("3", 4, 4)]
    assert _conditions(k8s, "web")["Progressing"] == ("True", "NewReplicaSetAvailable")
    assert [p["spec"]["containers"][0]["image"] for p in k8s.objects("pods", NS)] == ["web:1"] * 4


def test_crashloop_pods_never_get_ready(k8s: K8sEmulator, apps: client.AppsV1Api) -> None:
    k8s.add_deployment(NS, "web", image="web:1")
    k8s.script(NS, "web", "crashloop", deadline_ticks=3)
    apps.patch_namespaced_deployment("web", NS, _image_patch("web:2"))
    k8s.tick(3)
    new_rs = k8s.replica_sets(NS, "web")[-1]
    pods = client.CoreV1Api(k8s.api_client()).list_namespaced_pod(
        NS, label_selector=f"pod-template-hash={new_rs['metadata']['labels']['pod-template-hash']}"
    )
    (pod,) = pods.items
    (state,) = pod.status.container_statuses
    assert state.ready is False and state.state.waiting.reason == "CrashLoopBackOff"
    assert state.restart_count == 3
    assert _conditions(k8s, "web")["Progressing"] == ("False", "ProgressDeadlineExceeded")

    k8s.script(NS, "web", "healthy")  # the fix lands: pods get ready
    k8s.tick(3)
    assert _conditions(k8s, "web")["Progressing"] == ("True", "NewReplicaSetAvailable")


def test_paused_deployment_gets_no_new_replica_set(
    k8s: K8sEmulator, apps: client.AppsV1Api
) -> None:
    k8s.add_deployment(NS, "web", image="web:1", paused=True)
    apps.patch_namespaced_deployment("web", NS, _image_patch("web:2"))
    k8s.tick(3)
    assert _rs_table(k8s, "web") == [("1", 3, 3)]
    assert _conditions(k8s, "web")["Progressing"] == ("Unknown", "DeploymentPaused")
    deploy = apps.read_namespaced_deployment("web", NS)
    assert deploy.metadata.annotations[REVISION] == "1"
    assert deploy.status.observed_generation == deploy.metadata.generation
    assert deploy.status.updated_replicas is None

    apps.patch_namespaced_deployment("web", NS, {"spec": {"paused": False}})
    k8s.tick(3)
    assert _rs_table(k8s, "web") == [("1", 0, 0), ("2", 3, 3)]
    assert apps.read_namespaced_deployment("web", NS).metadata.annotations[REVISION] == "2"


def test_rollback_reuses_the_old_replica_set_with_a_new_revision(
    k8s: K8sEmulator, apps: client.AppsV1Api
) -> None:
    k8s.script(NS, "web", "instant")
    k8s.add_deployment(NS, "web", image="web:1")
    first_rs = k8s.replica_sets(NS, "web")[0]["metadata"]["name"]
    revision_one = apps.read_namespaced_deployment("web", NS).spec.template
    apps.patch_namespaced_deployment("web", NS, _image_patch("web:2"))
    assert _rs_table(k8s, "web") == [("1", 0, 0), ("2", 3, 3)]

    # Roll back the way `kubectl rollout undo` does: put revision 1's template back.
    template = client.ApiClient().sanitize_for_serialization(revision_one)
    apps.patch_namespaced_deployment("web", NS, {"spec": {"template": template}})
    sets = k8s.replica_sets(NS, "web")
    assert [rs["metadata"]["name"] for rs in sets][-1] == first_rs
    assert _rs_table(k8s, "web") == [("2", 0, 0), ("3", 3, 3)]
    assert sets[-1]["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    deploy = apps.read_namespaced_deployment("web", NS)
    assert deploy.metadata.annotations[REVISION] == "3"
    assert _conditions(k8s, "web")["Progressing"] == ("True", "NewReplicaSetAvailable")


def test_deleting_a_deployment_collects_its_replica_sets_and_pods(
    k8s: K8sEmulator, apps: client.AppsV1Api
) -> None:
    k8s.add_deployment(NS, "web", image="web:1")
    status = apps.delete_namespaced_deployment("web", NS)  # the client hands back a plain dict
    assert (status["kind"], status["status"]) == ("Status", "Success")
    assert k8s.get("deploy", NS, "web") is None
    assert k8s.objects("rs", NS) == [] and k8s.objects("pods", NS) == []


@pytest.mark.skipif(SPEC is None, reason=NO_SPEC)
def test_served_objects_fit_the_openapi_definitions(
    k8s: K8sEmulator, apps: client.AppsV1Api
) -> None:
    k8s.add_deployment(
        NS, "web", image="web:1", extra_containers=[{"name": "proxy", "image": "envoy"}]
    )
    k8s.add_deployment(NS, "api", image="api:1")
    k8s.add_service(NS, "web", {"app": "web"})
    k8s.script(NS, "web", "crashloop")
    k8s.script(NS, "api", "stuck")
    apps.patch_namespaced_deployment("web", NS, _image_patch("web:2"))
    apps.patch_namespaced_deployment("api", NS, _image_patch("api:2"))
    k8s.tick(4)
    assert SPEC is not None
    definitions = {
        "Deployment": "io.k8s.api.apps.v1.Deployment",
        "ReplicaSet": "io.k8s.api.apps.v1.ReplicaSet",
        "Pod": "io.k8s.api.core.v1.Pod",
        "Service": "io.k8s.api.core.v1.Service",
    }
    problems = [
        f"{kind} {obj['metadata']['name']}: {problem}"
        for kind, definition in definitions.items()
        for obj in k8s.objects(kind, NS)
        for problem in validate_object(SPEC, definition, obj)
    ]
    assert problems == []
    assert len(k8s.objects("Pod", NS)) == 8  # 3 + 1 surge (crashloop) and 3 + 1 surge (stuck)


# --------------------------------------------------------------------------- services, istio


def test_service_selector_patch(k8s: K8sEmulator, core: client.CoreV1Api) -> None:
    k8s.add_service(NS, "web", {"app": "web", "slot": "blue"})
    service = core.read_namespaced_service("web", NS)
    assert service.spec.cluster_ip and service.spec.ports[0].target_port == 8080

    switched = core.patch_namespaced_service("web", NS, {"spec": {"selector": {"slot": "green"}}})
    assert switched.spec.selector == {"app": "web", "slot": "green"}
    assert switched.spec.cluster_ip == service.spec.cluster_ip
    assert int(switched.metadata.resource_version) > int(service.metadata.resource_version)
    (sent,) = k8s.requests_matching("PATCH", "/api/v1/namespaces/prod/services/web$")
    assert sent.body == {"spec": {"selector": {"slot": "green"}}}


def test_virtual_service_through_custom_objects_api(k8s: K8sEmulator) -> None:
    spec = {
        "hosts": ["web"],
        "http": [
            {
                "route": [
                    {"destination": {"host": "web", "subset": "stable"}, "weight": 100},
                    {"destination": {"host": "web", "subset": "canary"}, "weight": 0},
                ]
            }
        ],
    }
    k8s.add_virtual_service(NS, "web", spec)
    custom = client.CustomObjectsApi(k8s.api_client())
    args = ("networking.istio.io", "v1beta1", NS, "virtualservices", "web")
    vs = custom.get_namespaced_custom_object(*args)
    assert vs["kind"] == "VirtualService" and vs["metadata"]["generation"] == 1

    ops = [
        {"op": "replace", "path": "/spec/http/0/route/0/weight", "value": 90},
        {"op": "replace", "path": "/spec/http/0/route/1/weight", "value": 10},
    ]
    patched = custom.patch_namespaced_custom_object(
        *args, ops, _content_type="application/json-patch+json"
    )
    assert [r["weight"] for r in patched["spec"]["http"][0]["route"]] == [90, 10]
    assert patched["metadata"]["generation"] == 2

    merged = custom.patch_namespaced_custom_object(
        *args, {"metadata": {"labels": {"canary": "on"}}}
    )
    assert merged["metadata"]["labels"] == {"canary": "on"}
    assert merged["spec"] == patched["spec"] and merged["metadata"]["generation"] == 2
    types = [r.content_type for r in k8s.requests_matching("PATCH")]
    assert types == ["application/json-patch+json", "application/merge-patch+json"]

    with pytest.raises(ApiException) as err:
        custom.get_namespaced_custom_object(
            "networking.istio.io", "v1beta1", NS, "virtualservices", "x"
        )
    assert err.value.status == 404
    assert _status(err.value)["message"] == 'virtualservices.networking.istio.io "x" not found'


# --------------------------------------------------------------------------- failures, records


def test_fail_next_refuses_matching_requests_once(k8s: K8sEmulator, apps: client.AppsV1Api) -> None:
    k8s.add_deployment(NS, "web", image="web:1")
    k8s.fail_next("PATCH", r"/deployments/web$", 403, "Forbidden", message="no deploys on Fridays")
    k8s.fail_next("GET", r"/deployments/web$", 500, times=2)

    with pytest.raises(ApiException) as forbidden:
        apps.patch_namespaced_deployment("web", NS, _image_patch("web:2"))
    assert forbidden.value.status == 403
    assert _status(forbidden.value)["reason"] == "Forbidden"
    assert _status(forbidden.value)["message"] == "no deploys on Fridays"
    for _ in range(2):
        with pytest.raises(ApiException) as broken:
            apps.read_namespaced_deployment("web", NS)
        assert broken.value.status == 500 and _status(broken.value)["reason"] == "InternalError"

    assert (
        apps.read_namespaced_deployment("web", NS).spec.template.spec.containers[0].image == "web:1"
    )
    apps.patch_namespaced_deployment("web", NS, _image_patch("web:2"))
    assert [(r.method, r.status) for r in k8s.requests] == [
        ("PATCH", 403),
        ("GET", 500),
        ("GET", 500),
        ("GET", 200),
        ("PATCH", 200),
    ]


def test_requests_are_recorded_with_query_and_body(
    k8s: K8sEmulator, apps: client.AppsV1Api
) -> None:
    k8s.add_deployment(NS, "web", image="web:1")
    apps.list_namespaced_replica_set(NS, label_selector="app=web,tier in (a,b)", limit=10)
    apps.patch_namespaced_deployment(
        "web", NS, {"spec": {"replicas": 4}}, field_manager="hotfix-bot"
    )
    listing, patch = k8s.requests
    assert (listing.method, listing.path) == ("GET", "/apis/apps/v1/namespaces/prod/replicasets")
    assert listing.query == {"labelSelector": "app=web,tier in (a,b)", "limit": "10"}
    assert listing.content_type is None and listing.body is None
    assert (patch.method, patch.path, patch.query) == (
        "PATCH",
        "/apis/apps/v1/namespaces/prod/deployments/web",
        {"fieldManager": "hotfix-bot"},
    )
    assert patch.body == {"spec": {"replicas": 4}} and patch.status == 200


# --------------------------------------------------------------------------- the OpenAPI check


@pytest.mark.skipif(SPEC is None, reason=NO_SPEC)
def test_every_request_of_a_deploy_fits_the_openapi_spec(k8s: K8sEmulator) -> None:
    apps = client.AppsV1Api(k8s.api_client())
    core = client.CoreV1Api(k8s.api_client())
    custom = client.CustomObjectsApi(k8s.api_client())
    apps.create_namespaced_deployment(NS, _deployment("web"))
    k8s.add_service(NS, "web", {"app": "web"})
    k8s.add_virtual_service(NS, "web", {"hosts": ["web"]})
    apps.read_namespaced_deployment("web", NS)
    apps.patch_namespaced_deployment("web", NS, _image_patch("web:2"))
    apps.patch_namespaced_deployment(
        "web", NS, [{"op": "replace", "path": "/spec/replicas", "value": 3}]
    )
    apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 4}})
    apps.list_namespaced_replica_set(NS, label_selector="app=web")
    core.patch_namespaced_service("web", NS, {"spec": {"selector": {"slot": "green"}}})
    core.list_namespaced_pod(NS, label_selector="app=web", field_selector="status.phase=Running")
    custom.patch_namespaced_custom_object(
        "networking.istio.io",
        "v1beta1",
        NS,
        "virtualservices",
        "web",
        {"spec": {"hosts": ["web", "www"]}},
    )
    assert len(k8s.requests) == 9
    assert SPEC is not None
    assert validate_requests(SPEC, k8s.requests) == []


@pytest.mark.skipif(SPEC is None, reason=NO_SPEC)
def test_the_openapi_check_catches_wrong_requests() -> None:
    assert SPEC is not None
    deployment = "/apis/apps/v1/namespaces/prod/deployments/web"

    wrong_path = validate_request(
        SPEC, "GET", "/apis/apps/v1/namespaces/prod/deployment/web", {}, None, None
    )
    assert wrong_path and "no path" in wrong_path[0]
    wrong_method = validate_request(
        SPEC, "POST", deployment, {}, "application/json", _deployment("web")
    )
    assert wrong_method and "POST is not an operation" in wrong_method[0]

    wrong_type = validate_request(
        SPEC, "PATCH", deployment, {}, "application/json", {"spec": {"replicas": 2}}
    )
    assert wrong_type and "content type 'application/json'" in wrong_type[0]
    smp_on_custom = validate_request(
        SPEC,
        "PATCH",
        "/apis/networking.istio.io/v1beta1/namespaces/prod/virtualservices/web",
        {},
        "application/strategic-merge-patch+json",
        {"spec": {}},
    )
    assert smp_on_custom and "custom objects" in smp_on_custom[0]

    typo = _deployment("web")
    typo["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    unknown_field = validate_request(
        SPEC, "POST", "/apis/apps/v1/namespaces/prod/deployments", {}, "application/json", typo
    )
    assert unknown_field and "imagePullPolicyy" in unknown_field[0]
    no_selector = _deployment("web")
    del no_selector["spec"]["selector"]
    assert any(
        "'selector' is a required property" in p
        for p in validate_request(
            SPEC, "POST", "/apis/apps/v1/namespaces/prod/deployments", {}, None, no_selector
        )
    )

    bad_patch = {
        "spec": {
            "replicas": "3",
            "template": {"spec": {"containers": [{"name": "app", "img": "x"}]}},
        }
    }
    problems = validate_request(
        SPEC,
        "PATCH",
        deployment,
        {"labelSelector": "x"},
        "application/strategic-merge-patch+json",
        bad_patch,
    )
    assert len(problems) == 3
    assert any("query parameter 'labelSelector'" in p for p in problems)
    assert any("spec.replicas" in p and "integer" in p for p in problems)
    assert any("containers[0].img: unknown field" in p for p in problems)

    bad_ops = [
        {"op": "replace", "path": "/spec/replica", "value": 2},
        {"op": "frobnicate", "path": "/spec"},
    ]
    problems = validate_request(
        SPEC, "PATCH", deployment, {}, "application/json-patch+json", bad_ops
    )
    assert len(problems) == 2 and "'replica' is not a known field" in problems[0]

    # What the API accepts passes: int-or-string, quantities as numbers, nulls, directives.
    fine = _deployment("web")
    fine["spec"]["strategy"] = {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}}
    fine["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "limits": {"cpu": 1, "memory": "1Gi"}
    }
    fine["metadata"]["annotations"] = None
    assert (
        validate_request(SPEC, "POST", "/apis/apps/v1/namespaces/prod/deployments", {}, None, fine)
        == []
    )
    directive = {
        "spec": {"template": {"spec": {"containers": [{"name": "x", "$patch": "delete"}]}}}
    }
    assert (
        validate_request(
            SPEC, "PATCH", deployment, {}, "application/strategic-merge-patch+json", directive
        )
        == []
    )
