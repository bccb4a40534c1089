"""A Deployment's rollout, with kubectl's rules (k8s.io/kubectl pkg/polymorphichelpers):
what it runs, whether it is ready for a new rollout, and waiting like `kubectl rollout status`.

rollout status (``DeploymentStatusViewer.Status``): until
``metadata.generation <= status.observedGeneration`` the controller has not seen the
change yet: waiting. Then a ``Progressing`` condition with reason
``ProgressDeadlineExceeded`` is a failure; ``updatedReplicas < spec.replicas``,
``replicas > updatedReplicas`` (old replicas pending termination) and
``availableReplicas < updatedReplicas`` are waiting; anything else is done.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from services.clock import Clock
from services.deploy.backend import AbortedError, Progress, Running, ShouldAbort
from services.deploy.backends.kubernetes.settings import KubernetesTarget
from services.errors import DeployError
from services.kube.client import KubeClient, KubeError, KubeNotFoundError, Obj, revision_of
from services.kube.images import containers, image_of, split_image
from services.kube.objects import unready


def where(kube_namespace: str, name: str) -> str:
    return f"Deployment {kube_namespace}/{name}"


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
    return problems + image_problems_of(deployment, target, label)


def image_problems_of(deployment: Obj, target: KubernetesTarget, label: str) -> list[str]:
    """The configured container missing, or running an image from another repository."""
    image = image_of(deployment, target.container)
    if image is None:
        names = ", ".join(c.get("name", "?") for c in containers(deployment)) or "none"
        return [
            f"{label} has no container {target.container!r} (it has: {names}); check kubernetes.container."
        ]
    if split_image(image)[0] != target.image:
        return [
            f"{label} runs {image}, which is not from the configured repository {target.image}:"
            " check kubernetes.image in the config."
        ]
    return []


def consistency(kube: KubeClient, target: KubernetesTarget, name: str) -> list[str]:
    """/hotfix validate's configuration check of one Deployment: it exists, runs the
    configured container from the configured repository, and every desired replica is ready."""
    label = where(target.namespace, name)
    try:
        deployment = kube.get_deployment(name)
    except KubeNotFoundError:
        return [f"{label} does not exist: check kubernetes.namespace and kubernetes.deployment."]
    return image_problems_of(deployment, target, label) + unready(deployment, label)


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
