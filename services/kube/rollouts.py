"""Argo Rollouts' `Rollout` custom resource (argoproj.io/v1alpha1), through the one client.

The writes are the ones the `kubectl argo rollouts` plugin sends (pkg/kubectl-argo-rollouts/
cmd/{promote,abort,retry,pause,undo}): merge patches of ``spec`` (pause, unpause) and of the
``/status`` subresource (promote, abort, retry), and undo's JSON patch replacing
``/spec/template``. Setting the image is a JSON patch that first tests the container's name,
so a template rewritten by someone else since it was read makes the patch fail (422) instead
of setting the image of another container.
"""

from __future__ import annotations

from typing import Any

from services.kube.client import (
    FIELD_MANAGER,
    JSON_PATCH,
    MERGE_PATCH,
    KubeClient,
    Obj,
    label_selector,
)

GROUP = "argoproj.io"
VERSION = "v1alpha1"
PLURAL = "rollouts"
REVISION = "rollout.argoproj.io/revision"
POD_TEMPLATE_HASH = "rollouts-pod-template-hash"


def revision_of(obj: Obj) -> int:
    """A Rollout's or its ReplicaSet's ``rollout.argoproj.io/revision`` (0 if none)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    try:
        return int(annotations.get(REVISION, "0"))
    except ValueError:
        return 0


class Rollouts:
    """Typed calls on the Rollouts of the client's namespace."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.namespace = kube.namespace

    def where(self, name: str) -> str:
        return f"Rollout {self.namespace}/{name}"

    def get(self, name: str) -> Obj:
        result: Obj = self.kube._call(
            f"read {self.where(name)}",
            self.kube.custom.get_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            name,
            rbac=f'"get" on {PLURAL}.{GROUP}',
        )
        return result

    def _patch(self, what: str, name: str, body: Any, *, content_type: str) -> Obj:
        result: Obj = self.kube._call(
            f"{what} {self.where(name)}",
            self.kube.custom.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            name,
            body,
            field_manager=FIELD_MANAGER,
            write=True,
            _content_type=content_type,
            rbac=f'"patch" on {PLURAL}.{GROUP}',
        )
        return result

    def _patch_status(self, what: str, name: str, status: Obj) -> Obj:
        result: Obj = self.kube._call(
            f"{what} {self.where(name)}",
            self.kube.custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            name,
            {"status": status},
            field_manager=FIELD_MANAGER,
            write=True,
            _content_type=MERGE_PATCH,
            rbac=f'"patch" on {PLURAL}.{GROUP}/status',
        )
        return result

    def set_image(self, name: str, index: int, container: str, image: str) -> Obj:
        path = f"/spec/template/spec/containers/{index}"
        ops = [
            {"op": "test", "path": f"{path}/name", "value": container},
            {"op": "replace", "path": f"{path}/image", "value": image},
        ]
        return self._patch(f"set the image of {container} in", name, ops, content_type=JSON_PATCH)

    def restore_template(self, name: str, template: Obj) -> Obj:
        """`kubectl argo rollouts undo`: the ReplicaSet's pod template back into the Rollout."""
        ops = [{"op": "replace", "path": "/spec/template", "value": template}]
        return self._patch("restore the pod template of", name, ops, content_type=JSON_PATCH)

    def pause(self, name: str) -> Obj:
        """`kubectl argo rollouts pause`."""
        return self._patch("pause", name, {"spec": {"paused": True}}, content_type=MERGE_PATCH)

    def unpause(self, name: str) -> Obj:
        """The spec half of `kubectl argo rollouts promote` on a manually paused Rollout."""
        return self._patch("resume", name, {"spec": {"paused": False}}, content_type=MERGE_PATCH)

    def clear_pause_conditions(self, name: str) -> Obj:
        """`kubectl argo rollouts promote` at a pause step: the next step goes."""
        return self._patch_status("promote", name, {"pauseConditions": None})

    def promote_past_step(self, name: str, next_index: int) -> Obj:
        """`kubectl argo rollouts promote` after an inconclusive step analysis: the step is
        done, the controller's pause is lifted."""
        status = {"pauseConditions": None, "controllerPause": False, "currentStepIndex": next_index}
        return self._patch_status("promote", name, status)

    def promote_full(self, name: str) -> Obj:
        """`kubectl argo rollouts promote --full`: skip the remaining steps and analysis."""
        return self._patch_status("fully promote", name, {"promoteFull": True})

    def abort(self, name: str) -> Obj:
        """`kubectl argo rollouts abort`: traffic and replicas back to the stable ReplicaSet."""
        return self._patch_status("abort", name, {"abort": True})

    def retry(self, name: str) -> Obj:
        """`kubectl argo rollouts retry rollout`: an aborted update starts again."""
        return self._patch_status("retry", name, {"abort": False})

    def replica_sets(self, rollout: Obj) -> list[Obj]:
        """The ReplicaSets this Rollout controls (its selector, its uid), oldest revision first."""
        meta = rollout["metadata"]
        listing = self.kube._call(
            f"list the ReplicaSets of {self.where(meta['name'])}",
            self.kube.apps.list_namespaced_replica_set,
            self.namespace,
            label_selector=label_selector((rollout.get("spec") or {}).get("selector") or {}),
            rbac='"list" on replicasets.apps',
        )
        owned = [
            rs
            for rs in listing.get("items") or []
            if any(
                ref.get("uid") == meta.get("uid") and ref.get("controller")
                for ref in (rs.get("metadata") or {}).get("ownerReferences") or []
            )
        ]
        return sorted(owned, key=lambda rs: (revision_of(rs), rs["metadata"]["name"]))
