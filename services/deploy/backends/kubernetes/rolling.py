"""Rolling updates of one Deployment: set the image, wait like `kubectl rollout status`, undo like
`kubectl rollout undo`.

The rules follow kubectl (k8s.io/kubectl pkg/polymorphichelpers):

* rollout status (``DeploymentStatusViewer.Status``): until
  ``metadata.generation <= status.observedGeneration`` the controller has not seen the
  change yet: waiting. Then a ``Progressing`` condition with reason
  ``ProgressDeadlineExceeded`` is a failure; ``updatedReplicas < spec.replicas``,
  ``replicas > updatedReplicas`` (old replicas pending termination) and
  ``availableReplicas < updatedReplicas`` are waiting; anything else is done.
* rollout undo (``DeploymentRollbacker.Rollback``): refuse a paused Deployment; pick the
  ReplicaSet of the previous revision (or of the requested one); skip when its pod template
  already equals the Deployment's (ignoring ``pod-template-hash``); otherwise send one JSON
  patch replacing ``/spec/template`` with the ReplicaSet's template minus the hash label, and
  ``/metadata/annotations`` with the Deployment's own revision bookkeeping annotations
  plus the ReplicaSet's other annotations.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from services.clock import Clock
from services.deploy.backend import AbortedError, AlreadyThereError, Progress, Running, ShouldAbort
from services.deploy.backends.kubernetes.settings import KubernetesTarget
from services.deploy.model import VERSION
from services.errors import DeployError
from services.kube.client import (
    POD_TEMPLATE_HASH,
    KubeClient,
    KubeError,
    KubeNotFoundError,
    Obj,
    revision_of,
)

Connect = Callable[[KubernetesTarget], AbstractContextManager[KubeClient]]

# An image repository without tag or digest: [registry[:port]/]path/components.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY = re.compile(rf"(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*")

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


# --------------------------------------------------------------------------- images


def split_image(image: str) -> tuple[str, str | None]:
    """``registry:5000/team/app:v1@sha256:…`` → (``registry:5000/team/app``, ``v1``)."""
    name = image.split("@", 1)[0]
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        return name[:colon], name[colon + 1 :]
    return name, None


def image_problems(repository: str, version: str) -> list[str]:
    problems = []
    if not VERSION.fullmatch(version):
        problems.append(
            f"{version!r} is not an image tag (letters, digits, '.', '_', '-'; at most 128)."
        )
    if not REPOSITORY.fullmatch(repository):
        problems.append(
            f"kubernetes.image {repository!r} is not an image repository without tag or digest"
            " (e.g. registry.example.com/team/payments)."
        )
    return problems


# --------------------------------------------------------------------------- objects


def where(kube_namespace: str, name: str) -> str:
    return f"Deployment {kube_namespace}/{name}"


def containers(obj: Mapping[str, Any]) -> list[Obj]:
    """The containers of a Deployment's or ReplicaSet's pod template."""
    template = (obj.get("spec") or {}).get("template") or {}
    found: list[Obj] = (template.get("spec") or {}).get("containers") or []
    return found


def image_of(obj: Mapping[str, Any], container: str) -> str | None:
    for item in containers(obj):
        if item.get("name") == container:
            image = item.get("image")
            return str(image) if image else None
    return None


def same_template(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Pod templates compared as kubectl does: ignoring the pod-template-hash label."""

    def canonical(template: Mapping[str, Any]) -> str:
        copied = copy.deepcopy(dict(template))
        labels = (copied.get("metadata") or {}).get("labels")
        if isinstance(labels, dict):
            labels.pop(POD_TEMPLATE_HASH, None)
        return json.dumps(copied, sort_keys=True)

    return canonical(a) == canonical(b)


def running(obj: Obj, target: KubernetesTarget, **extra: Any) -> Running:
    """What a Deployment runs, as the engine records it (`before`, reconciling)."""
    meta = obj["metadata"]
    image = image_of(obj, target.container)
    if image is None:
        names = ", ".join(c.get("name", "?") for c in containers(obj)) or "none"
        raise DeployError(
            f"{where(meta.get('namespace', target.namespace), meta['name'])} has no container"
            f" {target.container!r} (it has: {names}).",
            hint="Set kubernetes.container in the config to the application's container.",
            changed=False,
        )
    revision = revision_of(obj)
    _, tag = split_image(image)
    color = extra.pop("color", None)
    summary = f"{image} (revision {revision})" if revision else image
    return Running(
        summary=f"{color}: {summary}" if color else summary,
        version=tag,
        image=image,
        revision=str(revision) if revision else None,
        color=color,
        extra=extra,
    )


def deployment_problems(deployment: Obj, target: KubernetesTarget) -> list[str]:
    """Why this Deployment is not ready for a new rollout ([] when it is)."""
    meta, spec = deployment["metadata"], deployment.get("spec") or {}
    label = where(meta.get("namespace", target.namespace), meta["name"])
    problems = []
    if spec.get("paused"):
        problems.append(
            f"{label} is paused: resume it first"
            f" (kubectl -n {target.namespace} rollout resume deployment/{meta['name']})."
        )
    else:
        status = rollout_status(deployment)
        if not status.done and not status.failed:
            problems.append(f"a rollout of {label} is in progress: {status.message}")
    image = image_of(deployment, target.container)
    if image is None:
        names = ", ".join(c.get("name", "?") for c in containers(deployment)) or "none"
        problems.append(
            f"{label} has no container {target.container!r} (it has: {names}); check kubernetes.container."
        )
    elif split_image(image)[0] != target.image:
        problems.append(
            f"{label} runs {image}, which is not from the configured repository {target.image}:"
            " check kubernetes.image in the config."
        )
    return problems


