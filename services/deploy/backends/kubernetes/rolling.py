"""Rolling updates of one Deployment: set the image, wait like `kubectl rollout status`, undo like
`kubectl rollout undo`.

The rules follow kubectl (k8s.io/kubectl pkg/polymorphichelpers); rollout status is in
`rollout`, rollout undo here:

* rollout undo (``DeploymentRollbacker.Rollback``): refuse a paused Deployment; pick the
  ReplicaSet of the previous revision (or of the requested one); skip when its pod template
  already equals the Deployment's (ignoring ``pod-template-hash``); otherwise send one JSON
  patch replacing ``/spec/template`` with the ReplicaSet's template minus the hash label, and
  ``/metadata/annotations`` with the Deployment's own revision bookkeeping annotations
  plus the ReplicaSet's other annotations.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from services.clock import Clock
from services.deploy.backend import AbortedError, AlreadyThereError, Progress, Running, ShouldAbort
from services.deploy.backends.kubernetes.rollout import (
    consistency,
    deployment_problems,
    refuse_paused,
    running,
    wait_for_rollout,
    where,
)
from services.deploy.backends.kubernetes.settings import KubernetesTarget
from services.errors import DeployError
from services.kube.client import (
    POD_TEMPLATE_HASH,
    KubeClient,
    KubeError,
    KubeNotFoundError,
    Obj,
    revision_of,
)
from services.kube.images import (
    image_of,
    image_problems,
    same_template,
    split_image,
)
from services.kube.revisions import that_ran

Connect = Callable[[KubernetesTarget], AbstractContextManager[KubeClient]]

# Annotations `kubectl rollout undo` keeps from the Deployment instead of copying from the ReplicaSet.
UNDO_KEEPS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        "deployment.kubernetes.io/revision",
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)


# --------------------------------------------------------------------------- the backend


class RollingBackend:
    """One Deployment updated in place.

    `kind` is the deployment's kind. `rollback(to_version=None)` is `kubectl rollout undo`
    (the previous revision); when undoing a *deploy* it aims at what ran `before` it: nothing
    to do when that still runs, and the newest ReplicaSet with that image if the previous
    revision is something else.
    """

    def __init__(
        self,
        target: KubernetesTarget,
        *,
        clock: Clock,
        kind: str = "deploy",
        connect: Connect = KubeClient.connect,
    ) -> None:
        self.target = target
        self.clock = clock
        self.kind = kind
        self.connect = connect

    @property
    def label(self) -> str:
        return where(self.target.namespace, self.target.deployment)

    def current(self) -> Running:
        with self.connect(self.target) as kube:
            return running(kube.get_deployment(self.target.deployment), self.target)

    def consistency(self) -> list[str]:
        try:
            with self.connect(self.target) as kube:
                return consistency(kube, self.target, self.target.deployment)
        except KubeError as exc:
            return [exc.message]

    def validate(self, version: str) -> list[str]:
        problems = image_problems(self.target.image, version, setting="kubernetes.image")
        try:
            with self.connect(self.target) as kube:
                deployment = kube.get_deployment(self.target.deployment)
        except KubeNotFoundError:
            return [
                *problems,
                f"{self.label} does not exist: check kubernetes.namespace and kubernetes.deployment.",
            ]
        except KubeError as exc:
            return [*problems, exc.message]
        return problems + deployment_problems(deployment, self.target)

    def deploy(
        self, version: str, *, progress: Progress, should_abort: ShouldAbort
    ) -> dict[str, Any]:
        image = f"{self.target.image}:{version}"
        name = self.target.deployment
        with self.connect(self.target) as kube:
            before = kube.get_deployment(name)
            refuse_paused(before, doing="deploy to")
            old_image = image_of(before, self.target.container)
            if old_image is None:
                running(before, self.target)  # raises: no such container
            if should_abort():
                raise AbortedError("Rollback requested before anything was changed.", changed=False)
            progress(f"setting {self.target.container} of {self.label} to {image}")
            kube.set_image(name, self.target.container, image)
            done = wait_for_rollout(
                kube,
                name,
                target=self.target,
                clock=self.clock,
                progress=progress,
                should_abort=should_abort,
                image=image,
            )
        revision = revision_of(done)
        return {
            "summary": f"{image} rolled out (revision {revision})",
            "strategy": "rolling",
            "namespace": self.target.namespace,
            "deployment": name,
            "image": image,
            "version": version,
            "revision": str(revision),
            "previous_image": old_image,
            "previous_revision": str(revision_of(before)),
        }

    def rollback(
        self,
        *,
        to_version: str | None,
        before: dict[str, Any],
        progress: Progress,
        should_abort: ShouldAbort,
    ) -> dict[str, Any]:
        name = self.target.deployment
        with self.connect(self.target) as kube:
            deployment = kube.get_deployment(name)
            refuse_paused(deployment, doing="roll back")
            sets = kube.replica_sets(deployment)
            current = revision_of(deployment) or max((revision_of(rs) for rs in sets), default=0)
            now_image = image_of(deployment, self.target.container)
            before_image = before.get("image")
            if (
                to_version is None
                and self.kind == "deploy"
                and before_image
                and before_image == now_image
            ):
                # Undoing a deployment that never changed the template (a refused or lost
                # write, or the same image again): what ran before still runs.
                progress(f"{self.label} still runs {now_image}, as before: nothing to undo")
                return {
                    "summary": f"nothing to undo: {now_image} (revision {current}) still runs,"
                    " as before the deployment",
                    "strategy": "rolling",
                    "changed": False,
                    "image": now_image,
                    "version": split_image(now_image or "")[1],
                    "revision": str(current),
                }
            chosen = self._choose(deployment, sets, current, to_version, before, progress)
            chosen_revision = revision_of(chosen)
            image = image_of(chosen, self.target.container) or "?"
            if same_template(chosen["spec"]["template"], deployment["spec"]["template"]):
                raise AlreadyThereError(
                    f"{self.label}: skipped rollback (current template already matches"
                    f" revision {chosen_revision}, {image}); nothing was changed.",
                    hint="Pick another version with /hotfix rollback --version=…, or deploy one.",
                )
            template = copy.deepcopy(chosen["spec"]["template"])
            labels = (template.get("metadata") or {}).get("labels")
            if isinstance(labels, dict):
                labels.pop(POD_TEMPLATE_HASH, None)
            own = deployment["metadata"].get("annotations") or {}
            annotations = {k: v for k, v in own.items() if k in UNDO_KEEPS}
            annotations.update(
                {
                    k: v
                    for k, v in (chosen["metadata"].get("annotations") or {}).items()
                    if k not in UNDO_KEEPS
                }
            )
            progress(f"rolling {self.label} back to revision {chosen_revision} ({image})")
            kube.restore_template(
                name,
                template,
                annotations,
                had_annotations="annotations" in deployment["metadata"],
            )
            done = wait_for_rollout(
                kube,
                name,
                target=self.target,
                clock=self.clock,
                progress=progress,
                should_abort=should_abort,
                image=image,
            )
        revision = revision_of(done)
        return {
            "summary": f"back on {image}: revision {chosen_revision} restored as revision {revision}",
            "strategy": "rolling",
            "image": image,
            "version": split_image(image)[1],
            "from_revision": str(current),
            "restored_revision": str(chosen_revision),
            "revision": str(revision),
        }

    def _choose(
        self,
        deployment: Obj,
        sets: list[Obj],
        current: int,
        to_version: str | None,
        before: Mapping[str, Any],
        progress: Progress,
    ) -> Obj:
        container = self.target.container
        if to_version is not None:
            return that_ran(sets, container, to_version, label=self.label, current=current)
        before_image = before.get("image") if self.kind == "deploy" else None
        older = [rs for rs in sets if revision_of(rs) < current]
        if not older:
            raise DeployError(
                f"{self.label} has no earlier revision to roll back to (no rollout history).",
                hint="Deploy the version you want with /hotfix deploy.",
                changed=False,
            )
        chosen = older[-1]
        if before_image and image_of(chosen, container) != before_image:
            same = [
                rs
                for rs in sets
                if image_of(rs, container) == before_image and revision_of(rs) != current
            ]
            if same:
                progress(
                    f"revision {revision_of(chosen)} is not what ran before; using revision"
                    f" {revision_of(same[-1])} ({before_image})"
                )
                chosen = same[-1]
        return chosen