# --------------------------------------------------------------------------- rollout status


@dataclass(frozen=True)
class RolloutStatus:
    done: bool
    failed: bool
    message: str


def rollout_status(deployment: Mapping[str, Any]) -> RolloutStatus:
    """`kubectl rollout status` for one Deployment, from its spec and status."""
    meta = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    name = meta.get("name", "?")
    if int(meta.get("generation") or 0) > int(status.get("observedGeneration") or 0):
        return RolloutStatus(False, False, "waiting for the deployment spec update to be observed")
    progressing = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Progressing"), None
    )
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        message = str(progressing.get("message") or "").rstrip(".")
        detail = f" ({message})" if message else ""
        return RolloutStatus(
            False, True, f'deployment "{name}" exceeded its progress deadline{detail}'
        )
    replicas = spec.get("replicas")
    total = int(status.get("replicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if replicas is not None and updated < int(replicas):
        return RolloutStatus(
            False, False, f"{updated} out of {replicas} new replicas have been updated"
        )
    if total > updated:
        return RolloutStatus(
            False, False, f"{total - updated} old replicas are pending termination"
        )
    if available < updated:
        return RolloutStatus(
            False, False, f"{available} of {updated} updated replicas are available"
        )
    return RolloutStatus(True, False, f'deployment "{name}" successfully rolled out')


def pod_trouble(kube: KubeClient, deployment: Obj, image: str | None) -> str:
    """Why the new pods are not ready, from the pods themselves (best effort, '' if unknown)."""
    selector = (deployment.get("spec") or {}).get("selector") or {}
    try:
        pods = kube.pods(selector)
    except KubeError:
        return ""
    reasons: list[str] = []
    for pod in pods:
        images = {c.get("image") for c in (pod.get("spec") or {}).get("containers") or []}
        if image and image not in images:
            continue
        status = pod.get("status") or {}
        for state in status.get("containerStatuses") or []:
            waiting = (state.get("state") or {}).get("waiting") or {}
            if waiting.get("reason"):
                text = f"{waiting['reason']}: {waiting.get('message', '')}".rstrip(": .")
                if state.get("restartCount"):
                    text += f" ({state['restartCount']} restarts)"
                reasons.append(text)
        if status.get("phase") == "Pending":
            for cond in status.get("conditions") or []:
                if cond.get("status") == "False" and cond.get("message"):
                    reasons.append(f"Pending: {str(cond['message']).rstrip('.')}")
    unique = list(dict.fromkeys(reasons))[:3]
    return (" Pods: " + "; ".join(unique) + ".") if unique else ""


def wait_for_rollout(
    kube: KubeClient,
    name: str,
    *,
    target: KubernetesTarget,
    clock: Clock,
    progress: Progress,
    should_abort: ShouldAbort,
    image: str | None = None,
) -> Obj:
    """Poll the Deployment until its rollout is done; called after a write, so every
    error raised here says the target changed."""
    label = where(kube.namespace, name)
    deadline = clock.now() + timedelta(seconds=target.rollout_timeout_seconds)
    said = ""
    last = "not read yet"
    hint = (
        f"See kubectl -n {kube.namespace} describe deployment/{name}"
        f" and kubectl -n {kube.namespace} get pods."
    )
    while True:
        if should_abort():
            raise AbortedError(f"Rollback requested while waiting for the rollout of {label}.")
        deployment: Obj | None = None
        try:
            deployment = kube.get_deployment(name)
        except KubeError as exc:
            if not exc.retryable:
                exc.changed = True
                raise
            last = exc.message
            progress(f"{exc.message} (retrying)")
        else:
            status = rollout_status(deployment)
            last = status.message
            if status.message != said:
                progress(status.message)
                said = status.message
            if status.failed:
                raise DeployError(
                    f"The rollout of {label} failed: {status.message}."
                    + pod_trouble(kube, deployment, image),
                    hint=hint,
                )
            if status.done:
                return deployment
        if clock.now() >= deadline:
            trouble = pod_trouble(kube, deployment, image) if deployment is not None else ""
            raise DeployError(
                f"The rollout of {label} did not finish within"
                f" {target.rollout_timeout_seconds:g} s: {last}." + trouble,
                hint=hint,
            )
        clock.sleep(target.poll_interval_seconds)


def refuse_paused(deployment: Obj, *, doing: str) -> None:
    meta = deployment["metadata"]
    if (deployment.get("spec") or {}).get("paused"):
        raise DeployError(
            f"You cannot {doing} a paused Deployment ({where(meta['namespace'], meta['name'])}).",
            hint=f"Resume it first: kubectl -n {meta['namespace']} rollout resume deployment/{meta['name']}",
            changed=False,
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

    def validate(self, version: str) -> list[str]:
        problems = image_problems(self.target.image, version)
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

        def available() -> str:
            return ", ".join(
                f"{split_image(image_of(rs, container) or '?')[1] or '?'} (revision {revision_of(rs)}"
                + (", current)" if revision_of(rs) == current else ")")
                for rs in reversed(sets)
            )

        if to_version is not None:
            matches = [
                rs for rs in sets if split_image(image_of(rs, container) or "")[1] == to_version
            ]
            if not matches:
                raise DeployError(
                    f"No revision of {self.label} ran version {to_version}."
                    f" Available: {available() or 'none'}.",
                    hint=f"Deploy {to_version} with /hotfix deploy, or roll back to one of those.",
                    changed=False,
                )
            return matches[-1]
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
